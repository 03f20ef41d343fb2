"""The worker's dashboard (/worker/dashboard) over real HTTP: earnings by outcome and by day,
each assignment's status in words with the requester's feedback, bonuses with their reasons,
the approval rate, qualifications held and asked for, messages; paged newest first; only the
signed-in worker's own data; and a number of SQL statements that does not grow with what is
shown."""

from __future__ import annotations

import html
import re
import time

from sqlalchemy import select

from mturk.questions import html_question
from mturk.service import local_store, qualifications
from mturk.service.store import HIT, Assignment, Bonus, WorkerMessage
from mturk.service.worker_site.dashboard import money
from tests.helpers.statements import statements
from tests.worker_site import Worker

FORM = (
    '<form method="post" action="/mturk/externalSubmit">'
    '<input type="hidden" name="assignmentId"><input name="answer"></form>'
)
TIME = re.compile(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">[^<]+ UTC</time>')


def new_hits(client, count: int, title: str = "Transcribe a receipt", reward: str = "0.50"):
    type_id = client.create_hit_type(
        Title=title,
        Description="Type the total",
        Reward=reward,
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=3600,
    )["HITTypeId"]
    return [
        client.create_hit_with_hit_type(
            HITTypeId=type_id,
            MaxAssignments=1,
            LifetimeInSeconds=3600,
            Question=html_question(FORM),
        )["HIT"]["HITId"]
        for _ in range(count)
    ]


def work(worker: Worker, hit_id: str, submit: bool = True) -> str:
    assignment_id = worker.accept(hit_id)
    if submit:
        status, page = worker.submit(assignment_id, [("answer", "42")])
        assert status == 200, page
    return assignment_id


def dashboard(worker: Worker, query: str = "") -> str:
    status, url, page = worker.request("/worker/dashboard" + query)
    assert status == 200 and url.endswith("/worker/dashboard" + query), (status, url)
    return page


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, element_id
    return html.unescape(match.group(1)).strip()


def blocks(page: str) -> dict[str, str]:
    """Each assignment's part of the list, by assignment id, in the page's order."""
    parts = re.findall(
        r'<tbody class="assignment" data-assignment-id="(\w+)"(.*?)</tbody>', page, re.S
    )
    return {assignment_id: html.unescape(part) for assignment_id, part in parts}


def test_a_visitor_who_has_not_signed_in_is_sent_to_sign_in(mturk_local):
    worker = Worker(mturk_local.url, "ADASHVISITOR")
    status, url, page = worker.request("/worker/dashboard")
    assert status == 200 and 'id="email"' in page and "Your dashboard" not in page


def test_earnings_statuses_feedback_and_bonuses_after_the_requester_acts(mturk_local):
    client = mturk_local.client
    approved_hit, rejected_hit, pending_hit, open_hit, returned_hit = new_hits(client, 5)
    worker = Worker(mturk_local.url, "ADASHONE")
    worker.sign_in()
    approved = work(worker, approved_hit)
    rejected = work(worker, rejected_hit)
    pending = work(worker, pending_hit)
    in_progress = work(worker, open_hit, submit=False)
    returned = work(worker, returned_hit, submit=False)
    worker.give_back(returned)
    client.approve_assignment(AssignmentId=approved, RequesterFeedback="Neat work, thanks")
    client.reject_assignment(
        AssignmentId=rejected, RequesterFeedback="The total was $12.40, not 42 <b>sorry</b>"
    )
    client.send_bonus(
        WorkerId="ADASHONE", AssignmentId=approved, BonusAmount="1.25", Reason="Fast & careful"
    )

    page = dashboard(worker)
    assert text_of(page, "earned-approved") == "$0.50"
    assert text_of(page, "earned-pending") == "$0.50"
    assert text_of(page, "earned-bonuses") == "$1.25"
    assert text_of(page, "earned-total") == "$1.75"
    assert text_of(page, "approval-rate") == "50%"
    assert text_of(page, "approval-count") == "1 approved of 2 decided"

    shown = blocks(page)
    assert list(shown) == [returned, in_progress, pending, rejected, approved]  # newest first
    assert 'data-status="Returned"' in shown[returned] and ">Returned</span>" in shown[returned]
    assert ">In progress</span>" in shown[in_progress] and "Continue this HIT" in shown[in_progress]
    assert ">Pending approval</span>" in shown[pending]
    assert "Approved automatically" in shown[pending]
    assert ">Approved</span>" in shown[approved] and "Neat work, thanks" in shown[approved]
    assert ">Rejected</span>" in shown[rejected]
    assert 'class="feedback rejected"' in shown[rejected]
    assert "The total was $12.40, not 42 <b>sorry</b>" in shown[rejected]
    assert "<b>sorry</b>" not in page  # the requester's text is escaped
    assert "Fast & careful" in shown[approved] and "$1.25" in shown[approved]
    assert "Transcribe a receipt" in shown[approved] and "tests" in shown[approved]  # requester
    for assignment_id, label in ((approved, "Approved "), (rejected, "Rejected ")):
        assert re.search(label + TIME.pattern, shown[assignment_id])
    assert re.search("Submitted " + TIME.pattern, shown[pending])

    [bonus_row] = re.findall(r'<table id="bonus-list".*?</table>', page, re.S)
    assert "Fast &amp; careful" in bonus_row and "$1.25" in bonus_row and TIME.search(bonus_row)

    today = time.strftime("%Y-%m-%d", time.gmtime())
    day = re.search(rf'<tr data-day="{today}">(.*?)</tr>', page, re.S)
    assert day, page
    assert re.findall(r"\$\d+\.\d\d", day.group(1)) == ["$0.50", "$1.25", "$1.75"]

    rejected_only = dashboard(worker, "?status=Rejected")
    assert list(blocks(rejected_only)) == [rejected]
    assert "Rejected: 1–1 of 1" in rejected_only


def test_money_is_dollars_and_cents():
    assert [money(0), money(5), money(150), money(123456)] == [
        "$0.00",
        "$0.05",
        "$1.50",
        "$1,234.56",
    ]


def test_another_workers_data_is_never_shown(mturk_local):
    client = mturk_local.client
    mine, theirs = new_hits(client, 2)
    me, other = Worker(mturk_local.url, "ADASHME"), Worker(mturk_local.url, "ADASHOTHER")
    me.sign_in()
    other.sign_in()
    my_assignment = work(me, mine)
    their_assignment = work(other, theirs)
    client.reject_assignment(AssignmentId=their_assignment, RequesterFeedback="Secret feedback")
    client.send_bonus(
        WorkerId="ADASHOTHER", AssignmentId=their_assignment, BonusAmount="9.99", Reason="Theirs"
    )
    client.notify_workers(
        Subject="Private note", MessageText="Only for them", WorkerIds=["ADASHOTHER"]
    )
    type_id = client.create_qualification_type(
        Name="Their skill", Description="d", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    client.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId="ADASHOTHER", IntegerValue=7
    )

    page = dashboard(me)
    assert list(blocks(page)) == [my_assignment]
    for secret in (
        "Secret feedback",
        "9.99",
        "Theirs",
        "Private note",
        "Their skill",
        "ADASHOTHER",
    ):
        assert secret not in page
    assert text_of(page, "earned-bonuses") == "$0.00" and text_of(page, "approval-rate") == "100%"
    assert text_of(page, "approval-count") == "No work approved or rejected yet"
    assert theirs not in page and their_assignment not in page

    # a cursor is a position in one's own list only: another's seq shows nothing of theirs
    with local_store(mturk_local.app).transaction() as session:
        seq = session.scalar(select(Assignment.seq).where(Assignment.id == their_assignment))
    for query in (f"?a_before={seq + 1}", f"?a_after={seq - 1}", "?status=Rejected"):
        assert their_assignment not in dashboard(me, query)


def add_history(mturk_local, worker_id: str, hit_ids: list[str], messages: int) -> list[str]:
    """Assignments of ``worker_id`` on these HITs (oldest first), each Approved and paid a
    bonus, and messages to them; made in the store, as the requester's calls would."""
    at = time.time()
    ids = []
    with local_store(mturk_local.app).transaction() as session:
        requester_id = session.scalar(select(HIT.requester_id).where(HIT.id == hit_ids[0]))
        for n, hit_id in enumerate(hit_ids):
            assignment = Assignment(
                hit_id=hit_id,
                worker_id=worker_id,
                status="Approved",
                accept_time=at - 3 + n / 100,
                deadline=at + 600,
                submit_time=at - 2 + n / 100,
                approval_time=at - 1 + n / 100,
            )
            session.add(assignment)
            session.flush()
            session.add(
                Bonus(
                    requester_id=requester_id,
                    worker_id=worker_id,
                    assignment_id=assignment.id,
                    amount_cents=10,
                    reason=f"Bonus number {n}",
                    grant_time=at - 0.5 + n / 100,
                )
            )
            ids.append(assignment.id)
        for n in range(messages):
            session.add(
                WorkerMessage(
                    requester_id=requester_id, worker_id=worker_id, subject=f"Note {n}", text="Hi"
                )
            )
    return ids


def test_assignments_bonuses_and_messages_are_paged_newest_first(mturk_local):
    hit_ids = new_hits(mturk_local.client, 30)
    worker = Worker(mturk_local.url, "ADASHPAGER")
    worker.sign_in()
    ids = add_history(mturk_local, "ADASHPAGER", hit_ids, messages=12)
    newest_first = ids[::-1]

    first = dashboard(worker)
    assert list(blocks(first)) == newest_first[:25]
    assert "1–25 of 30, newest first" in first
    assert 'id="assignments-newer"' not in first
    older = html.unescape(re.search(r'id="assignments-older"\s+href="([^"]+)"', first).group(1))
    second = dashboard(worker, older.removeprefix("/worker/dashboard").split("#")[0])
    assert list(blocks(second)) == newest_first[25:]
    assert "26–30 of 30, newest first" in second and 'id="assignments-older"' not in second
    newer = html.unescape(re.search(r'id="assignments-newer"\s+href="([^"]+)"', second).group(1))
    back = dashboard(worker, newer.removeprefix("/worker/dashboard").split("#")[0])
    assert list(blocks(back)) == newest_first[:25]

    bonus_reasons = re.findall(r"Bonus number (\d+)</td>", first)
    assert bonus_reasons == [str(n) for n in range(29, 19, -1)]  # the bonus list: 10 a page
    assert "1–10 of 30, newest first" in first
    subjects = re.findall(r'<h3 id="message-\d+">Note (\d+)</h3>', first)
    assert subjects == [str(n) for n in range(11, 1, -1)]
    older_messages = re.search(r'id="messages-older"\s+href="([^"]+)"', first).group(1)
    page = dashboard(
        worker, html.unescape(older_messages).removeprefix("/worker/dashboard").split("#")[0]
    )
    assert re.findall(r'<h3 id="message-\d+">Note (\d+)</h3>', page) == ["1", "0"]
    assert list(blocks(page)) == newest_first[:25]  # the other lists stay where they were

    for nonsense in (
        "?a_before=x",
        "?a_after=-1",
        "?status=Nope",
        "?m_before=" + "9" * 40,
        "?a_before=%C2%B2",
    ):
        assert list(blocks(dashboard(worker, nonsense))) == newest_first[:25]


def test_earnings_by_day_are_the_last_30_utc_days_with_earnings(mturk_local):
    hit_ids = new_hits(mturk_local.client, 33)
    worker = Worker(mturk_local.url, "ADASHDAYS")
    worker.sign_in()
    ids = add_history(mturk_local, "ADASHDAYS", hit_ids, messages=0)
    day = 86_400
    midnight = time.time() // day * day
    with local_store(mturk_local.app).transaction() as session:
        # Approvals on 32 distinct days, every other day back from today, two on the newest;
        # their bonuses all on one day, 100 days ago.
        for n, assignment_id in enumerate(ids):
            assignment = session.scalar(select(Assignment).where(Assignment.id == assignment_id))
            assignment.approval_time = midnight - 2 * day * max(0, n - 1) + 60 + n
        for bonus in session.scalars(select(Bonus).where(Bonus.worker_id == "ADASHDAYS")):
            bonus.grant_time = midnight - 100 * day + 3600
    page = dashboard(worker)
    rows = re.findall(r'<tr data-day="([\d-]+)">(.*?)</tr>', page, re.S)
    assert len(rows) == 30
    expected = [time.strftime("%Y-%m-%d", time.gmtime(midnight - 2 * day * n)) for n in range(30)]
    assert [when for when, _ in rows] == expected  # newest first; older days and bonuses cut
    amounts = [re.findall(r"\$\d+\.\d\d", cells) for _, cells in rows]
    assert amounts[0] == ["$1.00", "$0.00", "$1.00"]  # two approvals of $0.50 on the newest
    assert amounts[1:] == [["$0.50", "$0.00", "$0.50"]] * 29
    assert "(the last 30 days with earnings; UTC days)" in page

    with local_store(mturk_local.app).transaction() as session:
        for bonus in session.scalars(select(Bonus).where(Bonus.worker_id == "ADASHDAYS")):
            bonus.grant_time = midnight + 7200  # all 33 bonuses of 10 cents today
    rows = re.findall(r'<tr data-day="([\d-]+)">(.*?)</tr>', dashboard(worker), re.S)
    assert re.findall(r"\$\d+\.\d\d", rows[0][1]) == ["$1.00", "$3.30", "$4.30"]


def test_the_number_of_statements_does_not_grow_with_what_is_shown(mturk_local):
    client = mturk_local.client
    hit_ids = new_hits(client, 27)
    type_id = client.create_qualification_type(
        Name="Careful reader", Description="d", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    asked_id = client.create_qualification_type(
        Name="Asked for", Description="d", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    costs = {}
    for worker_id, hits, messages in (("ADASHFEW", hit_ids[:2], 1), ("ADASHMANY", hit_ids[2:], 12)):
        worker = Worker(mturk_local.url, worker_id)
        worker.sign_in()
        add_history(mturk_local, worker_id, hits, messages)
        client.associate_qualification_with_worker(
            QualificationTypeId=type_id, WorkerId=worker_id, IntegerValue=3
        )
        worker.request(f"/worker/qualifications/{asked_id}")
        status, _, _ = worker.request(f"/worker/qualifications/{asked_id}/request", [])
        assert status == 200
        dashboard(worker)  # a first request may do one-off work (the sweep)
        with statements(mturk_local) as seen:
            page = dashboard(worker)
        assert "Careful reader" in page and "Asked for" in page
        costs[worker_id] = len(seen)
    assert len(blocks(page)) == 25 and page.count('class="bonus-note"') == 25
    assert costs["ADASHMANY"] == costs["ADASHFEW"], costs
    assert costs["ADASHFEW"] <= 30, costs


def test_qualifications_held_and_asked_and_messages(mturk_local):
    client = mturk_local.client
    [hit_id] = new_hits(client, 1)
    worker = Worker(mturk_local.url, "ADASHQUALS")
    worker.sign_in()
    work(worker, hit_id)
    granted = client.create_qualification_type(
        Name="Receipt expert", Description="d", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    client.associate_qualification_with_worker(
        QualificationTypeId=granted, WorkerId="ADASHQUALS", IntegerValue=85
    )
    asked = client.create_qualification_type(
        Name="French speaker", Description="d", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    worker.request(f"/worker/qualifications/{asked}")
    status, _, _ = worker.request(f"/worker/qualifications/{asked}/request", [])
    assert status == 200
    with local_store(mturk_local.app).transaction() as session:
        qualifications.set_profile_value(
            session, "ADASHQUALS", qualifications.LOCALE, qualifications.Score(country="FR")
        )
    client.notify_workers(
        Subject="Thanks for your work", MessageText="More HITs\ntomorrow.", WorkerIds=["ADASHQUALS"]
    )

    page = dashboard(worker)
    held = re.search(r'<table id="held-qualifications".*?</table>', page, re.S).group(0)
    expert = re.search(rf'<tr data-type-id="{granted}">(.*?)</tr>', held, re.S).group(1)
    assert f'href="/worker/qualifications/{granted}"' in expert and ">85</span>" in expert
    assert "Receipt expert" in expert and "tests" in expert and TIME.search(expert)
    locale = re.search(rf'<tr data-type-id="{qualifications.LOCALE}">(.*?)</tr>', held, re.S)
    assert locale and "Worker_Locale" in locale.group(1) and ">FR</span>" in locale.group(1)
    assert "href" not in locale.group(1)  # a profile value has no page to request it from
    [pending] = re.findall(r'<ul class="asked" id="asked-qualifications">(.*?)</ul>', page, re.S)
    assert f'href="/worker/qualifications/{asked}"' in pending and "French speaker" in pending
    assert "Waiting for the requester" in pending and TIME.search(pending)

    subjects = re.findall(r'<h3 id="message-\d+">(.*?)</h3>', page)
    assert subjects == ["Thanks for your work", "Qualification granted: Receipt expert"]
    assert "More HITs\ntomorrow." in page and "From tests" in page


def test_the_dashboard_reads_the_same_on_postgresql(mturk_postgres):
    """Days, sums and counts are computed by the database: PostgreSQL's FLOOR and NUMERIC
    sums give what SQLite's CAST and integer sums do."""
    hit_ids = new_hits(mturk_postgres.client, 28)
    worker = Worker(mturk_postgres.url, "ADASHPG")
    worker.sign_in()
    ids = add_history(mturk_postgres, "ADASHPG", hit_ids[:27], messages=11)
    rejected = work(worker, hit_ids[27])
    mturk_postgres.client.reject_assignment(AssignmentId=rejected, RequesterFeedback="No")
    page = dashboard(worker)
    assert text_of(page, "earned-approved") == "$13.50"
    assert text_of(page, "earned-bonuses") == "$2.70"
    assert text_of(page, "earned-total") == "$16.20"
    assert text_of(page, "approval-rate") == "96%"  # 27 of 28, rounded down
    [(day, cells)] = re.findall(r'<tr data-day="([\d-]+)">(.*?)</tr>', page, re.S)
    assert day == time.strftime("%Y-%m-%d", time.gmtime())
    assert re.findall(r"\$\d+\.\d\d", cells) == ["$13.50", "$2.70", "$16.20"]
    assert list(blocks(page)) == [rejected, *ids[::-1][:24]]
    assert "1–25 of 28, newest first" in page and "1–10 of 11, newest first" in page
    # A cursor past INTEGER's range (PostgreSQL refuses to compare it: it was a 500) is
    # ignored, like any other cursor that names no row.
    for beyond in ("?a_before=2147483648", "?b_after=999999999999999999", "?m_before=9999999999"):
        assert list(blocks(dashboard(worker, beyond))) == list(blocks(page)), beyond
