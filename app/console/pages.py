"""The console's pages: the hitblocks overview, a hitblock (figures, lifecycle buttons,
links to its review queue, workers and results), and the lifecycle actions."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app, flash, redirect, request, stream_with_context, url_for
from werkzeug.wrappers import Response

from app.console.site import blueprint, current_user, render_page, signed_in
from app.extensions import db
from app.gateway import mturk_gateway
from app.services import consensus, lifecycle, results, workers
from app.services.hitblocks import get_hitblock
from app.services.overview import MEANINGS, PARTS, figures, hitblock_figures
from app.services.users import ADMIN
from app.views import ID

ACTIONS = {
    "pause": (
        lifecycle.pause_hitblock,
        "Paused: its open HITs expired; work already accepted still comes in.",
    ),
    "resume": (lifecycle.resume_hitblock, "Resumed: its open HITs are back on MTurk."),
    "cancel": (
        lifecycle.cancel_hitblock,
        "Canceled: its open HITs expired for good; submitted work is kept and collected.",
    ),
}
# Items shown in the consensus table (the API pages through all of them).
CONSENSUS_SHOWN = 100
# What each status allows (the service refuses the rest anyway).
ALLOWED = {
    "unlaunched": ("cancel",),
    "in_progress": ("pause", "cancel"),
    "paused": ("resume", "cancel"),
}


@blueprint.get("/")
def _slash() -> Response:
    return redirect(url_for("console.overview"))


@blueprint.get("")
@signed_in()
def overview() -> Response:
    """Every hitblock of the account, with its progress, spend and incoming rate."""
    entries = figures(db.session, current_user().account_id)
    totals = {
        "awaiting_review": sum(e.awaiting_review for e in entries),
        "last_hour": sum(e.last_hour for e in entries),
        "last_day": sum(e.last_day for e in entries),
        "spent": sum((e.spent for e in entries), Decimal("0.00")),
    }
    return render_page(
        "console/overview.html", entries=entries, totals=totals, parts=PARTS, meanings=MEANINGS
    )


@blueprint.get(f"/hitblocks/<{ID}:hitblock_id>")
@signed_in()
def hitblock_page(hitblock_id: int) -> Response:
    account_id = current_user().account_id
    entry = hitblock_figures(db.session, account_id, hitblock_id)
    method, fallback = _method()
    agreed = consensus.consensus(db.session, account_id, hitblock_id, method)
    db.session.rollback()  # nothing written: end the read
    return render_page(
        "console/hitblock.html",
        entry=entry,
        actions=ALLOWED.get(entry.hitblock.status, ()),
        parts=PARTS,
        meanings=MEANINGS,
        results_link=url_for("console.download_results", hitblock_id=hitblock_id),
        consensus=agreed[:CONSENSUS_SHOWN],
        consensus_total=len(agreed),
        method=method,
        method_fallback=fallback,
        methods=consensus.available_methods(),
        all_methods=consensus.METHODS,
    )


@blueprint.get(f"/hitblocks/<{ID}:hitblock_id>/cancel")
@signed_in(ADMIN)
def confirm_cancel(hitblock_id: int) -> Response:
    """Cancel asks first: it cannot be undone."""
    entry = hitblock_figures(db.session, current_user().account_id, hitblock_id)
    return render_page("console/confirm_cancel.html", entry=entry)


@blueprint.post(f"/hitblocks/<{ID}:hitblock_id>/<any(pause, resume, cancel):action>")
@signed_in(ADMIN)
def change_hitblock(hitblock_id: int, action: str) -> Response:
    """Pause, resume or cancel, with their MTurk effects (``app.services.lifecycle``)."""
    change, done = ACTIONS[action]
    change(
        db.session,
        mturk_gateway(),
        current_user().account_id,
        hitblock_id,
        int(current_app.config["MTURK_CONCURRENCY"]),
    )
    flash(done)
    return redirect(url_for("console.hitblock_page", hitblock_id=hitblock_id))


# ---- results, consensus, workers -----------------------------------------------------------


@blueprint.get(f"/hitblocks/<{ID}:hitblock_id>/results.csv")
@signed_in()
def download_results(hitblock_id: int) -> Response:
    """The results in MTurk's batch results CSV, streamed (``app.services.results``)."""
    chunks = results.export_csv(db.session, current_user().account_id, hitblock_id)
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"hitblock-{hitblock_id}-results.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _method() -> tuple[str, str | None]:
    """The consensus method asked for (``?method=``, the page's Show button), else majority
    vote: one query and a count, cheap on every load. Dawid-Skene (seconds of CPU on a big
    hitblock) runs only when asked; asked without the extra installed, or an unknown method,
    the page falls back to majority vote and says why (never an error page)."""
    wanted = request.args.get("method", "majority_vote")
    if wanted in consensus.available_methods():
        return wanted, None
    if wanted in consensus.METHODS:
        why = f"{wanted.replace('_', ' ')} needs the hitblocks[consensus] extra"
    else:
        why = "there is no such method"
    return "majority_vote", f"Shown by majority vote: {why}."


@blueprint.get(f"/hitblocks/<{ID}:hitblock_id>/workers")
@signed_in()
def workers_page(hitblock_id: int) -> Response:
    """Each worker of the hitblock: responses, approval rate, agreement with consensus,
    gold accuracy, median time per answer, blocked (admins block and unblock here)."""
    account_id = current_user().account_id
    hitblock = get_hitblock(db.session, account_id, hitblock_id)
    db.session.expunge(hitblock)
    stats = workers.worker_stats(db.session, account_id, hitblock_id)
    db.session.rollback()  # nothing written: end the read
    return render_page("console/workers.html", hitblock=hitblock, stats=stats)


@blueprint.post(f"/hitblocks/<{ID}:hitblock_id>/workers/<worker_id>/<any(block, unblock):action>")
@signed_in(ADMIN)
def change_worker(hitblock_id: int, worker_id: str, action: str) -> Response:
    """Block (a reason is required: MTurk shows it to the worker) or unblock a worker from
    all of the account's HITs (MTurk's CreateWorkerBlock / DeleteWorkerBlock)."""
    account_id = current_user().account_id
    get_hitblock(db.session, account_id, hitblock_id)  # the page's hitblock is the account's
    back = url_for("console.workers_page", hitblock_id=hitblock_id)
    if action == "block":
        reason = request.form.get("reason", "").strip()
        if not reason:
            flash(f"Say why {worker_id} is blocked: MTurk requires a reason.", "error")
            return redirect(back)
        workers.block_worker(db.session, mturk_gateway(), account_id, worker_id, reason[:1000])
        flash(f"Blocked {worker_id} from all of this account's HITs.")
    else:
        workers.unblock_worker(db.session, mturk_gateway(), account_id, worker_id)
        flash(f"Unblocked {worker_id}.")
    return redirect(back)
