"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests.

``.ci/run`` installs Chromium and sets HITBLOCKS_REQUIRE_BROWSER, so a missing browser fails
CI instead of skipping its tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
