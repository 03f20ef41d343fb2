"""Scheduled jobs. Thin: each takes a lease, runs one service call, and lets the lease go.

The lease is a row in ``job_leases`` claimed by a conditional UPDATE, so one process runs a
job at a time across every web worker and host on the same database. While the job runs, a
small thread renews the lease every third of its period, so a run longer than the lease
keeps it; a holder that dies stops renewing and loses its lease within one period.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.extensions import db
from app.gateway import mturk_gateway
from app.models import JobLease, utcnow
from app.services import DbSession, transaction
from app.services.deliveries import DeliveryReport, deliver_due
from app.services.polling import CycleReport, poll_once
from app.services.workers import send_pending

log = logging.getLogger(__name__)
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
POLLER = "poller"
SENDER = "webhooks"
SENDER_TTL = timedelta(minutes=2)


def acquire_lease(
    session: DbSession,
    name: str,
    ttl: timedelta,
    holder: str = HOLDER,
    *,
    now: datetime | None = None,
) -> bool:
    """Claim the lease if it is free, expired, or already ours; True when we hold it."""
    now = now or utcnow()
    with transaction(session):
        taken = session.execute(
            update(JobLease)
            .where(JobLease.name == name, or_(JobLease.expires < now, JobLease.holder == holder))
            .values(holder=holder, expires=now + ttl)
        ).rowcount  # type: ignore[attr-defined]
        if taken:
            return True
        dialect_insert = (
            pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        created = session.execute(
            dialect_insert(JobLease)
            .values(name=name, holder=holder, expires=now + ttl)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(JobLease.name)
        ).scalar()
        return created is not None


def release_lease(session: DbSession, name: str, holder: str = HOLDER) -> None:
    with transaction(session):
        session.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.holder == holder)
            .values(expires=utcnow())
        )


def renew_lease(session: DbSession, name: str, ttl: timedelta, holder: str = HOLDER) -> bool:
    """Extend our lease to ``ttl`` from now; False when it is no longer ours."""
    with transaction(session):
        renewed = session.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.holder == holder)
            .values(expires=utcnow() + ttl)
        ).rowcount  # type: ignore[attr-defined]
    return bool(renewed)


def lease_holder(session: DbSession, name: str) -> str | None:
    return session.scalar(select(JobLease.holder).where(JobLease.name == name))


class LeaseKeeper:
    """Renews a held lease every ``ttl / 3`` from a thread of its own, on a connection of its
    own (the job's session may sit in a long transaction), until stopped.

    A renewal that finds the lease gone (it expired, say the process stalled, and another
    holder took it) logs a warning and stops: this run now overlaps another one.
    """

    def __init__(self, engine: Engine, name: str, ttl: timedelta, holder: str = HOLDER) -> None:
        self.engine = engine
        self.name = name
        self.ttl = ttl
        self.holder = holder
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing; when this returns, no renewal is under way or will come."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                with Session(self.engine) as session:
                    renewed = renew_lease(session, self.name, self.ttl, self.holder)
            except Exception:  # the database hiccupped: try again at the next tick
                log.warning("could not renew the %s lease", self.name, exc_info=True)
                continue
            if not renewed:
                self.lost = True
                log.warning(
                    "the %s lease was lost to another holder while %s ran; runs may overlap",
                    self.name,
                    self.holder,
                )
                return


@contextmanager
def holding_lease(name: str, ttl: timedelta, holder: str = HOLDER) -> Iterator[bool]:
    """Inside an app context: True and the lease held (and renewed) for the block, or False
    when another holder has it."""
    if not acquire_lease(db.session, name, ttl, holder):
        yield False
        return
    keeper = LeaseKeeper(db.engine, name, ttl, holder)
    keeper.start()
    try:
        yield True
    finally:
        db.session.rollback()  # whatever a failed job left open must not block the release
        keeper.stop()
        release_lease(db.session, name, holder)


def poll_lease_ttl(app: Flask) -> timedelta:
    return timedelta(seconds=max(60, 4 * int(app.config["POLL_INTERVAL_SECONDS"])))


def run_poll_cycle(
    app: Flask, holder: str = HOLDER, *, lease_ttl: timedelta | None = None
) -> CycleReport | None:
    """One poll cycle, if no other process is running one; None when another one is."""
    with app.app_context(), holding_lease(POLLER, lease_ttl or poll_lease_ttl(app), holder) as held:
        if not held:
            return None
        report = poll_once(
            db.session,
            mturk_gateway(),
            partial_budget=int(app.config["POLL_PARTIAL_BUDGET"]),
            due_budget=int(app.config["POLL_DUE_BUDGET"]),
        )
        # Worker blocks and gold exclusions decided (and committed) but not yet confirmed by
        # MTurk, the ones this cycle's new answers just decided included.
        report.errors += send_pending(db.session, mturk_gateway())
    if report.new_responses or report.errors:
        log.info("poll cycle: %s", asdict(report))
    return report


def run_deliveries(
    app: Flask, holder: str = HOLDER, *, lease_ttl: timedelta = SENDER_TTL
) -> DeliveryReport | None:
    """Send the webhooks and callbacks that are due, if no other process is sending them."""
    with app.app_context(), holding_lease(SENDER, lease_ttl, holder) as held:
        if not held:
            return None
        return deliver_due(
            db.session,
            allow_private=bool(app.config["CALLBACKS_ALLOW_PRIVATE"]),
            concurrency=int(app.config["MTURK_CONCURRENCY"]),
        )


def schedule(app: Flask, scheduler: BaseScheduler) -> BaseScheduler:
    """Both jobs on one scheduler; each run is skipped while the previous one still runs."""
    for job, interval_setting, job_id in (
        (run_poll_cycle, "POLL_INTERVAL_SECONDS", POLLER),
        (run_deliveries, "WEBHOOK_INTERVAL_SECONDS", SENDER),
    ):
        scheduler.add_job(
            job,
            "interval",
            args=[app],
            seconds=int(app.config[interval_setting]),
            id=job_id,
            max_instances=1,
            coalesce=True,
            next_run_time=utcnow(),
        )
    return scheduler


def start_background(app: Flask) -> Any:
    """The scheduler inside ``hitblocks run``'s serving process."""
    scheduler = schedule(app, BackgroundScheduler(daemon=True))
    scheduler.start()
    return scheduler


def run_blocking(app: Flask) -> None:
    """``hitblocks worker``: only the scheduled jobs, until stopped."""
    schedule(app, BlockingScheduler()).start()
