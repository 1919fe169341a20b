"""Headless Chromium for the console tests: Debian's `chromium` driven by Playwright (never a
downloaded browser build). One browser per test session; each test opens its own contexts.

Where no browser can be had the tests skip and say why: Playwright not installed, or no Chromium
(`apt-get install chromium`, or TOPAPI_CHROMIUM=/path/to/chromium). Screenshots go to
topapi-report/console-screenshots/ (git-ignored); docs/img/ holds the copies the README shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "topapi-report" / "console-screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1360, "height": 860}


def chromium_path() -> str | None:
    configured = os.environ.get("TOPAPI_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser per module, not per session: while Playwright's sync API is open it keeps an event
    loop running on this thread, and pytest-asyncio's tests could not run their own after it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[dev]'): console browser tests skipped")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set TOPAPI_CHROMIUM): console browser tests skipped")
    with sync_playwright() as playwright:
        try:
            instance = playwright.chromium.launch(executable_path=path, args=ARGS, headless=True)
        except Exception as exc:  # a browser that cannot start on this machine
            pytest.skip(f"Chromium at {path} did not start: {str(exc).splitlines()[0]}")
        yield instance
        instance.close()


class Pages:
    """A browser context for one person (own cookies, locale), failing on any script error or
    Content-Security-Policy violation the pages cause."""

    def __init__(self, browser: Any, base_url: str, locale: str = "en") -> None:
        self.base_url = base_url
        self.context = browser.new_context(locale=locale, viewport=VIEWPORT, base_url=base_url)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        self.problems: list[str] = []
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        text = message.text
        # a 401/403 answer is logged by the browser as a failed resource: expected (login probes, denials)
        if message.type == "error" and "Failed to load resource" not in text:
            self.problems.append(f"console error: {text}")

    def close(self) -> None:
        self.context.close()
        assert not self.problems, self.problems

    def login(self, console: str, username: str, password: str, *, username_label: str = "Username",
              password_label: str = "Password", submit: str = "Sign in") -> Any:
        page = self.page
        page.goto(f"/console/{console}/")
        page.get_by_label(username_label).fill(username)
        page.get_by_label(password_label).fill(password)
        page.get_by_role("button", name=submit, exact=True).click()
        page.locator("header.top, [role=alert]").first.wait_for()
        return page


def expect(target: Any) -> Any:
    """Playwright's `expect` (imported late: without Playwright the tests skip rather than fail to load)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")  # transient, not the page
    page.screenshot(path=str(path))
    return path
