"""Quality: each item's consensus answer, workers' records in a hitblock, and blocks."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.extensions import db
from app.gateway import mturk_gateway
from app.pagination import Page
from app.parsing import ApiBlueprint
from app.schemas import (
    ConsensusArgsSchema,
    ConsensusListSchema,
    ListArgsSchema,
    WorkerBlockCreateSchema,
    WorkerBlockListSchema,
    WorkerBlockSchema,
    WorkerStatsListSchema,
)
from app.services import consensus, workers
from app.views import ID, account_id, as_list

blp = ApiBlueprint(
    "quality",
    __name__,
    url_prefix="/v1",
    description="Consensus answers, workers' records, blocks.",
)


@blp.routes(
    f"/hitblocks/<{ID}:hitblock_id>/consensus",
    f"/hitblock/<{ID}:hitblock_id>/consensus",
    endpoint="consensus",
)
class HitblockConsensus(MethodView):
    @blp.arguments(ConsensusArgsSchema, location="query")
    @blp.response(200, ConsensusListSchema)
    def get(self, args: dict[str, Any], hitblock_id: int) -> Any:
        """Each item's aggregate answer per field, with its confidence, newest item first.

        Approved and submitted responses count; rejected ones and submitted work flagged by
        the gold policy do not. ``dawid_skene`` learns each worker's reliability from the
        whole hitblock (needs ``pip install 'hitblocks[consensus]'``)."""
        page = consensus.consensus_page(db.session, account_id(), hitblock_id, args["method"], args)
        return {**as_list(page), "method": args["method"]}


@blp.routes(
    f"/hitblocks/<{ID}:hitblock_id>/workers",
    f"/hitblock/<{ID}:hitblock_id>/workers",
    endpoint="hitblock_workers",
)
class HitblockWorkers(MethodView):
    @blp.response(200, WorkerStatsListSchema)
    def get(self, hitblock_id: int) -> Any:
        """Every worker of the hitblock with their record: responses, approval rate,
        agreement with the majority vote, gold accuracy, median time per answer."""
        stats = workers.worker_stats(db.session, account_id(), hitblock_id)
        return as_list(Page(stats, has_more=False))


@blp.route("/workers/<string:worker_id>/block", endpoint="worker_block")
class WorkerBlockView(MethodView):
    @blp.body(WorkerBlockCreateSchema)
    @blp.response(200, WorkerBlockSchema)
    def post(self, fields: dict[str, Any], worker_id: str) -> Any:
        """Block the worker from the account's HITs (MTurk's CreateWorkerBlock).

        Only a worker who answered one of the account's HITs (MTurk's block reaches every
        account of the installation): any other worker id answers 404."""
        return workers.block_worker(
            db.session, mturk_gateway(), account_id(), worker_id, fields["reason"]
        )


@blp.route("/workers/<string:worker_id>/unblock", endpoint="worker_unblock")
class WorkerUnblockView(MethodView):
    @blp.response(200, WorkerBlockSchema)
    def post(self, worker_id: str) -> Any:
        """Lift the account's block of the worker (MTurk's DeleteWorkerBlock)."""
        return workers.unblock_worker(db.session, mturk_gateway(), account_id(), worker_id)


@blp.route("/workers/blocks", endpoint="worker_blocks")
class WorkerBlocks(MethodView):
    @blp.arguments(ListArgsSchema, location="query")
    @blp.response(200, WorkerBlockListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The account's worker blocks, newest first."""
        return as_list(workers.list_blocks(db.session, account_id(), args))
