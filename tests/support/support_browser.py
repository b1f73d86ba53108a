"""Headless Chromium for the browser tests: Debian's ``chromium`` + ``chromium-driver`` driven by selenium.

``browser_or_skip`` skips the test (with the reason) when either binary or selenium is missing; ``.ci/run``
installs both. Each browser gets a fresh profile directory and flags that keep it off the network.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SEDNA_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SEDNA_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def browser_or_skip(width: int = 1280, height: int = 800):
    """A started selenium Chrome driver at ``width``x``height``; the caller quits it."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).exists() or shutil.which(p))]
    if missing:
        pytest.skip(f"no headless browser: {', '.join(missing)} missing (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="sedna-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.sedna_profile = profile
    viewport(driver, width, height)
    return driver


def viewport(driver, width: int, height: int) -> None:
    """Make the page's viewport exactly ``width``x``height`` CSS pixels (a window size includes its frame)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def quit_browser(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "sedna_profile", ""), ignore_errors=True)


def artifacts_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``$SEDNA_TEST_ARTIFACTS`` when set (CI keeps it), else under the test's tmp dir."""
    base = Path(os.environ["SEDNA_TEST_ARTIFACTS"]) if os.environ.get("SEDNA_TEST_ARTIFACTS") else tmp_path
    out = base / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def elements(driver, selector: str) -> list[dict]:
    """``[{"text", "data"}]`` of every element matching ``selector``, read in one script: the page re-renders
    on every pushed change, so element handles kept across calls go stale."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => ({text: e.innerText, data: {...e.dataset}}));",
        selector)


def text(driver, selector: str) -> str:
    """The text of the first element matching ``selector`` ("" when there is none)."""
    found = elements(driver, selector)
    return found[0]["text"] if found else ""


def click(driver, selector: str) -> bool:
    return bool(driver.execute_script(
        "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e;", selector))
