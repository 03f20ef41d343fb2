"""Job leases: one holder at a time, kept while a run lasts longer than the lease, lost within
one lease period once the holder dies.

The renewal thread runs on real time, so these tests use leases of a second or so and wait at
most a few seconds; where a clock can be injected (taking an expired lease), it is.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.jobs import (
    POLLER,
    SENDER,
    LeaseKeeper,
    acquire_lease,
    release_lease,
    run_deliveries,
    run_poll_cycle,
)
from app.models import JobLease, utcnow
from app.services.deliveries import DeliveryReport
from app.services.polling import CycleReport

TTL = timedelta(seconds=1)
SLOW_RUN_TTL = timedelta(seconds=1.5)  # renewed every 0.5 s: 1 s of slack on a busy machine


def try_to_take(app, name: str, holder: str = "another-host") -> bool:
    """What another process would see: its own connection, its own transaction."""
    with app.app_context(), Session(db.engine) as session:
        return acquire_lease(session, name, SLOW_RUN_TTL, holder)


def lease_row(app, name: str) -> JobLease:
    with app.app_context():
        row = db.session.scalar(select(JobLease).where(JobLease.name == name))
        assert row is not None
        db.session.expunge(row)
        return row


def wait_for(condition, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("run", "job", "name", "report"),
    [
        (run_poll_cycle, "app.jobs.poll_once", POLLER, CycleReport()),
        (run_deliveries, "app.jobs.deliver_due", SENDER, DeliveryReport()),
    ],
)
def test_a_run_longer_than_the_lease_keeps_it(app, monkeypatch, run, job, name, report):
    """Without renewal, the lease would expire 1.5 s into this 2.25 s run and another
    process would start a second run beside it."""
    attempts: list[bool] = []

    def slow_job(*args, **kwargs):
        deadline = time.monotonic() + 1.5 * SLOW_RUN_TTL.total_seconds()
        while time.monotonic() < deadline:
            attempts.append(try_to_take(app, name))
            time.sleep(0.1)
        return report

    monkeypatch.setattr(job, slow_job)
    monkeypatch.setattr("app.jobs.mturk_gateway", lambda: None)
    assert run(app, "this-host", lease_ttl=SLOW_RUN_TTL) is report
    assert len(attempts) >= 10
    assert not any(attempts)
    assert try_to_take(app, name)  # let go at the end of the run


def test_a_failed_run_lets_the_lease_go_and_stops_renewing(app, monkeypatch):
    def failing_cycle(*args, **kwargs):
        raise RuntimeError("MTurk went away mid-cycle")

    monkeypatch.setattr("app.jobs.poll_once", failing_cycle)
    monkeypatch.setattr("app.jobs.mturk_gateway", lambda: None)
    with pytest.raises(RuntimeError):
        run_poll_cycle(app, "this-host", lease_ttl=TTL)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("lease-")]
    assert try_to_take(app, POLLER)


def test_a_holder_that_dies_loses_the_lease_within_one_period(app):
    with app.app_context():
        assert acquire_lease(db.session, POLLER, TTL, "doomed-host")
        first_expiry = lease_row(app, POLLER).expires
        keeper = LeaseKeeper(db.engine, POLLER, TTL, "doomed-host")
        keeper.start()
        wait_for(lambda: lease_row(app, POLLER).expires > first_expiry)  # renewed once
        keeper.stop()  # the holder dies: no more renewals, and no release either
        died = utcnow()
        expires = lease_row(app, POLLER).expires
        assert expires <= died + TTL
        just_before, just_after = (
            expires - timedelta(milliseconds=1),
            expires + timedelta(milliseconds=1),
        )
        assert not acquire_lease(db.session, POLLER, TTL, "successor", now=just_before)
        assert acquire_lease(db.session, POLLER, TTL, "successor", now=just_after)
        assert lease_row(app, POLLER).holder == "successor"


def test_a_renewal_that_finds_the_lease_taken_warns_and_leaves_it(app, caplog):
    caplog.set_level(logging.WARNING, logger="app.jobs")
    with app.app_context():
        assert acquire_lease(db.session, POLLER, TTL, "stalled-host")
        keeper = LeaseKeeper(db.engine, POLLER, TTL, "stalled-host")
        keeper.start()
        # The holder stalled past its lease and another process took it over.
        db.session.execute(update(JobLease).values(holder="successor"))
        db.session.commit()
        wait_for(lambda: keeper.lost)
        keeper.stop()
        release_lease(db.session, POLLER, "stalled-host")  # not ours: changes nothing
    assert "lease was lost" in caplog.text
    row = lease_row(app, POLLER)
    assert row.holder == "successor" and row.expires > utcnow()
