"""The pure parts of scripts/drills: counting lost and doubled calls from rows,
the results' lines and table, the choice of drills, and the freezable proxy on
local sockets."""

from __future__ import annotations

import asyncio

import pytest

from ctoengine.drills.cli import select
from ctoengine.drills.proxy import FreezableProxy
from ctoengine.drills.stack import parse_metrics
from ctoengine.drills.suite import DRILLS, QUICK
from ctoengine.drills.tally import Result, Tally, numbers, table


def test_numbers_are_the_prefix_and_sipps_call_numbers() -> None:
    assert numbers("70112", 3) == ["701121", "701122", "701123"]
    assert numbers("7", 0) == []


def test_every_call_with_one_row_is_clean() -> None:
    t = Tally.of(["a1", "a2"], ["a2", "a1"])
    assert (t.offered, t.rows, t.lost, t.doubled, t.strays) == (2, 2, 0, 0, 0)
    assert t.clean


def test_a_call_without_a_row_is_lost_and_one_with_two_is_doubled() -> None:
    t = Tally.of(["a1", "a2", "a3"], ["a1", "a1", "a3", None, "b9"])
    assert (t.offered, t.rows, t.lost, t.doubled) == (3, 3, 1, 1)
    assert t.lost_numbers == ["a2"] and t.doubled_numbers == ["a1"]
    assert t.strays == 1  # b9: nobody placed it
    assert not t.clean


def test_tallies_add_up() -> None:
    t = Tally.of(["a1"], []) + Tally.of(["b1", "b2"], ["b1", "b2", "b2"])
    assert (t.offered, t.rows, t.lost, t.doubled) == (3, 3, 1, 1)
    assert t.lost_numbers == ["a1"] and t.doubled_numbers == ["b2"]


def test_lost_or_doubled_fails_a_drill_that_otherwise_passed() -> None:
    r = Result("x", Tally.of(["a1", "a2"], ["a1", "a1"]))
    r.settle()
    assert r.status == "FAIL" and not r.passed
    assert "without a row: a2" in r.why and "more than one row: a1" in r.why


def test_the_line_says_counts_status_and_why() -> None:
    r = Result("burst", Tally.of(["a1"], ["a1"]))
    r.notes.append("20 calls/s")
    r.settle()
    assert r.line() == "drill burst: offered 1, rows 1, lost 0, doubled 0, PASS (20 calls/s)"
    r.check(False, "a call failed")
    assert r.line().endswith("FAIL (a call failed)")
    assert r.as_json()["passed"] is False


def test_a_skip_passes() -> None:
    r = Result("spool_full")
    r.skip("needs root")
    assert r.passed and r.as_json()["status"] == "SKIP"


def test_table_has_one_line_per_drill() -> None:
    rows = table([Result("a", Tally.of(["1"], ["1"])), Result("b")]).splitlines()
    assert rows[0].split() == ["drill", "offered", "rows", "lost", "doubled", "secs", "result"]
    assert rows[2].split() == ["a", "1", "1", "0", "0", "0", "PASS"]
    assert len(rows) == 4


def test_select_keeps_the_suites_order_and_refuses_unknown_names() -> None:
    assert select("garbage,engine_kill", quick=False) == ["engine_kill", "garbage"]
    assert select(None, quick=True) == [n for n in DRILLS if n in QUICK]
    assert select(None, quick=False) == list(DRILLS)
    with pytest.raises(ValueError, match="nosuch"):
        select("nosuch", quick=False)


def test_quick_holds_at_least_the_issues_subset() -> None:
    assert {"engine_kill", "pg_down", "bad_reload", "burst", "garbage"} <= set(QUICK)


def test_parse_metrics() -> None:
    text = '# HELP x\nctoengine_ari_connected 1.0\nctoengine_peer_up{peer="E"} 0.0\nx_total 3e+00\n'
    assert parse_metrics(text) == {
        "ctoengine_ari_connected": 1.0,
        'ctoengine_peer_up{peer="E"}': 0.0,
        "x_total": 3.0,
    }


async def _echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def test_the_proxy_forwards_freezes_without_closing_and_lets_new_connections_through() -> None:
    server = await _echo_server()
    port = server.sockets[0].getsockname()[1]
    proxy = FreezableProxy(("127.0.0.1", 0), ("127.0.0.1", port))
    await proxy.start()
    try:
        r1, w1 = await asyncio.open_connection("127.0.0.1", proxy.port)
        w1.write(b"ping")
        assert await asyncio.wait_for(r1.read(4), 2) == b"ping"

        assert proxy.freeze() == 1
        w1.write(b"lost?")
        await w1.drain()
        with pytest.raises(TimeoutError):  # nothing comes back, and nothing closes either
            await asyncio.wait_for(r1.read(5), 0.3)
        assert not r1.at_eof()
        assert proxy.frozen_links == 1

        r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)  # a new connection flows
        w2.write(b"new")
        assert await asyncio.wait_for(r2.read(3), 2) == b"new"

        proxy.thaw()  # the old path comes back: what was held is delivered
        assert await asyncio.wait_for(r1.readexactly(5), 2) == b"lost?"

        proxy.freeze()
        assert proxy.drop_frozen() == 2
        assert await asyncio.wait_for(r1.read(10), 2) == b""  # closed at last
        w1.close()
        w2.close()
    finally:
        await proxy.stop()
        server.close()
        await server.wait_closed()
