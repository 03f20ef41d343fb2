"""Results export: rows per second and peak memory, CSV and JSON Lines, on SQLite.

    python bench/export.py [--responses 100000] [--small 10000]

Fills a fresh, migrated SQLite database (in a temporary folder) with a hitblock of
--responses items, each answered once, through the models' tables; then reads the whole
export of each format as the API streams it (the service's chunks, consumed and dropped).
Prints rows per second (without tracemalloc, which slows Python down) and the peak memory
Python allocated meanwhile (tracemalloc), and the same peak for a hitblock of --small
responses in the same database: an export in constant memory shows the same peak for both.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_migrate  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Hitblock, Item, Response  # noqa: E402
from app.services import results  # noqa: E402
from app.services.accounts import create_key  # noqa: E402

BATCH = 5000


def fill(session, account_id: int, responses: int) -> int:
    """A published hitblock of ``responses`` items with one response each; its id."""
    hitblock = Hitblock(
        account_id=account_id,
        type="image-transcription",
        title="Receipts",
        description="Type the total of the receipt",
        keywords="receipt, total",
        cost_per_item=Decimal("0.10"),
        template="<img src='${image_url}'><textarea name='transcription'></textarea>",
        lifetime_in_seconds=86400,
        assignment_duration_in_seconds=600,
        auto_approval_delay_in_seconds=259200,
        qualification_requirements=[],
        hit_type_id="3N0K7CX2I27L2NR2L8D93MF8LIRA5J",
        status="in_progress",
    )
    session.add(hitblock)
    session.commit()
    start = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    first_item = (session.scalar(select(Item.id).order_by(Item.id.desc()).limit(1)) or 0) + 1
    for offset in range(0, responses, BATCH):
        numbers = range(offset, min(offset + BATCH, responses))
        session.execute(
            insert(Item),
            [
                {
                    "id": first_item + n,
                    "hitblock_id": hitblock.id,
                    "type": "image",
                    "params": {"image_url": f"https://images.example.org/receipts/{n}.jpg"},
                    "status": "completed",
                    "hit_id": f"3IQ9O0AYW6ZI3GD740H{first_item + n:011d}",
                    "published": start,
                    "unique_request_token": f"hb-{hitblock.id}-{n}",
                    "cost": Decimal("0.00"),
                    "created": start,
                }
                for n in numbers
            ],
        )
        session.execute(
            insert(Response),
            [
                {
                    "item_id": first_item + n,
                    "assignment_id": f"3X{hitblock.id:04d}{n:024d}",
                    "worker_id": f"A{n % 500:013d}",
                    "status": ("submitted", "approved", "rejected")[n % 3],
                    "data": {"transcription": f"Total {n}.00", "comment": "=1+2" * (n % 2)},
                    "answer_xml": "",
                    "accepted": start,
                    "submitted": start + timedelta(seconds=60 + n % 300),
                    "reviewed": start + timedelta(hours=1) if n % 3 else None,
                    "cost": Decimal("0.12") if n % 3 == 1 else Decimal("0.00"),
                    "created": start,
                }
                for n in numbers
            ],
        )
        session.commit()
    return hitblock.id


def drain(chunks: Iterator[str]) -> tuple[int, int]:
    """Consume the export as a server would send it: (bytes, lines)."""
    size = lines = 0
    for chunk in chunks:
        size += len(chunk.encode())
        lines += chunk.count("\n")
    return size, lines


def measure(export: Callable[[], Iterator[str]]) -> tuple[float, int, int]:
    """(seconds, bytes, peak bytes allocated by Python while it ran)."""
    started = time.perf_counter()
    size, _ = drain(export())
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    drain(export())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, size, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()

    folder = tempfile.mkdtemp()
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/api.sqlite3"})
    with app.app_context():
        flask_migrate.upgrade()
        session = db.session
        account_id = create_key(session, "bench").account_id
        started = time.perf_counter()
        large = fill(session, account_id, args.responses)
        small = fill(session, account_id, args.small)
        print(
            f"filled {args.responses + args.small} responses in "
            f"{time.perf_counter() - started:.1f} s (SQLite, {folder})"
        )
        exports = {
            "csv": lambda hid: lambda: results.export_csv(session, account_id, hid),
            "jsonl": lambda hid: lambda: results.export_jsonl(session, account_id, hid),
        }
        for name, export in exports.items():
            seconds, size, peak = measure(export(large))
            _, _, small_peak = measure(export(small))
            session.rollback()  # end the read transaction, as the request's teardown does
            print(
                f"{name}: {args.responses} rows in {seconds:.2f} s = "
                f"{args.responses / seconds:,.0f} rows/s, {size / 1e6:.1f} MB; peak memory "
                f"{peak / 1e6:.1f} MB at {args.responses} rows, "
                f"{small_peak / 1e6:.1f} MB at {args.small}"
            )
        db.engine.dispose()


if __name__ == "__main__":
    main()
