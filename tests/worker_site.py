"""A worker driving the local MTurk worker site over real HTTP, form by form, as a browser
would (the CSRF token taken from the page, sent back with each form); and a helper for the
tests that kill a process on purpose.

A ``Worker`` gets its account from the service's own functions, on the store of the service
at its URL: ``LocalMTurk`` (tests/conftest.py) registers every service it describes here."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import weakref
from pathlib import Path

from flask import Flask

from mturk.service import local_store
from mturk.service.workers import WorkerError, create_worker

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SERVICES: weakref.WeakValueDictionary[str, Flask] = weakref.WeakValueDictionary()


def register_service(url: str, app: Flask) -> None:
    SERVICES[url] = app


def email_of(worker_id: str) -> str:
    return f"{worker_id.lower()}@workers.test"


def ensure_worker(base_url: str, worker_id: str, app: Flask | None = None) -> None:
    """The account of ``worker_id`` on the service at ``base_url`` (made once)."""
    if app is None:
        assert base_url in SERVICES, (
            f"No service app known at {base_url}: pass app=, or call register_service(url, app)"
        )
        app = SERVICES[base_url]
    try:
        create_worker(local_store(app), email_of(worker_id), PASSWORD, worker_id)
    except WorkerError as error:
        assert "already exists" in str(error), error


class Worker:
    def __init__(
        self, base_url: str, worker_id: str, create: bool = True, app: Flask | None = None
    ) -> None:
        """``create``: give the worker an account first (with the id ``worker_id``), on the
        service ``app``, by default the one registered at ``base_url``."""
        self.base_url = base_url
        self.worker_id = worker_id
        self.email = email_of(worker_id)
        self.csrf_token = ""
        if create:
            ensure_worker(base_url, worker_id, app)
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(
        self, path: str, form: list[tuple[str, str]] | None = None, csrf: bool = True
    ) -> tuple[int, str, str]:
        """(status, final URL, body) of a GET, or of a form POST when ``form`` is given; a
        form to the worker site carries the CSRF token of the last page seen, as a browser's
        would (``csrf=False``: a form from another site, without it)."""
        if form is not None and csrf and path.startswith("/worker"):
            form = [("csrf_token", self.csrf_token), *form]
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base_url + path, data=data, timeout=10) as response:
                status, url, body = response.status, response.url, response.read().decode()
        except urllib.error.HTTPError as error:
            status, url, body = error.code, error.url, error.read().decode()
        if match := CSRF_FIELD.search(body):
            self.csrf_token = match.group(1)
        return status, url, body

    def sign_in(self, password: str = PASSWORD) -> str:
        """Sign in from the sign-in page; the page the site then shows (the HITs)."""
        self.request("/worker")
        status, _, page = self.request(
            "/worker/login", [("email", self.email), ("password", password)]
        )
        assert status == 200 and 'id="worker-id"' in page, page
        return page

    def accept(self, hit_id: str) -> str:
        """Accept a HIT; the assignment id, from the work page the site redirects to."""
        status, url, page = self.request(f"/worker/hits/{hit_id}/accept", [])
        assert status == 200, page
        match = re.search(r"/worker/assignments/([A-Z0-9]+)$", url)
        assert match, (url, page)
        return match.group(1)

    def submit(self, assignment_id: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
        """Post the task's form as the task page would, to /mturk/externalSubmit."""
        status, _, page = self.request(
            "/mturk/externalSubmit", [("assignmentId", assignment_id), *fields]
        )
        return status, page

    def give_back(self, assignment_id: str) -> None:
        status, _, page = self.request(f"/worker/assignments/{assignment_id}/return", [])
        assert status == 200, page


def complete(base_url: str, hit_id: str, worker_id: str, fields: list[tuple[str, str]]) -> str:
    """A worker signs in, accepts the HIT and submits these fields; the assignment id."""
    worker = Worker(base_url, worker_id)
    worker.sign_in()
    assignment_id = worker.accept(hit_id)
    status, page = worker.submit(assignment_id, fields)
    assert status == 200, page
    return assignment_id


def run_killed_script(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python script that is meant to kill itself (``os._exit``) at a chosen line."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
