"""Worker accounts on the MTurk service: sign-up by invitation, passwords, signed sessions,
CSRF, the sign-in rate limit, who may submit which assignment, and `hitblocks workers`."""

from __future__ import annotations

import json
import math
import os
import re
import stat
import urllib.error
import urllib.parse
import urllib.request

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from app.cli import main
from mturk.questions import html_question
from mturk.service import create_service_app, local_store, qualifications
from mturk.service.store import Assignment, WorkerAccount, WorkerInvitation, new_id
from mturk.service.workers import (
    create_invitations,
    create_worker,
    disable_worker,
    instance_secret_key,
    reset_password,
    signup_link,
)
from tests.worker_site import PASSWORD, Worker

FORM = (
    '<form method="post" action="/mturk/externalSubmit">'
    '<input type="hidden" name="assignmentId"><input name="answer"></form>'
)
COOKIE = "hitblocks_worker_session"


def new_hit(client, max_assignments: int = 1) -> str:
    type_id = client.create_hit_type(
        Title="Transcribe a receipt",
        Description="Type the total",
        Reward="0.50",
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=3600,
    )["HITTypeId"]
    return client.create_hit_with_hit_type(
        HITTypeId=type_id,
        MaxAssignments=max_assignments,
        LifetimeInSeconds=3600,
        Question=html_question(FORM),
    )["HIT"]["HITId"]


def assignments_of(mturk_local, hit_id: str) -> list[Assignment]:
    with local_store(mturk_local.app).transaction() as session:
        return list(session.scalars(select(Assignment).where(Assignment.hit_id == hit_id)))


def signed_in(worker: Worker) -> bool:
    return 'id="worker-id"' in worker.request("/worker")[2]


def session_cookie(worker: Worker):
    [cookie] = [c for c in worker.cookies if c.name == COOKIE]
    return cookie


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# ---- accounts and sessions ---------------------------------------------------------------


def test_a_worker_signs_in_with_the_right_password_only(mturk_local):
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.request("/worker")
    status, _, page = worker.request(
        "/worker/login", [("email", worker.email), ("password", "wrong password")]
    )
    assert status == 401 and "Wrong email address or password" in page
    assert not signed_in(worker)
    status, _, page = worker.request(
        "/worker/login", [("email", "nobody@workers.test"), ("password", PASSWORD)]
    )
    assert status == 401 and "Wrong email address or password" in page  # no telling which
    assert "AWORKER1" in worker.sign_in()
    worker.request("/worker/logout", [])
    assert not signed_in(worker)


def test_the_email_is_unique_whatever_its_case_and_the_password_is_hashed(mturk_local):
    store = local_store(mturk_local.app)
    account = create_worker(store, "Ann@Example.org", "a long password")
    assert re.fullmatch(r"A[A-Z0-9]{13}", account.id)
    assert account.password_hash.startswith("$argon2id$")
    assert "a long password" not in account.password_hash
    for email in ("ann@example.org", " ANN@EXAMPLE.ORG "):
        try:
            create_worker(store, email, "another password")
            raise AssertionError("a second account with the same email")
        except Exception as error:  # noqa: BLE001 - the message is what matters
            assert "already exists" in str(error)


def test_a_tampered_or_forged_cookie_is_no_session(mturk_local):
    hit_id = new_hit(mturk_local.client)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    cookie = session_cookie(worker)
    payload, _, signature = cookie.value.rpartition(".")
    cookie.value = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not signed_in(worker)

    # A cookie that says the right things, signed with another key.
    forger = Flask("forger")
    forger.secret_key = "not the service's key"
    forged = SecureCookieSessionInterface().get_signing_serializer(forger)
    assert forged is not None
    thief = Worker(mturk_local.url, "ATHIEF1")
    thief.sign_in()
    session_cookie(thief).value = forged.dumps({"worker_id": "AWORKER1", "stamp": "0" * 16})
    assert not signed_in(thief)
    thief.request(f"/worker/hits/{hit_id}/accept", [])
    assert assignments_of(mturk_local, hit_id) == []

    # The old sign-in: a cookie holding a worker id.
    old = Worker(mturk_local.url, "AOLD1", create=False)
    old.opener.addheaders = [("Cookie", "worker_id=AWORKER1")]
    assert not signed_in(old)


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(tmp_path):
    app = create_service_app(f"sqlite:///{tmp_path / 's.sqlite3'}")
    create_worker(local_store(app), "ann@example.org", PASSWORD)
    for base_url, secure in (("http://localhost", False), ("https://localhost", True)):
        client = app.test_client()
        page = client.get("/worker", base_url=base_url).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post(
            "/worker/login",
            data={"email": "ann@example.org", "password": PASSWORD, "csrf_token": token},
            base_url=base_url,
            headers={"Referer": f"{base_url}/worker"},
        )
        assert response.status_code == 302
        cookie = response.headers["Set-Cookie"]
        name = f"__Host-{COOKIE}" if secure else COOKIE  # no other host can set it over https
        assert cookie.startswith(f"{name}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure and "Domain" not in cookie and "Path=/" in cookie


def test_a_disabled_worker_loses_the_session_the_sign_in_and_the_submit(mturk_local):
    hit_id = new_hit(mturk_local.client)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    disable_worker(local_store(mturk_local.app), worker.email.upper())
    assert not signed_in(worker)
    status, _, page = worker.request(
        "/worker/login", [("email", worker.email), ("password", PASSWORD)]
    )
    assert status == 401 and "disabled" in page
    status, page = Worker(mturk_local.url, "AOTHER1", create=False).submit(
        assignment_id, [("answer", "x")]
    )
    assert status == 403 and "disabled" in page
    assert assignments_of(mturk_local, hit_id)[0].status == "Accepted"


def test_a_new_password_ends_the_sessions_of_the_old_one(mturk_local):
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    reset_password(local_store(mturk_local.app), worker.email, "a brand new password")
    assert not signed_in(worker)
    worker.request("/worker")
    status, _, _ = worker.request(
        "/worker/login", [("email", worker.email), ("password", PASSWORD)]
    )
    assert status == 401
    assert "AWORKER1" in worker.sign_in("a brand new password")


# ---- sign-up -------------------------------------------------------------------------------


def sign_up(base_url: str, link_or_path: str, email: str) -> tuple[int, str]:
    worker = Worker(base_url, "ANEW", create=False)
    path = link_or_path.removeprefix(base_url)
    worker.request("/worker")  # a page with a form, so the CSRF token, whatever comes next
    worker.request(path)
    invitation = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("invitation", [""])
    status, _, page = worker.request(
        "/worker/signup",
        [("invitation", invitation[0]), ("email", email), ("password", "a long password")],
    )
    return status, page


def test_an_invitation_signs_up_one_worker_once(mturk_local):
    [token] = create_invitations(local_store(mturk_local.app), 1)
    path = f"/worker/signup?invitation={token}"
    status, page = sign_up(mturk_local.url, path, "ann@example.org")
    assert status == 200 and re.search(r'id="worker-id">A[A-Z0-9]{13}<', page), page
    status, page = sign_up(mturk_local.url, path, "bob@example.org")
    assert status == 400 and "not valid" in page
    assert get(mturk_local.url + path)[0] == 404
    with local_store(mturk_local.app).transaction() as session:
        assert session.scalars(select(WorkerAccount.email)).all() == ["ann@example.org"]
        assert token not in session.scalars(select(WorkerInvitation.token_hash)).all()


def test_sign_up_is_by_invitation_unless_open(mturk_local, tmp_path):
    [expired] = create_invitations(local_store(mturk_local.app), 1, days=0)
    status, page = sign_up(mturk_local.url, f"/worker/signup?invitation={expired}", "a@b.org")
    assert status == 400 and "not valid" in page
    assert get(mturk_local.url + "/worker/signup")[0] == 403
    status, page = sign_up(mturk_local.url, "/worker/signup", "ann@example.org")
    assert status == 400 and "needs an invitation" in page

    app = create_service_app(f"sqlite:///{tmp_path / 'open.sqlite3'}", open_signup=True)
    client = app.test_client()
    page = client.get("/worker/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/worker/signup",
        data={"email": "ann@example.org", "password": "a long password", "csrf_token": token},
    )
    assert response.status_code == 302
    assert 'id="worker-id"' in client.get("/worker").get_data(as_text=True)


# ---- CSRF, and whose assignment ------------------------------------------------------------


def test_a_form_without_the_csrf_token_accepts_nothing(mturk_local):
    hit_id = new_hit(mturk_local.client)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    # What an auto-submitting page on another site (or another port of this host) sends.
    status, _, page = worker.request(f"/worker/hits/{hit_id}/accept", [], csrf=False)
    assert status == 400 and "not sent from a page of the worker site" in page
    other = Worker(mturk_local.url, "AWORKER2")
    other.sign_in()
    status, _, _ = worker.request(f"/worker/hits/{hit_id}/accept", [("csrf_token", "x")], False)
    assert status == 400
    worker.csrf_token = other.csrf_token  # a token of another session
    assert worker.request(f"/worker/hits/{hit_id}/accept", [])[0] == 400
    assert assignments_of(mturk_local, hit_id) == []
    assert worker.request("/worker/logout", [], csrf=False)[0] == 400
    assert signed_in(worker)


def test_a_worker_cannot_submit_another_workers_assignment(mturk_local):
    hit_id = new_hit(mturk_local.client)
    owner = Worker(mturk_local.url, "AWORKER1")
    owner.sign_in()
    assignment_id = owner.accept(hit_id)
    intruder = Worker(mturk_local.url, "AWORKER2")
    intruder.sign_in()
    status, page = intruder.submit(assignment_id, [("answer", "mine now")])
    assert status == 403 and "not yours" in page
    [assignment] = assignments_of(mturk_local, hit_id)
    assert (assignment.status, assignment.answer) == ("Accepted", None)
    assert owner.submit(assignment_id, [("answer", "12.00")])[0] == 200


def test_external_submit_takes_only_an_accepted_assignment(mturk_local):
    hit_id = new_hit(mturk_local.client, max_assignments=3)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    returned = worker.accept(hit_id)
    worker.give_back(returned)
    status, page = worker.submit(returned, [("answer", "x")])
    assert status == 409 and "returned" in page

    late = Worker(mturk_local.url, "AWORKER2")
    late.sign_in()
    overdue = late.accept(hit_id)
    with local_store(mturk_local.app).transaction() as session:
        session.scalars(select(Assignment).where(Assignment.id == overdue)).one().deadline = 0
    status, page = late.submit(overdue, [("answer", "x")])
    assert status == 409 and "run out" in page
    assert all(a.answer is None for a in assignments_of(mturk_local, hit_id))


def test_external_submit_accepts_mturks_get_form(mturk_local):
    hit_id = new_hit(mturk_local.client)
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    # At least 128 bits of randomness: 30 characters of 36 (MTurk's shape), ~155 bits.
    assert re.fullmatch(r"[A-Z0-9]{30}", assignment_id) and len(new_id()) * math.log2(36) > 128
    query = urllib.parse.urlencode(
        {"assignmentId": assignment_id, "data": json.dumps({"answer": 12})}
    )
    status, page = get(f"{mturk_local.url}/mturk/externalSubmit?{query}")  # no session
    assert status == 200 and "HIT submitted" in page
    [assignment] = mturk_local.client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert "<QuestionIdentifier>data</QuestionIdentifier>" in assignment["Answer"]
    assert get(f"{mturk_local.url}/mturk/externalSubmit?{query}")[0] == 409


# ---- the sign-in rate limit ----------------------------------------------------------------


def test_failed_sign_ins_are_limited_per_email_then_per_address(mturk_local):
    worker = Worker(mturk_local.url, "AWORKER1")
    worker.request("/worker")
    wrong = [("email", worker.email), ("password", "wrong password")]
    for _ in range(5):
        assert worker.request("/worker/login", wrong)[0] == 401
    right = [("email", worker.email), ("password", PASSWORD)]
    status, _, page = worker.request("/worker/login", right)
    assert status == 429 and "Too many failed sign-in attempts" in page
    assert not signed_in(worker)
    other = Worker(mturk_local.url, "AWORKER2")
    assert "AWORKER2" in other.sign_in()  # another email from the same address still may

    for n in range(15):  # 5 + 15 = 20 failures from this address in the minute
        wrong = [("email", f"guess{n}@workers.test"), ("password", "wrong password")]
        assert worker.request("/worker/login", wrong)[0] == 401
    third = Worker(mturk_local.url, "AWORKER3")
    third.request("/worker")
    status, _, page = third.request(
        "/worker/login", [("email", third.email), ("password", PASSWORD)]
    )
    assert status == 429 and "Try again in" in page


# ---- hitblocks workers ... -----------------------------------------------------------------


def test_the_workers_commands(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    app.config.update(MTURK_LOCAL_DATABASE_URL=url, MTURK_LOCAL_SECRET_KEY="test key")
    runner = app.test_cli_runner()

    def run(*args: str, password: str = "") -> list[str]:
        result = runner.invoke(main, ["workers", *args], input=password + "\n")
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    created = run("create", "--email", "Ann@Example.org", "--password-stdin", password=PASSWORD)
    worker_id = created[-1]
    assert re.fullmatch(r"A[A-Z0-9]{12,14}", worker_id)
    again = runner.invoke(main, ["workers", "create", "--email", "ann@example.org",
                                 "--password-stdin"], input="other password\n")  # fmt: skip
    assert again.exit_code != 0 and "already exists" in again.output

    links = run("invite", "--count", "2")
    assert len(links) == 2 and len(set(links)) == 2
    assert all(link.startswith("http://127.0.0.1:5001/worker/signup?invitation=") for link in links)

    service = create_service_app(url)
    client = service.test_client()

    def sign_in(email: str, password: str) -> int:
        page = client.get("/worker").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        data = {"email": email, "password": password, "csrf_token": token}
        return client.post("/worker/login", data=data).status_code

    assert sign_in("ann@example.org", PASSWORD) == 302
    assert worker_id in client.get("/worker").get_data(as_text=True)
    page = client.get(links[0].removeprefix("http://127.0.0.1:5001")).get_data(as_text=True)
    assert 'name="invitation"' in page

    run("reset-password", "--email", "ann@example.org", "--password-stdin", password="new one!!")
    assert "Sign in as a worker" in client.get("/worker").get_data(as_text=True)
    assert sign_in("ann@example.org", PASSWORD) == 401
    assert sign_in("ann@example.org", "new one!!") == 302
    run("disable", "--email", "ann@example.org")
    assert "Sign in as a worker" in client.get("/worker").get_data(as_text=True)
    missing = runner.invoke(main, ["workers", "disable", "--email", "nobody@example.org"])
    assert missing.exit_code != 0 and "No worker" in missing.output
    local_store(service).dispose()


def test_the_session_key_is_made_once_into_a_private_file(tmp_path):
    key = instance_secret_key(tmp_path / "instance")
    assert len(key) == 64 and instance_secret_key(tmp_path / "instance") == key
    mode = os.stat(tmp_path / "instance" / "mturk-service-secret-key").st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_behind_a_trusted_proxy_the_cookie_is_secure_for_https_clients(tmp_path):
    """With proxy_hops, X-Forwarded-Proto from the TLS proxy counts; without, it does not."""
    for hops, secure in ((0, False), (1, True)):
        app = create_service_app(f"sqlite:///{tmp_path / f's{hops}.sqlite3'}", proxy_hops=hops)
        create_worker(local_store(app), "ann@example.org", PASSWORD)
        client = app.test_client()
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "work.example.org"}
        page = client.get("/worker", headers=proxied).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post(
            "/worker/login",
            data={"email": "ann@example.org", "password": PASSWORD, "csrf_token": token},
            headers={**proxied, "Referer": "https://work.example.org/worker"},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        assert ("Secure" in response.headers["Set-Cookie"]) is secure


def test_a_session_cookie_planted_beside_the_workers_own_makes_no_session(mturk_local):
    """Cookie tossing: a task page on another port of the host (or a sibling host) sets a
    signed-in session of the attacker's for /worker; the browser sends both. Neither counts."""
    attacker, victim = Worker(mturk_local.url, "AATTACKER01"), Worker(mturk_local.url, "AVICTIM01")
    attacker.sign_in()
    victim.sign_in()
    planted = next(c.value for c in attacker.cookies if c.name == COOKIE)
    own = next(c.value for c in victim.cookies if c.name == COOKIE)
    tossed = Worker(mturk_local.url, "AVICTIM01", create=False)
    tossed.opener.addheaders = [("Cookie", f"{COOKIE}={planted}; {COOKIE}={own}")]
    assert not signed_in(tossed)
    assert "AATTACKER01" not in tossed.request("/worker")[2]


def test_the_sign_up_page_keeps_the_referer_its_own_https_form_needs(tmp_path):
    """Over https CSRF protection wants a same-origin Referer: the sign-up page (whose URL
    holds the invitation) must let the browser send it to its own site, and to no other."""
    app = create_service_app(f"sqlite:///{tmp_path / 's.sqlite3'}")
    [token] = create_invitations(local_store(app), 1)
    page = app.test_client().get(
        signup_link("https://work.example.org", token), base_url="https://work.example.org"
    )
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "same-origin"


def test_the_profile_command_sets_locale_adult_and_masters(app, tmp_path):
    """An administrator's settings are the values requirements on Worker_Locale, Worker_Adult
    and Masters (live and sandbox ids) are checked against."""
    url = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    app.config.update(MTURK_LOCAL_DATABASE_URL=url, MTURK_LOCAL_SECRET_KEY="test key")
    runner = app.test_cli_runner()

    def profile(*args: str) -> list[str]:
        result = runner.invoke(main, ["workers", "profile", "--email", "ann@example.org", *args])
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    created = runner.invoke(
        main, ["workers", "create", "--email", "ann@example.org", "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    worker_id = created.output.splitlines()[-1]
    assert profile()[1:] == [
        "Worker_Locale (00000000000000000071): -",
        "Worker_Adult (00000000000000000060): -",
        "Masters (2ARFPLSP75KLA8M8DH1HTEQFJHVNQY): -",
        "Masters (2F1KVCNHMVHV8E9PBUB2A4J79LU20F): -",
    ]
    lines = profile("--locale", "us-ca", "--adult", "--masters")
    assert lines[1:] == [
        "Worker_Locale (00000000000000000071): US-CA",
        "Worker_Adult (00000000000000000060): 1",
        "Masters (2ARFPLSP75KLA8M8DH1HTEQFJHVNQY): 1",
        "Masters (2F1KVCNHMVHV8E9PBUB2A4J79LU20F): 1",
    ]
    service = create_service_app(url)
    with local_store(service).transaction() as session:
        score = qualifications.score_of(session, worker_id, qualifications.LOCALE)
        requirement = {
            "QualificationTypeId": qualifications.LOCALE,
            "Comparator": "EqualTo",
            "LocaleValues": [{"Country": "US", "Subdivision": "CA"}],
        }
        assert qualifications.meets(requirement, score)
    local_store(service).dispose()
    lines = profile("--locale", "none", "--no-masters")
    assert lines[1] == "Worker_Locale (00000000000000000071): -"
    assert lines[3:] == [
        "Masters (2ARFPLSP75KLA8M8DH1HTEQFJHVNQY): -",
        "Masters (2F1KVCNHMVHV8E9PBUB2A4J79LU20F): -",
    ]
    for bad in (["--locale", "USA"], ["--locale", "U1"]):
        refused = runner.invoke(main, ["workers", "profile", "--email", "ann@example.org", *bad])
        assert refused.exit_code != 0 and "is not a locale" in refused.output
    nobody = runner.invoke(main, ["workers", "profile", "--email", "nobody@example.org"])
    assert nobody.exit_code != 0 and "No worker" in nobody.output
