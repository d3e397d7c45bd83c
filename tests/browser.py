"""Debian's Chromium under selenium, for the browser tests (the unit tier's in-process wallboard
and the e2e wallboard on the real stack). ``scripts/bootstrap`` installs ``chromium`` and
``chromium-driver``.

Selenium is synchronous: async tests call it through ``asyncio.to_thread`` so that the event
loop (which may be serving the page) keeps running.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Without the background-networking flags Chromium hangs at start on a closed network
# (it waits for component updates, sync, QUIC probes that never answer).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=ru-RU",
)
T = TypeVar("T")


@contextlib.contextmanager
def chromium(width: int = 1920, height: int = 1080) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile (removed afterwards), 1080p by default."""
    profile = Path(tempfile.mkdtemp(prefix="cto-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    # The driver's path given: selenium does not run its Selenium Manager (no network).
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(20)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], T | bool | None], timeout: float) -> T:
    """``condition`` until it is truthy (polled every 50 ms); the board is replaced as a whole
    on every push, so an element that went stale is simply looked up again."""
    wait = WebDriverWait(
        driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
    )
    result: T = wait.until(condition)
    return result


def text_of(selector: str) -> Callable[[WebDriver], str | None]:
    def read(driver: WebDriver) -> str | None:
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        return found[0].text.strip() if found else None

    return read


def shows(selector: str, expected: str) -> Callable[[WebDriver], bool]:
    """The element's text is ``expected``."""
    read = text_of(selector)
    return lambda driver: read(driver) == expected


def log_in(driver: WebDriver, base: str, name: str, password: str) -> None:
    driver.get(f"{base}/ui/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
