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


