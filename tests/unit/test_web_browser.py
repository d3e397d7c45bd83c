"""Real Chromium against the in-process wallboard (fake queue service around the real
distributor): log in, see the board, see a change pushed over SSE without a reload, act.

Selenium blocks, so its calls run in a thread while this event loop serves the pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from ctoengine.config import RoutingConfig
from ctoengine.queues import distributor as q
from tests.browser import chromium, log_in, shows, text_of, wait_for
from tests.unit.webapp import PASSWORD, WebApp


@pytest.fixture
async def served(demo: RoutingConfig) -> AsyncIterator[tuple[WebApp, str]]:
    app = WebApp(demo)
    server = TestServer(app.http.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield app, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def _act_pause(driver: WebDriver) -> None:
    Select(driver.find_element(By.ID, "action-agent")).select_by_value("op3")
    Select(driver.find_element(By.ID, "action-reason")).select_by_value("lunch")
    driver.find_element(By.ID, "do-pause").click()


async def test_the_wallboard_in_chromium(served: tuple[WebApp, str]) -> None:
    app, base = served
    with chromium() as driver:
        run = asyncio.to_thread
        await run(driver.get, f"{base}/ui/wallboard")
        assert driver.current_url.endswith("/ui/login")  # redirected: no session yet
        await run(log_in, driver, base, "supervisor", PASSWORD)
        await run(wait_for, driver, shows("[data-testid=waiting-passport]", "0"), 10)
        assert driver.current_url.endswith("/ui/wallboard")
        assert "Табло супервизора" in driver.title
        # A marker the page would lose on a reload: the change must arrive without one.
        await run(driver.execute_script, "window.ctoMarker = 42;")
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "updated").text != "—", 5)

        app.floor.feed(q.CallerQueued("c1", "passport", app.clock.mono))
        app.floor.feed(q.CallerQueued("c2", "passport", app.clock.mono))
        await run(wait_for, driver, shows("[data-testid=waiting-passport]", "2"), 2)
        assert await run(driver.execute_script, "return window.ctoMarker;") == 42

        await run(_act_pause, driver)
        message = await run(wait_for, driver, text_of("#action-message"), 5)
        assert "op3" in message
        reason = await run(wait_for, driver, text_of("[data-agent=op3] .reason"), 2)
        assert reason == "обед"
        assert ("supervisor", "agent.pause", 200) in app.audit.actions()
        assert await run(driver.execute_script, "return window.ctoMarker;") == 42

        await run(driver.find_element(By.ID, "logout").click)
        await run(wait_for, driver, lambda d: d.current_url.endswith("/ui/login"), 5)
        assert app.sessions.rows == {}
