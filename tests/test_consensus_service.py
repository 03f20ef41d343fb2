"""Consensus at the service level, on responses written straight into the database."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from app.domain import InvalidInput, NotFound
from app.extensions import db
from app.services import consensus as consensus_service
from app.services.accounts import create_key
from app.services.consensus import consensus, consensus_page, counted_votes
from tests.helpers.crowd import add_hitblock, add_item, add_response, synthetic_crowd


def accuracy(results, truth) -> float:
    answers = {r.item_id: r.answer["label"] for r in results}
    return sum(answers[item_id] == label for item_id, label in truth.items()) / len(truth)


def test_dawid_skene_beats_majority_vote_when_a_third_of_the_crowd_is_unreliable(
    session, account_id
):
    pytest.importorskip("crowdkit", reason="the consensus extra is not installed")
    hitblock = add_hitblock(session, account_id)
    crowd = synthetic_crowd(session, hitblock)  # 60 items x 5 of 15 workers, 5 adversarial
    majority = consensus(session, account_id, hitblock.id, "majority_vote")
    learned = consensus(session, account_id, hitblock.id, "dawid_skene")
    assert len(majority) == len(learned) == 60
    assert all(r.responses == 5 for r in learned)
    mv, ds = accuracy(majority, crowd.truth), accuracy(learned, crowd.truth)
    # Fixed seed: these are the figures of this crowd (MV 0.78, DS 0.98), not a chance.
    assert ds > mv + 0.1, (ds, mv)
    assert ds >= 0.95
    assert all(0 < r.confidence["label"] <= 1 for r in learned)


@pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
def test_our_majority_vote_agrees_with_crowd_kits(session, account_id):
    aggregation = pytest.importorskip("crowdkit.aggregation")
    pd = pytest.importorskip("pandas")
    hitblock = add_hitblock(session, account_id)
    synthetic_crowd(session, hitblock, seed=3)
    ours = {r.item_id: r for r in consensus(session, account_id, hitblock.id, "majority_vote")}
    votes = counted_votes(session, hitblock.id)
    frame = pd.DataFrame(
        [(v.item_id, v.worker_id, v.data["label"]) for v in votes],
        columns=["task", "worker", "label"],
    )
    theirs = aggregation.MajorityVote().fit(frame)
    probas = theirs.probas_
    compared = 0
    for item_id, row in probas.iterrows():
        top = row.max()
        assert ours[item_id].confidence["label"] == pytest.approx(top, abs=1e-4)
        if (row == top).sum() == 1:  # ties are broken differently (ours: first received)
            assert ours[item_id].answer["label"] == theirs.labels_[item_id]
            compared += 1
    assert compared >= 40


def test_which_answers_count_and_how_ties_break(session, account_id):
    hitblock = add_hitblock(session, account_id)
    item = add_item(session, hitblock)
    add_response(session, item, "A1", {"label": "Dog ", "note": "first"})
    add_response(session, item, "A2", {"label": "cat"})
    add_response(session, item, "A3", {"label": "cat"}, status="rejected")  # does not count
    add_response(session, item, "A4", {"label": "cat"}, flagged=True)  # failed the gold policy
    add_response(session, item, "A5", {"label": "dog"}, status="approved")
    [result] = consensus(session, account_id, hitblock.id, "majority_vote")
    assert result.responses == 3
    assert result.answer == {"label": "Dog ", "note": "first"}  # "Dog " and "dog" are one
    assert result.confidence == {"label": pytest.approx(2 / 3, abs=1e-4), "note": 1.0}

    tie = add_item(session, hitblock)
    add_response(session, tie, "A1", {"label": "bird"})
    add_response(session, tie, "A2", {"label": "cat"})
    results = {r.item_id: r for r in consensus(session, account_id, hitblock.id)}
    assert results[tie.id].answer == {"label": "bird"}  # the first received wins a tie
    assert results[tie.id].confidence == {"label": 0.5}


def test_items_without_counted_answers_are_left_out_and_multi_values_compare_whole(
    session, account_id
):
    hitblock = add_hitblock(session, account_id)
    add_item(session, hitblock)  # no responses yet
    item = add_item(session, hitblock)
    add_response(session, item, "A1", {"tags": ["b", "a"]})
    add_response(session, item, "A2", {"tags": ["b", "a"]})
    add_response(session, item, "A3", {"tags": ["a"]})
    [result] = consensus(session, account_id, hitblock.id)
    assert result.item_id == item.id
    assert result.answer == {"tags": ["b", "a"]}


def test_missing_extra_is_a_clear_refusal(session, account_id, monkeypatch):
    hitblock = add_hitblock(session, account_id)
    monkeypatch.setattr(consensus_service, "_crowdkit", lambda: None)
    monkeypatch.setattr(consensus_service.importlib.util, "find_spec", lambda name: None)
    assert consensus_service.available_methods() == ["majority_vote"]
    with pytest.raises(InvalidInput) as refused:
        consensus(session, account_id, hitblock.id, "dawid_skene")
    assert refused.value.code == "consensus_extra_missing"
    assert "hitblocks[consensus]" in refused.value.message
    assert consensus(session, account_id, hitblock.id, "majority_vote") == []


def test_another_accounts_hitblock_is_missing(session, account_id):
    hitblock = add_hitblock(session, account_id)
    other = create_key(session, "globex").account_id
    with pytest.raises(NotFound):
        consensus(session, other, hitblock.id, "majority_vote")


def test_pages_go_newest_item_first_with_cursors(session, account_id):
    hitblock = add_hitblock(session, account_id)
    items = [add_item(session, hitblock) for _ in range(5)]
    for item in items:
        add_response(session, item, "A1", {"label": "cat"})
    ids = [item.id for item in reversed(items)]
    first = consensus_page(session, account_id, hitblock.id, "majority_vote", {"limit": 2})
    assert [r.item_id for r in first.data] == ids[:2] and first.has_more
    args = {"limit": 2, "starting_after": ids[1]}
    second = consensus_page(session, account_id, hitblock.id, "majority_vote", args)
    assert [r.item_id for r in second.data] == ids[2:4] and second.has_more
    args = {"limit": 10, "ending_before": ids[2]}
    before = consensus_page(session, account_id, hitblock.id, "majority_vote", args)
    assert [r.item_id for r in before.data] == ids[:2] and not before.has_more


def test_a_bounded_number_of_statements(session, account_id):
    hitblock = add_hitblock(session, account_id)
    synthetic_crowd(session, hitblock, items=30)
    hitblock_id = hitblock.id
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        consensus(session, account_id, hitblock_id, "majority_vote")
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(seen) == 2, [s[:60] for s in seen]  # the hitblock, the votes


def test_dawid_skene_may_answer_what_no_worker_of_the_item_gave(session, account_id, monkeypatch):
    """When every worker of an item is known to be wrong, Dawid-Skene can pick an answer
    none of them gave; it is shown as spelled on another item."""
    pd = pytest.importorskip("pandas")
    hitblock = add_hitblock(session, account_id)
    first, second = add_item(session, hitblock), add_item(session, hitblock)
    add_response(session, first, "A1", {"label": "Cat"})
    add_response(session, second, "A2", {"label": "dog"})

    class Learned:
        def __init__(self, n_iter):
            pass

        def fit_predict_proba(self, frame):
            return pd.DataFrame(
                [[0.9, 0.1], [0.8, 0.2]], index=[first.id, second.id], columns=["cat", "dog"]
            )

    monkeypatch.setattr(consensus_service, "_crowdkit", lambda: (pd, Learned))
    results = consensus(session, account_id, hitblock.id, "dawid_skene")
    assert [(r.answer, r.confidence) for r in results] == [
        ({"label": "Cat"}, {"label": 0.9}),
        ({"label": "Cat"}, {"label": 0.8}),
    ]
