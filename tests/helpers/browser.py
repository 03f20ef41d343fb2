"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests.

``.ci/run`` installs Chromium and sets HITBLOCKS_REQUIRE_BROWSER, so a missing browser fails
CI instead of skipping its tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.worker_site import PASSWORD, email_of, ensure_worker

CHROMIUM = os.environ.get("HITBLOCKS_TEST_CHROMIUM") or shutil.which("chromium") or ""
if os.environ.get("HITBLOCKS_REQUIRE_BROWSER") and not CHROMIUM:
    raise RuntimeError("HITBLOCKS_REQUIRE_BROWSER is set but Chromium is not installed")
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium(playwright_api: Any, *extra_flags: str) -> Iterator[Any]:
    """A headless Chromium, closed afterwards."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            chromium_sandbox=False,
            args=[*FLAGS, *extra_flags],
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def offline_context(playwright_api: Any) -> Iterator[tuple[Any, list[str]]]:
    """A browser context that reaches loopback only, as a worker with no internet: it
    refuses every other URL, and gives the list of those it asked for."""
    refused: list[str] = []

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    with chromium(playwright_api) as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        context.route("**/*", only_loopback)
        yield context, refused


def sign_in(page: Any, base_url: str, worker_id: str) -> None:
    """A worker with an account (tests/worker_site.py's) signs in on the sign-in page."""
    ensure_worker(base_url, worker_id)
    page.goto(f"{base_url}/worker")
    page.fill("#email", email_of(worker_id))
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_selector("#worker-id")


def expect_submitted(page: Any) -> None:
    """The task page acknowledged a submit in its frame (static/worker.js says so in its live
    region, then the flow goes on: to the group's next HIT, or to the list, which says it)."""
    from playwright.sync_api import expect

    expect(page.locator("#flow-status")).to_contain_text("Submitted")


def screenshot_folder(fallback: Path) -> Path:
    """Where browser tests keep their screenshots: ``HITBLOCKS_SCREENSHOTS`` (CI sets it, so
    the screenshots are its artifacts), else the test's own temporary folder."""
    folder = Path(os.environ.get("HITBLOCKS_SCREENSHOTS") or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
