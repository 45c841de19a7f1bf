"""Headless Chromium (Debian's chromium) through Playwright, for the browser tests: skipped
on a machine without them, required where TRUECLASS_REQUIRE_BROWSER=1 (CI)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REQUIRE_BROWSER = os.environ.get("TRUECLASS_REQUIRE_BROWSER") == "1"
OUTPUT = Path(os.environ.get("TRUECLASS_TEST_OUTPUT", Path(__file__).resolve().parents[1] / "test-output"))


def chromium_path() -> str:
    for name in (os.environ.get("TRUECLASS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    if REQUIRE_BROWSER:
        pytest.fail("headless Chromium is required here (apt-get install chromium)")
    pytest.skip("no Chromium on this machine")


def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE_BROWSER:
            pytest.fail("Playwright is required here (pip install -e '.[test]')")
        pytest.skip("Playwright is not installed")
    return sync_playwright




def open_page(p, *, width: int, height: int, camera: bool = False):
    """A headless Chromium page through Playwright's ``p``: (browser, context, page, the
    list the page's script errors go to). ``camera``: Chromium's fake camera, allowed."""
    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    if camera:
        args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    browser = p.chromium.launch(executable_path=chromium_path(), args=args)
    context = browser.new_context(viewport={"width": width, "height": height})
    if camera:
        context.grant_permissions(["camera"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return browser, context, page, errors
