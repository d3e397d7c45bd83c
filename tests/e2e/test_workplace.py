"""The operator's workplace in Debian's Chromium against the real stack (issue 17, Done when).

op1 logs in through the page and presses "Готов". A real sipp caller presses 1: while op1's
phone rings (2.5 s) the card shows the caller's number, the topic ``passport`` and the wait;
the knowledge base's passport articles are on it. Talking, op1 registers the appeal (a
sub-topic, outcome "complaint registered", a note): its row is in PostgreSQL with the call's
id, and in the ``appeals`` view with the call's number once the call ends. The knowledge-base
search finds the article on lost passports by another form of a word ("утраты"). A second call
from the same number shows the first, with its appeal, in the card's history; both history
look-ups and the appeal are in the audit log. All pushed over Server-Sent Events: the page is
never reloaded. The screenshots go to docs/screenshots/workplace-*.png.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from ctoengine.loadgen.runner import start_call, start_softphone
from ctoengine.loadgen.scenario import operator_xml
from tests.browser import chromium, log_in, text_of, wait_for
from tests.e2e.stack import ROOT, Stack
from tests.e2e.test_queues import BASE, caller

pytestmark = pytest.mark.e2e
SHOTS = ROOT / "docs" / "screenshots"
RING_MS = 2500  # under the e2e ring timeout (4 s): the card is seen while the phone rings
TALK_MS = 15000
NOTE = "Жалоба на сроки выдачи паспорта в МФЦ"


@pytest.fixture(autouse=True)
async def clean_floor(stack: Stack) -> AsyncIterator[None]:
    await stack.reset_agents()
    yield
    await stack.reset_agents()


def _shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"workplace-{name}.png"))


def _desk(phase: str) -> Callable[[WebDriver], dict[str, str] | None]:
    """The card's data once it is in ``phase`` (ringing, talking, wrap_up)."""

    def read(driver: WebDriver) -> dict[str, str] | None:
        found = driver.find_elements(By.CSS_SELECTOR, f"#desk[data-phase={phase}]")
        if not found:
            return None
        d = found[0]
        return {k: d.get_attribute(f"data-{k}") or "" for k in ("call-id", "topic", "state")}

    return read


def _shown(element_id: str) -> Callable[[WebDriver], bool]:
    return lambda driver: driver.find_element(By.ID, element_id).is_displayed()


def _fill_appeal(driver: WebDriver) -> None:
    assert (
        Select(driver.find_element(By.ID, "appeal-topic")).first_selected_option.get_attribute("value")
        == "passport"
    )
    Select(driver.find_element(By.ID, "appeal-subtopic")).select_by_value("lost")
    Select(driver.find_element(By.ID, "appeal-outcome")).select_by_value("complaint_registered")
    driver.find_element(By.ID, "appeal-note").send_keys(NOTE)
    driver.find_element(By.ID, "appeal-save").click()


def _search(driver: WebDriver, words: str) -> None:
    box = driver.find_element(By.ID, "kb-query")
    box.clear()
    box.send_keys(words)
    driver.find_element(By.ID, "kb-search").click()


async def test_the_operator_workplace(stack: Stack, caller_number: str) -> None:
    run = asyncio.to_thread
    phone = await start_softphone(BASE + 1, operator_xml(ring_ms=RING_MS, hold_ms=TALK_MS), media_port=26010)
    try:
        await stack.wait_phone("op1")
        with chromium() as driver:
            await run(driver.get, f"{stack.api}/ui/workplace")
            assert driver.current_url.endswith("/ui/login")
            await run(log_in, driver, stack.api, "op1", stack.web_password("op1"))
            await run(wait_for, driver, text_of("#my-state"), 15)
            assert driver.current_url.endswith("/ui/workplace")
            await run(driver.execute_script, "window.ctoMarker = 'no reload';")

            # Own state from the page: ready (logged in), shown live.
            await run(driver.find_element(By.ID, "do-ready").click)
            await stack.wait_agent("op1", "available")
            await run(wait_for, driver, lambda d: text_of("#my-state")(d) == "Свободен", 5)

            # The first call: the card while the phone rings.
            first = await start_call(caller(caller_number, "1", talk_ms=TALK_MS + 20000), stack.sip)
            ringing = await run(wait_for, driver, _desk("ringing"), 15)
            call_id = ringing["call-id"]
            assert ringing["topic"] == "passport"
            assert await run(wait_for, driver, text_of("#card-number"), 2) == caller_number
            assert "passport" in (await run(wait_for, driver, text_of("#card-topic"), 2) or "")
            waited = await run(wait_for, driver, text_of("#card-wait"), 2)
            assert waited and waited != "—"
            _shot(driver, "ringing")

            # Talking: the topic's articles on the card, the appeal registered from the page.
            talking = await run(wait_for, driver, _desk("talking"), 10)
            assert talking["call-id"] == call_id
            links = await run(driver.find_elements, By.CSS_SELECTOR, "#card-articles a[data-article]")
            assert "passport/lost" in [a.get_attribute("data-article") for a in links]
            await run(wait_for, driver, _shown("appeal-section"), 5)
            assert driver.find_element(By.ID, "appeal-call").get_attribute("value") == call_id
            _shot(driver, "call")
            await run(_fill_appeal, driver)
            message = await run(
                wait_for, driver, lambda d: "зарегистрировано" in (text_of("#action-message")(d) or ""), 5
            )
            assert message
            pool = await stack.db()
            row = await pool.fetchrow("SELECT * FROM call_appeals WHERE call_id = $1", call_id)
            assert row is not None
            assert (row["topic"], row["subtopic"], row["outcome"], row["note"]) == (
                "passport", "lost", "complaint_registered", NOTE
            )  # fmt: skip
            assert (row["agent_id"], row["user_name"], row["complaint_status"]) == ("op1", "op1", "new")
            _shot(driver, "appeal")

            # The knowledge base: found by another form of a word.
            await run(_search, driver, "утраты")
            hit = await run(wait_for, driver, text_of('#kb-hits a[data-article="passport/lost"]'), 5)
            assert hit == "Утрата или хищение паспорта"
            _shot(driver, "kb")

            result = await first.wait(TALK_MS / 1000 + 30)
            assert result.ok, result.errors
            (cdr,) = await stack.wait_cdr(caller_number)
            assert cdr["call_id"] == call_id and cdr["agent_id"] == "op1" and cdr["topic"] == "passport"
            view = await pool.fetchrow("SELECT * FROM appeals WHERE call_id = $1", call_id)
            assert view is not None
            assert (view["caller_number"], view["disposition"]) == (caller_number, "answered")

            # The second call from the same number: the first, with its appeal, in the history.
            await stack.wait_agent("op1", "available")
            second = await start_call(caller(caller_number, "1", talk_ms=TALK_MS + 20000), stack.sip)
            again = await run(wait_for, driver, _desk("talking"), 20)
            assert again["call-id"] != call_id
            earlier = await run(wait_for, driver, text_of("[data-testid=earlier-call]"), 10)
            assert earlier is not None
            assert "Утрата или хищение паспорта — Зарегистрирована жалоба" in earlier
            _shot(driver, "history")
            assert await run(driver.execute_script, "return window.ctoMarker;") == "no reload"
            result = await second.wait(TALK_MS / 1000 + 30)
            assert result.ok, result.errors
            second_id = again["call-id"]
    finally:
        await phone.stop()

    admin = await stack.login("admin")
    status, audit = await stack.call_as(admin, "GET", "/api/v1/audit?limit=500")
    assert status == 200, audit
    mine = [r for r in audit if r["user"] == "op1"]
    looked = {r["target"] for r in mine if r["action"] == "history.lookup" and r["status"] == 200}
    assert {call_id, second_id} <= looked
    assert any(
        r["action"] == "call.appeal" and r["target"] == call_id and r["details"].get("via") == "web"
        for r in mine
    )
    assert any(r["action"] == "agent.login" and r["details"].get("via") == "web" for r in mine)
