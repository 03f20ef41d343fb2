"""Group commit (``mturk/service/group_commit.py``): concurrent transactions of a process share
one COMMIT, and each is still durable before it returns, atomic on its own, and refused as a
whole when the COMMIT fails."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import create_engine, event, select, text

from mturk.service import local_store
from mturk.service.group_commit import CommitFailed
from mturk.service.store import Requester, Store

THREADS = 8


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    yield store
    store.dispose()


def commits_of(store: Store) -> list[int]:
    """A list that grows by one at each COMMIT of the store's engine."""
    seen: list[int] = []
    event.listen(store.engine, "commit", lambda connection: seen.append(1))
    return seen


def add_requester(
    store: Store, name: str, pause: float = 0.0, started: threading.Event | None = None
) -> None:
    """A requester added in a transaction that holds its turn ``pause`` seconds, after
    setting ``started`` (if given) once its row is written."""
    with store.transaction() as session:
        session.add(Requester(name=name, balance_cents=0))
        session.flush()
        if started is not None:
            started.set()
        time.sleep(pause)  # others queue behind it meanwhile, and join its group


def names(store: Store) -> set[str]:
    """What another connection, of another engine, sees: only what is committed."""
    engine = create_engine(store.engine.url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(text("SELECT name FROM requesters")))
    finally:
        engine.dispose()


def test_concurrent_transactions_share_commits_and_each_is_durable_when_it_returns(store):
    commits = commits_of(store)
    visible_on_return: dict[str, bool] = {}

    def work(n: int) -> None:
        add_requester(store, f"r{n}", pause=0.002)
        visible_on_return[f"r{n}"] = f"r{n}" in names(store)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(64)))

    assert names(store) == {f"r{n}" for n in range(64)}
    assert all(visible_on_return.values()), "a transaction returned before its COMMIT"
    assert len(commits) < 64 / 2, f"{len(commits)} COMMITs for 64 transactions: not grouped"


def test_one_at_a_time_each_transaction_commits_at_once(store):
    """With nobody waiting, a transaction does not wait for company: it commits alone."""
    commits = commits_of(store)
    for n in range(3):
        add_requester(store, f"r{n}")
        assert len(commits) == n + 1
        assert f"r{n}" in names(store)


def test_a_failing_transaction_rolls_back_alone_and_its_group_commits(store):
    started = threading.Event()
    outcomes: dict[str, str] = {}

    def first() -> None:  # the others wait for their turn meanwhile, to join its group
        add_requester(store, "kept-1", pause=0.05, started=started)

    def failing() -> None:
        started.wait()
        try:
            with store.transaction() as session:
                session.add(Requester(name="undone", balance_cents=0))
                session.flush()
                raise ValueError("refused")
        except ValueError:
            outcomes["failing"] = "raised"

    def last() -> None:
        started.wait()
        time.sleep(0.01)
        add_requester(store, "kept-2")
        outcomes["last"] = "returned"

    threads = [threading.Thread(target=f) for f in (first, failing, last)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"failing": "raised", "last": "returned"}
    assert names(store) == {"kept-1", "kept-2"}


def test_a_failing_first_transaction_undoes_only_itself_and_the_next_ones_commit(store):
    # The first of a group runs without a savepoint: its failure rolls the group back whole,
    # which must cost nobody else anything.
    started = threading.Event()
    outcomes: dict[str, str] = {}

    def failing_first() -> None:
        try:
            with store.transaction() as session:
                session.add(Requester(name="undone", balance_cents=0))
                session.flush()
                started.set()
                time.sleep(0.05)  # the others wait for their turn meanwhile
                raise ValueError("refused")
        except ValueError as error:
            outcomes["first"] = str(error)

    def after(name: str) -> None:
        started.wait()
        add_requester(store, name)
        outcomes[name] = "returned"

    threads = [threading.Thread(target=failing_first)] + [
        threading.Thread(target=after, args=(name,)) for name in ("next-1", "next-2")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"first": "refused", "next-1": "returned", "next-2": "returned"}
    assert names(store) == {"next-1", "next-2"}
    add_requester(store, "later")  # and the store goes on
    assert names(store) == {"next-1", "next-2", "later"}


def test_only_the_members_after_the_first_of_a_group_make_a_savepoint(store):
    statements: list[str] = []

    def seen(conn, cursor, statement, *_args) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        add_requester(store, "alone")  # a group of one: no savepoint
        assert "SAVEPOINT" not in statements
        store._groups.window = 1.0  # the first's sleep below must not end its group
        started = threading.Event()

        def first() -> None:  # the second waits for its turn meanwhile, to join its group
            add_requester(store, "first", pause=0.05, started=started)

        def second() -> None:
            started.wait()
            add_requester(store, "second")

        threads = [threading.Thread(target=f) for f in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert statements.count("SAVEPOINT") == 1
    assert names(store) == {"alone", "first", "second"}


def test_when_the_commit_fails_no_member_of_the_group_returns_as_if_committed(store):
    def refuse(connection):
        raise OSError("disk full")

    event.listen(store.engine, "commit", refuse)
    results: list[str] = []

    def work(n: int) -> None:
        try:
            add_requester(store, f"r{n}", pause=0.002)
        except CommitFailed:
            results.append("CommitFailed")
        else:
            results.append("returned")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(16)))
    assert results == ["CommitFailed"] * 16
    event.remove(store.engine, "commit", refuse)
    assert names(store) == set()
    add_requester(store, "after")  # the store goes on
    assert names(store) == {"after"}


def test_a_transaction_inside_another_is_refused_rather_than_waiting_forever(store):
    with store.transaction():
        with pytest.raises(RuntimeError, match="inside another"):
            with store.transaction():
                pass  # pragma: no cover
    add_requester(store, "after")
    assert names(store) == {"after"}


def test_readers_never_see_a_group_before_it_commits(store):
    """``Store.reading`` reads committed data only, even while a group is open."""
    inside = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with store.transaction() as session:
            session.add(Requester(name="pending", balance_cents=0))
            session.flush()
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    inside.wait(5)
    with store.reading() as connection:
        assert connection.scalar(select(Requester.id).where(Requester.name == "pending")) is None
    release.set()
    thread.join()
    with store.reading() as connection:
        assert connection.scalar(select(Requester.id).where(Requester.name == "pending"))


def test_a_failed_commit_is_a_service_fault_to_boto3_and_nothing_is_created(mturk_local):
    client = mturk_local.client
    store = local_store(mturk_local.app)
    hit_type = client.create_hit_type(
        Title="t", Description="d", Reward="0.10", AssignmentDurationInSeconds=60
    )["HITTypeId"]

    def refuse(connection):
        raise OSError("disk full")

    event.listen(store.engine, "commit", refuse)
    try:
        with pytest.raises(ClientError) as error:
            client.create_hit_with_hit_type(
                HITTypeId=hit_type,
                LifetimeInSeconds=600,
                Question=(
                    '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
                    'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
                    "<ExternalURL>https://example.org/task</ExternalURL>"
                    "<FrameHeight>0</FrameHeight></ExternalQuestion>"
                ),
            )
    finally:
        event.remove(store.engine, "commit", refuse)
    assert error.value.response["Error"]["Code"] == "ServiceFault"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert client.list_hits()["HITs"] == []
    assert Decimal(client.get_account_balance()["AvailableBalance"]) > 0


def test_concurrent_creates_with_one_token_make_one_hit(mturk_local):
    """On SQLite a HIT is inserted without a savepoint of its own (``operations``): the
    token's check and the insert are in one transaction, and transactions run one at a time,
    grouped or not. Sixteen concurrent calls with one token: one HIT, fifteen refusals
    naming it."""
    client = mturk_local.client
    hit_type = client.create_hit_type(
        Title="t", Description="d", Reward="0.10", AssignmentDurationInSeconds=60
    )["HITTypeId"]
    question = (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
        'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
        "<ExternalURL>https://example.org/task</ExternalURL>"
        "<FrameHeight>0</FrameHeight></ExternalQuestion>"
    )

    def create(_: int) -> str:
        try:
            return client.create_hit_with_hit_type(
                HITTypeId=hit_type,
                LifetimeInSeconds=600,
                Question=question,
                UniqueRequestToken="item-1",
            )["HIT"]["HITId"]
        except ClientError as error:
            assert error.response["TurkErrorCode"] == "AWS.MechanicalTurk.HitAlreadyExists"
            return "refused: " + error.response["Error"]["Message"]

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(create, range(16)))
    created = [outcome for outcome in outcomes if not outcome.startswith("refused")]
    assert len(created) == 1
    assert all(created[0] in outcome for outcome in outcomes)
    assert [hit["HITId"] for hit in client.list_hits()["HITs"]] == created
