"""The real-browser tests' one way to get a browser: Playwright driving Debian's chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # the system package; Playwright's own browser download is not used


def sync_playwright_or_fail():
    """playwright's sync API and the system chromium, or a failure that says how to get them
    (never a skip: CI must run these tests)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: .venv/bin/pip install -c constraints.txt -r requirements-dev.txt")
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: sudo apt-get install -y chromium (Debian's package; playwright's own "
                    "browser download is not used)")
    return sync_playwright


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def launch_chromium(pw):
    """Headless system chromium under a started `sync_playwright()`."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
