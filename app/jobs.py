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

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_STARTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.gateway import mturk_gateway
from app.models import JobLease, utcnow
from app.notification_queue import QueueUnavailable, SqsQueue, sqs_client
from app.services import DbSession, insert_for, transaction
from app.services.deliveries import DeliveryReport, Doorbell, deliver_due, deliveries_due
from app.services.notifications import (
    ConsumeReport,
    MessageQueue,
    consume_once,
    forget_seen,
    subscribe_open_hit_types,
)
from app.services.polling import CycleReport, poll_once
from app.services.workers import send_pending

log = logging.getLogger(__name__)
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
POLLER = "poller"
SENDER = "webhooks"
SENDER_TTL = timedelta(minutes=2)
# How often the webhook sender looks for deliveries made by other processes (API workers):
# one indexed query that finds nothing when idle. This process's own commits wake it at once.
SENDER_CHECK_SECONDS = 0.2
# One sender at a time in this process: the scheduled run and the woken sender share the
# process's lease (a lease already ours is taken again), so it cannot tell them apart.
_sending = threading.Lock()
CONSUMER = "notifications"
# The consumer's lease: renewed every 10 s while it runs; a consumer that died is replaced
# within 30 s (its messages wait in the queue meanwhile, nothing is lost).
CONSUMER_TTL = timedelta(seconds=30)
QUEUE_RETRY_SECONDS = 5.0  # after the queue could not be read
FORGET_EVERY = timedelta(hours=1)  # clean-up of old EventDocIds


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
        created = session.execute(
            insert_for(session, JobLease)
            .values(name=name, holder=holder, expires=now + ttl)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(JobLease.name)
        ).scalar()
        return created is not None


def release_lease(
    session: DbSession, name: str, holder: str = HOLDER, *, while_running: bool = False
) -> None:
    """Let our lease go. ``while_running``: the run is still under way (its thread did not
    stop in time), so the lease is given to nobody, which its keeper's next renewal sees as
    lost, and the run stops rather than take it back."""
    values: dict[str, object] = {"expires": utcnow()}
    if while_running:
        values["holder"] = ""
    with transaction(session):
        session.execute(
            update(JobLease).where(JobLease.name == name, JobLease.holder == holder).values(values)
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
def holding_lease(name: str, ttl: timedelta, holder: str = HOLDER) -> Iterator[LeaseKeeper | None]:
    """Inside an app context: the lease held (and renewed) for the block, its keeper given
    (``keeper.lost`` says whether it is still ours), or None when another holder has it."""
    if not acquire_lease(db.session, name, ttl, holder):
        yield None
        return
    keeper = LeaseKeeper(db.engine, name, ttl, holder)
    keeper.start()
    try:
        yield keeper
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
        keeper = held
        report = poll_once(
            db.session,
            mturk_gateway(),
            partial_budget=int(app.config["POLL_PARTIAL_BUDGET"]),
            due_budget=int(app.config["POLL_DUE_BUDGET"]),
            concurrency=int(app.config["MTURK_CONCURRENCY"]),
            keep_going=lambda: not keeper.lost,  # a cycle that lost its lease stops
        )
        # Worker blocks and gold exclusions decided (and committed) but not yet confirmed by
        # MTurk, the ones this cycle's new answers just decided included.
        report.errors += send_pending(db.session, mturk_gateway())
    if report.new_responses or report.errors:
        log.info("poll cycle: %s", asdict(report))
    return report


def run_deliveries(
    app: Flask, holder: str = HOLDER, *, lease_ttl: timedelta = SENDER_TTL, wait: bool = False
) -> DeliveryReport | None:
    """Send the webhooks and callbacks that are due, if no other process is sending them
    (None when one is). Within this process, a run waits for the one under way (``wait``,
    the woken sender) or leaves the work to it (the scheduled run)."""
    if not _sending.acquire(blocking=wait):
        return None
    try:
        with app.app_context(), holding_lease(SENDER, lease_ttl, holder) as held:
            if not held:
                return None
            return deliver_due(
                db.session,
                allow_private=bool(app.config["CALLBACKS_ALLOW_PRIVATE"]),
                concurrency=int(app.config["MTURK_CONCURRENCY"]),
            )
    finally:
        _sending.release()


class _Restartable:
    """A daemon thread running ``_run(stop)``. A second start while it runs changes nothing
    (a scheduler started again); a start after ``stop`` waits for the old thread to end (it
    may still be finishing its work), so that two never run at once, then runs a new one."""

    thread_name = ""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def start(self) -> None:
        with self._starting:
            if self._thread is not None and self._thread.is_alive():
                if not self._stop.is_set():
                    return
                self._thread.join()
            self._stop = threading.Event()
            self._starting_up()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True)
            self._thread.name = self.thread_name
            self._thread.start()

    def _starting_up(self) -> None:
        """What a start does before the thread runs."""

    def _run(self, stop: threading.Event) -> None:
        raise NotImplementedError


class WebhookSender(_Restartable):
    """Sends webhooks right after the commit that made them, in the scheduled-jobs process:
    woken by this process's commits (the poller's, the consumer's), and every
    ``check_seconds`` looking for what other processes made. The scheduled run stays beside
    it, for the retries and as a safety net."""

    thread_name = "webhooks"  # a start after stop waits at most a receiver's timeout

    def __init__(
        self, app: Flask, holder: str = HOLDER, check_seconds: float = SENDER_CHECK_SECONDS
    ) -> None:
        self.app = app
        self.holder = holder
        self.check_seconds = check_seconds
        self.doorbell = Doorbell()
        super().__init__()

    def _starting_up(self) -> None:
        self.doorbell.install()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the sending under way (a receiver may take its timeout, 5 s):
        ``timeout`` bounds the wait for that here."""
        self._stop.set()
        self.doorbell.ring()
        self.doorbell.uninstall()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.doorbell.wait(self.check_seconds)
            if stop.is_set():
                return
            try:
                with self.app.app_context():
                    due = deliveries_due(db.session)
                    db.session.rollback()  # end the read
                report = run_deliveries(self.app, self.holder, wait=True) if due else None
            except Exception:  # the database hiccupped: the scheduled run tries too
                log.warning("the webhook sender failed", exc_info=True)
                stop.wait(int(self.app.config["WEBHOOK_INTERVAL_SECONDS"]))
                continue
            if report is not None and report.sent:
                self.doorbell.ring()  # a full batch may have left more: look again at once


def run_notifications(
    app: Flask,
    queue: MessageQueue,
    holder: str = HOLDER,
    *,
    stop: threading.Event,
    lease_ttl: timedelta = CONSUMER_TTL,
    batches: int | None = None,
) -> ConsumeReport | None:
    """Consume the notification queue, one long poll after another, for as long as this
    process holds the ``notifications`` lease (one consumer at a time across processes and
    hosts) and until ``stop`` is set (or ``batches`` long polls, for tests); None when
    another holder has the lease. On taking it, the HIT types with open work are subscribed
    (those made before the queue was configured), one call each."""
    with app.app_context():
        if not acquire_lease(db.session, CONSUMER, lease_ttl, holder):
            return None
        keeper = LeaseKeeper(db.engine, CONSUMER, lease_ttl, holder)
        keeper.start()
        total = ConsumeReport()
        try:
            try:
                subscribe_open_hit_types(
                    db.session, mturk_gateway(), str(app.config["MTURK_NOTIFICATION_QUEUE_URL"])
                )
            except Exception:  # the poll cycle still collects them
                db.session.rollback()
                log.warning("could not subscribe the open HIT types", exc_info=True)
            forget_at = utcnow()
            polls = 0
            while not stop.is_set() and not keeper.lost and (batches is None or polls < batches):
                polls += 1
                try:
                    report = consume_once(
                        db.session, mturk_gateway(), queue, lambda: not stop.is_set()
                    )
                except QueueUnavailable as error:
                    log.warning("notification queue: %s; trying again shortly", error)
                    stop.wait(QUEUE_RETRY_SECONDS)
                    continue
                except Exception:
                    db.session.rollback()
                    log.exception("notification batch failed; its messages come back")
                    stop.wait(QUEUE_RETRY_SECONDS)
                    continue
                for name, value in asdict(report).items():
                    setattr(total, name, getattr(total, name) + value)
                if report.errors or report.malformed or report.given_up:
                    log.info("notifications: %s", asdict(report))
                if utcnow() >= forget_at:
                    forget_seen(db.session)
                    forget_at = utcnow() + FORGET_EVERY
        finally:
            db.session.rollback()
            keeper.stop()
            release_lease(db.session, CONSUMER, holder)
    return total


class NotificationConsumer(_Restartable):
    """The consumer's thread in the scheduled-jobs process: consumes while it holds the
    lease, and otherwise tries to take it every ``lease_ttl / 3``, until stopped."""

    thread_name = "notifications"  # a start after stop waits at most a long poll (20 s)

    def __init__(
        self,
        app: Flask,
        queue: MessageQueue,
        holder: str = HOLDER,
        lease_ttl: timedelta = CONSUMER_TTL,
    ) -> None:
        self.app = app
        self.queue = queue
        self.holder = holder
        self.lease_ttl = lease_ttl
        super().__init__()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the long poll under way (at most its wait, 20 s): ``timeout`` bounds
        the wait for that here. If the thread is still in it then, the lease is let go now,
        so that the next consumer (this host restarted, or another) need not wait for it to
        expire: nothing is lost, as a message is deleted only once its work is committed and
        a repeat is recognised by its EventDocId, and what the poll under way brings back
        is left in the queue."""
        self._stop.set()
        if self._thread is None or not self._thread.is_alive():
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self.app.app_context():
                try:
                    release_lease(db.session, CONSUMER, self.holder, while_running=True)
                except Exception:  # the lease expires on its own
                    db.session.rollback()
                    log.warning("could not let the notifications lease go", exc_info=True)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                held = run_notifications(
                    self.app, self.queue, self.holder, stop=stop, lease_ttl=self.lease_ttl
                )
            except Exception:  # the database hiccupped: try again at the next tick
                log.warning("the notification consumer failed", exc_info=True)
                held = None
            if held is None:
                stop.wait(self.lease_ttl.total_seconds() / 3)


def notification_consumer(app: Flask) -> NotificationConsumer | None:
    """The consumer of the configured queue (None without one), on an SQS client from the
    standard AWS settings."""
    url = str(app.config["MTURK_NOTIFICATION_QUEUE_URL"] or "")
    if not url:
        return None
    return NotificationConsumer(app, SqsQueue(sqs_client(url), url))


def schedule(app: Flask, scheduler: BaseScheduler) -> BaseScheduler:
    """Both jobs on one scheduler; each run is skipped while the previous one still runs.
    With a notification queue, its consumer runs beside them, from the scheduler's start
    to its shutdown; so does the webhook sender, which sends what commits make at once."""
    sender = WebhookSender(app)
    scheduler.add_listener(lambda _: sender.start(), EVENT_SCHEDULER_STARTED)
    scheduler.add_listener(lambda _: sender.stop(timeout=1.0), EVENT_SCHEDULER_SHUTDOWN)
    consumer = notification_consumer(app)
    if consumer is not None:
        scheduler.add_listener(lambda _: consumer.start(), EVENT_SCHEDULER_STARTED)
        scheduler.add_listener(lambda _: consumer.stop(timeout=1.0), EVENT_SCHEDULER_SHUTDOWN)
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


def run_blocking(app: Flask, stopped: threading.Event) -> None:
    """``hitblocks worker``: only the scheduled jobs, until ``stopped`` is set (the CLI sets
    it on Ctrl-C and SIGTERM). Then the scheduler is shut down, as ``hitblocks run`` does, so
    that the notification consumer lets its lease go at once: the next worker (this one
    restarted, or another host's) need not wait 30 s for it to expire. The scheduler runs in
    the background and the signal only sets an event: an interrupt raised inside
    APScheduler's own code would be caught and logged there, and the worker would go on."""
    scheduler = start_background(app)
    try:
        while not stopped.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=False)
