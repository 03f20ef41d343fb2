"""A worker driving the local MTurk worker site over real HTTP, form by form; and a helper
for the tests that kill a process on purpose."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Worker:
    def __init__(self, base_url: str, worker_id: str) -> None:
        self.base_url = base_url
        self.worker_id = worker_id
        cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))

    def request(self, path: str, form: list[tuple[str, str]] | None = None) -> tuple[int, str, str]:
        """(status, final URL, body) of a GET, or of a form POST when ``form`` is given."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base_url + path, data=data, timeout=10) as response:
                return response.status, response.url, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.url, error.read().decode()

    def sign_in(self) -> str:
        status, _, page = self.request("/worker/login", [("worker_id", self.worker_id)])
        assert status == 200, page
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
