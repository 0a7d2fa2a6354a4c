"""What the studio's browser tests share: Debian's chromium, a free port, a studio in a thread, screenshots.

Every browser test module calls `skip_without_browser()` first: it skips the module (with the
reason) where chromium or playwright is missing; CI installs both (.ci/run). The `browser`, `page`
and `studio_url` fixtures are in conftest.py. Set STUDIO_SCREENSHOTS=/some/folder to keep a
screenshot of every stage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def skip_without_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    pytest.importorskip("uvicorn")


def shoot(page, name: str) -> None:
    folder = os.environ.get("STUDIO_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"studio-{name}.png"), full_page=True)


def settled(page) -> None:
    """Wait until a labeling page's late line has arrived: the line on what the texts without labels
    cost appears after its own request and pushes the sections below it down, so a click aimed at
    "Train the model" or "Check the labels" before then can land on whatever moved there."""
    from playwright.sync_api import expect

    expect(page.locator("#label-unlabeled-estimate")).to_be_visible(timeout=60_000)
