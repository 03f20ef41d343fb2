"""Scheduled jobs. Thin: each takes a lease, runs one service call, and lets the lease go.

The lease is a row in ``job_leases`` claimed by a conditional UPDATE, so one process runs a
job at a time across every web worker and host on the same database; a holder that dies
loses its lease when it expires.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db
from app.gateway import mturk_gateway
from app.models import JobLease, utcnow
from app.services import DbSession, transaction
from app.services.deliveries import DeliveryReport, deliver_due
from app.services.polling import CycleReport, poll_once

log = logging.getLogger(__name__)
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
POLLER = "poller"
SENDER = "webhooks"


def acquire_lease(session: DbSession, name: str, ttl: timedelta, holder: str = HOLDER) -> bool:
    """Claim the lease if it is free, expired, or already ours; True when we hold it."""
    now = utcnow()
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


def lease_holder(session: DbSession, name: str) -> str | None:
    return session.scalar(select(JobLease.holder).where(JobLease.name == name))


def run_poll_cycle(app: Flask, holder: str = HOLDER) -> CycleReport | None:
    """One poll cycle, if no other process is running one; None when another one is."""
    ttl = timedelta(seconds=max(60, 4 * int(app.config["POLL_INTERVAL_SECONDS"])))
    with app.app_context():
        if not acquire_lease(db.session, POLLER, ttl, holder):
            return None
        try:
            report = poll_once(
                db.session,
                mturk_gateway(),
                partial_budget=int(app.config["POLL_PARTIAL_BUDGET"]),
                due_budget=int(app.config["POLL_DUE_BUDGET"]),
            )
        finally:
            release_lease(db.session, POLLER, holder)
    if report.new_responses or report.errors:
        log.info("poll cycle: %s", asdict(report))
    return report


def run_deliveries(app: Flask, holder: str = HOLDER) -> DeliveryReport | None:
    """Send the webhooks and callbacks that are due, if no other process is sending them."""
    with app.app_context():
        if not acquire_lease(db.session, SENDER, timedelta(minutes=2), holder):
            return None
        try:
            return deliver_due(
                db.session,
                allow_private=bool(app.config["CALLBACKS_ALLOW_PRIVATE"]),
                concurrency=int(app.config["MTURK_CONCURRENCY"]),
            )
        finally:
            release_lease(db.session, SENDER, holder)


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
