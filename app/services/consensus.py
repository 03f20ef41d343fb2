"""Consensus: each item's aggregate answer, per answer field, from its workers' responses.

Which answers count: approved and submitted ones, not rejected (a reviewer judged them
wrong or spam), and not submitted work flagged by the gold policy (its worker failed the
hitblock's gold items; it counts again once a reviewer approves it).

- ``majority_vote`` needs nothing beyond the standard library: the most frequent answer,
  its confidence the share of the item's answers to that field that gave it. Answers
  compare as gold does (strings stripped and casefolded); the answer shown is the first
  spelling received. A tie goes to the answer that arrived first (lowest response id), and
  the confidence shows it (0.5 for a 1-1 tie).
- ``dawid_skene`` (Dawid & Skene, 1979) learns each worker's confusion matrix from the
  data, through Toloka's crowd-kit (``pip install 'hitblocks[consensus]'``); confidence is
  the posterior probability of the answer. It is meant for categorical answers (labels).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select

from app.domain import InvalidInput
from app.models import Item, Response
from app.pagination import Page
from app.services import DbSession
from app.services.gold import normalise
from app.services.hitblocks import find_hitblock


def _crowdkit() -> tuple[Any, Any] | None:
    """pandas and crowd-kit's DawidSkene, or None without the optional extra (majority vote
    still works). Imported on first use, not with this module: importing crowd-kit takes
    1.3 to 4 seconds (pandas, scikit-learn, transformers), which every API process would
    pay at start-up, Dawid-Skene asked for or not."""
    try:
        pandas = importlib.import_module("pandas")
        aggregation = importlib.import_module("crowdkit.aggregation")
    except ImportError:
        return None
    return pandas, aggregation.DawidSkene


METHODS = ("majority_vote", "dawid_skene")
DAWID_SKENE_ITERATIONS = 100


@dataclass(frozen=True)
class ItemConsensus:
    item_id: int
    answer: dict[str, Any]
    confidence: dict[str, float]
    responses: int
    object: str = "item_consensus"


@dataclass(frozen=True)
class Vote:
    response_id: int
    item_id: int
    worker_id: str
    data: dict[str, Any]


@dataclass
class AnswerField:
    """One answer field's votes: (item, worker, key) rows and each key's first spelling."""

    rows: list[tuple[int, str, str]] = field(default_factory=list)
    shown: dict[tuple[int, str], Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)  # each key's first spelling anywhere


def available_methods() -> list[str]:
    """The methods this installation has (crowd-kit is looked for, not imported)."""
    installed = importlib.util.find_spec("crowdkit") is not None
    return [m for m in METHODS if m != "dawid_skene" or installed]


def counted_votes(session: DbSession, hitblock_id: int) -> list[Vote]:
    """The answers that count, oldest first, in one statement."""
    rows = session.execute(
        select(Response.id, Response.item_id, Response.worker_id, Response.data)
        .join(Item, Item.id == Response.item_id)
        .where(
            Item.hitblock_id == hitblock_id,
            Item.status != "deleted",
            or_(
                Response.status == "approved",
                (Response.status == "submitted") & Response.flagged.is_(False),
            ),
        )
        .order_by(Response.id)
    )
    return [Vote(*row) for row in rows]


def _key(value: Any) -> str:
    """An answer as a comparable string (the same normalisation gold uses)."""
    normal = normalise(value)
    return normal if isinstance(normal, str) else json.dumps(normal, sort_keys=True)


def answer_fields(votes: list[Vote]) -> dict[str, AnswerField]:
    """The votes by answer field; an unanswered field is no vote."""
    fields: dict[str, AnswerField] = defaultdict(AnswerField)
    for vote in votes:
        for name, value in (vote.data or {}).items():
            if value is None or value == "" or value == []:
                continue
            key = _key(value)
            fields[name].rows.append((vote.item_id, vote.worker_id, key))
            fields[name].shown.setdefault((vote.item_id, key), value)
            fields[name].labels.setdefault(key, value)
    return fields


def majority(fields: dict[str, AnswerField]) -> dict[tuple[int, str], tuple[str, float]]:
    """(item, field) -> (winning answer key, its share of the votes). ``Counter`` keeps
    first-seen order, so ``most_common`` gives a tie to the answer received first."""
    keys: dict[tuple[int, str], list[str]] = defaultdict(list)
    for name, answers in fields.items():
        for item_id, _, key in answers.rows:
            keys[(item_id, name)].append(key)
    winners = {}
    for where, given in keys.items():
        key, count = Counter(given).most_common(1)[0]
        winners[where] = (key, round(count / len(given), 4))
    return winners


def majority_vote(votes: list[Vote]) -> dict[int, ItemConsensus]:
    fields = answer_fields(votes)
    per_item: dict[int, dict[str, Any]] = defaultdict(dict)
    confidence: dict[int, dict[str, float]] = defaultdict(dict)
    for (item_id, name), (key, share) in majority(fields).items():
        per_item[item_id][name] = fields[name].shown[(item_id, key)]
        confidence[item_id][name] = share
    return _results(votes, per_item, confidence)


def dawid_skene(votes: list[Vote]) -> dict[int, ItemConsensus]:
    """crowd-kit's DawidSkene per answer field, over the whole hitblock (worker reliability
    is learned from all of its items)."""
    crowdkit = _crowdkit()
    if crowdkit is None:
        raise InvalidInput(
            "dawid_skene needs the optional consensus extra: pip install 'hitblocks[consensus]'. "
            "majority_vote works without it.",
            param="method",
            code="consensus_extra_missing",
        )
    pd, DawidSkene = crowdkit  # noqa: N806 (the library's names)
    per_item: dict[int, dict[str, Any]] = defaultdict(dict)
    confidence: dict[int, dict[str, float]] = defaultdict(dict)
    for name, answers in answer_fields(votes).items():
        frame = pd.DataFrame(answers.rows, columns=["task", "worker", "label"])
        with warnings.catch_warnings():
            # crowd-kit 1.4 still uses pandas keywords that pandas 3.1 deprecates.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            probas = DawidSkene(n_iter=DAWID_SKENE_ITERATIONS).fit_predict_proba(frame)
        for item_id, row in probas.iterrows():
            key = str(row.idxmax())
            # Dawid-Skene may pick an answer no worker gave this item (all its workers are
            # known to be wrong): it is shown as spelled elsewhere.
            shown = answers.shown.get((int(item_id), key), answers.labels[key])
            per_item[int(item_id)][name] = shown
            confidence[int(item_id)][name] = round(float(row.max()), 4)
    return _results(votes, per_item, confidence)


def _results(
    votes: list[Vote], answers: dict[int, dict[str, Any]], confidence: dict[int, dict[str, float]]
) -> dict[int, ItemConsensus]:
    counts = Counter(vote.item_id for vote in votes)
    return {
        item_id: ItemConsensus(item_id, answers.get(item_id, {}), confidence.get(item_id, {}), n)
        for item_id, n in counts.items()
    }


def _aggregate(votes: list[Vote], method: str) -> dict[int, ItemConsensus]:
    if method == "majority_vote":
        return majority_vote(votes)
    if method == "dawid_skene":
        return dawid_skene(votes)
    raise InvalidInput(
        f"method must be one of {', '.join(METHODS)}.", param="method", code="invalid_method"
    )


def consensus(
    session: DbSession, account_id: int, hitblock_id: int, method: str = "majority_vote"
) -> list[ItemConsensus]:
    """Every item with counted answers, by id; items without any are left out."""
    find_hitblock(session, account_id, hitblock_id)
    results = _aggregate(counted_votes(session, hitblock_id), method)
    return [results[item_id] for item_id in sorted(results)]


def consensus_page(
    session: DbSession, account_id: int, hitblock_id: int, method: str, args: dict[str, Any]
) -> Page[ItemConsensus]:
    """A page of ``consensus`` newest item first, with Stripe's cursors over item ids. The
    whole hitblock is aggregated each time: Dawid-Skene learns from every item."""
    results = consensus(session, account_id, hitblock_id, method)
    limit = args["limit"]
    if args.get("ending_before") is not None:
        after = [r for r in results if r.item_id > args["ending_before"]]
        page = list(reversed(after[:limit]))
        return Page(page, len(after) > limit)
    newest = list(reversed(results))
    if args.get("starting_after") is not None:
        newest = [r for r in newest if r.item_id < args["starting_after"]]
    return Page(newest[:limit], len(newest) > limit)
