"""Real Chromium against the in-process workplace (fake queue service around the real
distributor): op1 logs in, presses "Готов", a caller rings him and the card is pushed over SSE;
he answers, registers the appeal from the page and searches the knowledge base. The page's
script is exercised as the e2e test (tests/e2e/test_workplace.py) will, in seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from ctoengine.config import RoutingConfig
from ctoengine.queues import distributor as q
from ctoengine.records.model import CallRecord
from tests.browser import chromium, log_in, text_of, wait_for
from tests.unit.webapp import PASSWORD, WebApp

NUMBER = "79161234567"


@pytest.fixture
async def served(demo: RoutingConfig) -> AsyncIterator[tuple[WebApp, str]]:
    app = WebApp(demo)
    await app.kb.load(demo.workplace.kb_dir)
    server = TestServer(app.http.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield app, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_the_workplace_in_chromium(served: tuple[WebApp, str]) -> None:
    app, base = served
    run = asyncio.to_thread
    f = app.floor
    with chromium() as driver:
        await run(log_in, driver, base, "op1", PASSWORD)
        await run(wait_for, driver, lambda d: text_of("#my-state")(d) == "Не в системе", 10)
        await run(driver.find_element(By.ID, "do-ready").click)
        await run(wait_for, driver, lambda d: text_of("#my-state")(d) == "Свободен", 5)
        assert f.dist.agents["op1"].state.value == "available"

        record = CallRecord("c1", "ЦТО", "t", app.clock.wall, caller_number=NUMBER, topic="passport")
        record.queued_at = app.clock.wall
        record.ivr_path = ["main:1"]
        f.records["c1"] = record
        f.feed(q.CallerQueued("c1", "passport", f.now()))
        await run(
            wait_for, driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#desk[data-phase=ringing]"), 3
        )
        assert await run(wait_for, driver, text_of("#card-number"), 1) == NUMBER
        assert driver.find_element(By.ID, "appeal-section").is_displayed()
        assert not driver.find_element(By.ID, "transfer-section").is_displayed()

        f.feed(q.RingAnswered("c1", "op1"))
        record.agent_answered_at = app.clock.wall
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "transfer-section").is_displayed(), 3)
        Select(driver.find_element(By.ID, "appeal-subtopic")).select_by_value("lost")
        Select(driver.find_element(By.ID, "appeal-outcome")).select_by_value("complaint_registered")
        driver.find_element(By.ID, "appeal-note").send_keys("Жалоба")
        await run(driver.find_element(By.ID, "appeal-save").click)
        message = await run(wait_for, driver, text_of("#action-message"), 5)
        assert "зарегистрировано" in message, message
        assert [(r["call_id"], r["topic"], r["subtopic"], r["note"]) for r in app.appeals.rows] == [
            ("c1", "passport", "lost", "Жалоба")
        ]

        driver.find_element(By.ID, "kb-query").send_keys("утрата")
        await run(driver.find_element(By.ID, "kb-search").click)
        hit = await run(wait_for, driver, text_of('#kb-hits a[data-article="passport/lost"]'), 5)
        assert hit == "Утрата или хищение паспорта"

        f.feed(q.CallEnded("c1", "op1"))
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "wrap-section").is_displayed(), 3)
        await run(driver.find_element(By.ID, "wrap-ready").click)
        await run(wait_for, driver, lambda d: text_of("#my-state")(d) == "Свободен", 5)
