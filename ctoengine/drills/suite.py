"""The drills. Each places calls from numbers of its own, does its harm, puts the
stack back, and counts: offered, rows, lost (no row), doubled (more than one).

A drill FAILs on any lost or doubled call and on what it names in its own
checks; a drill is never made lenient to pass an engine that still has the bug
it looks for (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctoengine.bench import profile
from ctoengine.drills.peers import FakeStatus, SilentServer
from ctoengine.drills.stack import PEER_SECRET, Batch, DrillStack
from ctoengine.drills.tally import Result
from ctoengine.loadgen.scenario import Caller


@dataclass(frozen=True)
class Mode:
    quick: bool

    def pick(self, quick: float, full: float) -> float:
        return quick if self.quick else full

    def n(self, quick: int, full: int) -> int:
        return quick if self.quick else full


Drill = Callable[[DrillStack, Mode, Result], Awaitable[None]]


async def until(probe: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.2) -> bool:
    """Whether ``probe`` came true within ``timeout``; a probe that raises (the stack is
    under a fault) counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if await probe():
                return True
        await asyncio.sleep(every)
    return False


async def _finish(
    s: DrillStack, r: Result, batches: list[Batch], timeout: float = 40, answered: bool = False
) -> list[dict[str, Any]]:
    """Wait for sipp, count the rows; with ``answered`` every call must have reached an operator."""
    for b in batches:
        await b.wait(timeout)
    tally, rows = await s.tally(batches, timeout=timeout)
    r.tally = r.tally + tally
    failed = sum(b.stats.failed for b in batches if b.stats is not None)
    r.details["sipp_failed"] = r.details.get("sipp_failed", 0) + failed
    disp: dict[str, int] = {}
    for row in rows:
        disp[row["disposition"]] = disp.get(row["disposition"], 0) + 1
    r.details.setdefault("dispositions", {})
    for k, v in disp.items():
        r.details["dispositions"][k] = r.details["dispositions"].get(k, 0) + v
    if answered:
        r.check(failed == 0, f"{failed} call(s) failed in sipp")
        other = {k: v for k, v in disp.items() if k != "answered"}
        r.check(not other, f"calls not answered by an operator: {other}")
    return rows


# --- 1 ------------------------------------------------------------------------------
async def engine_kill(s: DrillStack, m: Mode, r: Result) -> None:
    """SIGKILL the engine while callers wait (no operator free), restart it; again while
    the next ones talk. Every call exactly one row."""
    hold = m.pick(5, 8)
    await s.operators(hold)
    await s.staff(2)
    batch = await s.place(1, 4, 4.0)

    async def queue_full() -> bool:
        return await s.waiting() >= 1 and await s.on_call() >= 1

    r.check(await until(queue_full, 20), "callers never waited in the queue")
    await s.kill_engine()
    r.notes.append("killed while waiting")
    await s.restart_engine()

    async def second_pair_talking() -> bool:
        return len(await s.rows([batch.prefix])) >= 2 and await s.on_call() >= 1

    if r.check(
        await until(second_pair_talking, hold * 3 + 20), "the waiting callers never reached an operator"
    ):
        await s.kill_engine()
        r.notes.append("killed while talking")
        await s.restart_engine()
    await _finish(s, r, [batch], timeout=hold * 3 + 40)


# --- 2 ------------------------------------------------------------------------------
async def asterisk_restart(s: DrillStack, m: Mode, r: Result) -> None:
    """SIGTERM Asterisk with callers queued and talking, start it again: the calls that
    were up are gone, but each has one row; the engine reconnects; new calls flow."""
    hold = m.pick(5, 8)
    await s.operators(hold)
    await s.staff(2)
    before = await s.place(2, 4, 4.0)

    async def queue_full() -> bool:
        return await s.waiting() >= 1 and await s.on_call() >= 1

    r.check(await until(queue_full, 20), "callers never waited in the queue")
    pid = s.pid("asterisk")
    assert pid is not None
    os.kill(pid, 15)
    r.check(await s.wait_gone(pid, 30), "Asterisk did not stop within 30 s of SIGTERM")
    gone_at = time.monotonic()
    await s.astack("up")

    async def connected() -> bool:
        return await s.metric("ctoengine_ari_connected") == 1

    ok = await until(connected, 30)
    r.details["reconnected_after_s"] = round(time.monotonic() - gone_at, 1) if ok else None
    r.check(ok, "the engine did not reconnect to Asterisk within 30 s")
    await before.wait(10)  # their calls died with Asterisk
    await s.idle(20)
    after = await s.place(2, 3, 3.0)
    await after.wait(hold * 3 + 40)
    rows = await _finish(s, r, [before, after], timeout=40)
    new = [x for x in rows if x["caller_number"].startswith(after.prefix)]
    r.check(
        after.stats is not None
        and after.stats.failed == 0
        and all(x["disposition"] == "answered" for x in new),
        f"new calls after the restart did not flow: {[x['disposition'] for x in new]}",
    )


# --- 3 ------------------------------------------------------------------------------
async def pg_down(s: DrillStack, m: Mode, r: Result) -> None:
    """PostgreSQL stopped for 60 s (quick: 10 s) under load: calls flow, records spool,
    and each is written exactly once when the database is back."""
    outage = m.pick(10, 60)
    rate = m.pick(1, 2)
    await s.operators(2)
    await s.staff(m.n(5, 10))
    batch = await s.place(3, int(rate * (outage + 8)), rate)
    await asyncio.sleep(2)
    await s.stop_postgres()
    r.notes.append(f"PostgreSQL down {outage:g} s")
    try:
        await asyncio.sleep(outage / 2)
        backlog = await s.metric("ctoengine_records_backlog")
        r.details["backlog_during_outage"] = backlog
        await asyncio.sleep(outage / 2)
    finally:
        await s.start_postgres()
    await _finish(s, r, [batch], timeout=60, answered=True)

    async def drained() -> bool:
        return await s.metric("ctoengine_records_backlog", -1) == 0

    r.check(await until(drained, 30), "the record backlog did not drain to 0 within 30 s")
    r.check(not (s.run_dir / "spool" / "records.jsonl").exists(), "the spool file is still there")


# --- 4 ------------------------------------------------------------------------------
async def ari_freeze(s: DrillStack, m: Mode, r: Result) -> None:
    """Freeze the TCP path between the engine and ARI (no close): the engine must notice
    (heartbeat) within 30 s; calls after it flow; a call placed during the freeze, and
    every other, has one row."""
    await s.restart_engine(CTO_ENGINE_ARI_URL=s.proxied_ari)
    try:
        await _ari_freeze(s, r)
    finally:
        await s.restart_engine()  # straight to ARI again, off the proxy


async def _ari_freeze(s: DrillStack, r: Result) -> None:
    await s.operators(3)
    await s.staff(2)
    first = await s.place(4, 2, 2.0)
    await first.wait(40)
    reconnects = await s.metric("ctoengine_ari_reconnects_total")
    frozen = s.proxy.freeze()
    r.details["frozen_connections"] = frozen
    t0 = time.monotonic()
    during = await s.place(4, 1, 1.0)

    async def noticed() -> bool:
        return (
            await s.metric("ctoengine_ari_connected", 1) == 0
            or await s.metric("ctoengine_ari_reconnects_total") > reconnects
        )

    window = 30.0
    ok = await until(noticed, window, every=0.5)
    r.details["noticed_after_s"] = round(time.monotonic() - t0, 1) if ok else None
    r.check(ok, f"the engine did not notice the frozen ARI connection within {window:g} s (no heartbeat)")
    dropped = s.proxy.drop_frozen()  # the path finally times out: the engine must reconnect
    r.details["dropped_connections"] = dropped

    async def connected() -> bool:
        return await s.metric("ctoengine_ari_connected") == 1 and s.proxy.open_links > 0

    r.check(await until(connected, 30), "the engine did not reconnect within 30 s after the path came back")
    after = await s.place(4, 3, 3.0)
    await after.wait(60)
    r.check(after.stats is not None and after.stats.failed == 0, "calls after the freeze failed in sipp")
    await _finish(s, r, [first, during, after], timeout=40)


# --- 5 ------------------------------------------------------------------------------
def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


async def spool_full(s: DrillStack, m: Mode, r: Result) -> None:
    """The spool on a 32 KiB tmpfs, PostgreSQL stopped, calls until the spool is full,
    PostgreSQL back: every row arrives once (a fixed writer keeps records in memory)."""
    if os.geteuid() != 0:
        r.skip("mounting a tmpfs needs root")
        return
    tiny = s.run_dir / "spool-tiny"
    _mount_tmpfs(tiny, "32k")
    pg_stopped = False
    try:
        await s.restart_engine(CTO_SPOOL_DIR=str(tiny))
        await s.operators(1)
        await s.staff(10)
        await s.stop_postgres()
        pg_stopped = True
        batch = await s.place(5, m.n(30, 60), 5.0)
        await batch.wait(60)
        st = os.statvfs(tiny)
        r.details["spool_free_bytes"] = st.f_bavail * st.f_frsize
        r.details["spool_files"] = sorted(p.name for p in tiny.iterdir())
        r.check(
            st.f_bavail * st.f_frsize < 4096, "the spool never filled (fewer records than the disk holds)"
        )
        pid = s.pid("engine")
        r.check(s.running(pid), "the engine died while the spool disk was full")
        r.details["backlog_while_full"] = await s.metric("ctoengine_records_backlog", -1)
        await s.start_postgres()
        pg_stopped = False
        await _finish(s, r, [batch], timeout=60)

        async def drained() -> bool:
            return await s.metric("ctoengine_records_backlog", -1) == 0

        r.check(await until(drained, 30), "the record backlog did not drain to 0 within 30 s")
        log = s.log_since(r.details.get("log_offset", 0))
        r.details["writer_log"] = [x[:240] for x in log.splitlines() if "spool" in x or "writer" in x][-8:]
    finally:
        if pg_stopped:
            await s.start_postgres()
        try:
            await s.restart_engine()  # the ordinary spool again, off the tmpfs
        finally:
            _umount(tiny)


# --- 6 ------------------------------------------------------------------------------
_POSITION = re.compile(r"\.yaml:\d+:\d+")


async def bad_reload(s: DrillStack, m: Mode, r: Result) -> None:
    """Reload a routing file with a YAML syntax error, then one with a semantic error:
    422 with FILE:LINE:COLUMN each time, calls keep flowing on the old configuration."""
    await s.operators(2)
    await s.staff(4)
    good = s.routing.read_text(encoding="utf-8")
    during = await s.place(6, m.n(6, 12), 1.0)
    await asyncio.sleep(2)
    broken = {
        "syntax": good.replace("menus:\n  main:\n", "menus:\n  main: [unclosed\n", 1),
        "semantic": good.replace('"1": {queue: passport}', '"1": {queue: no_such_queue}', 1),
    }
    try:
        for kind, text in broken.items():
            if text == good:
                r.fail(f"could not break the routing file ({kind}): the profile changed")
                continue
            s.routing.write_text(text, encoding="utf-8")
            status, body = await s.request("POST", "/api/v1/config/reload", json={})
            r.details[f"reload_{kind}"] = {"status": status, "body": body[:400]}
            r.check(status == 422, f"{kind} error: reload answered {status}, not 422")
            r.check(bool(_POSITION.search(body)), f"{kind} error: no FILE:LINE:COLUMN in {body[:200]!r}")
            await asyncio.sleep(1)
    finally:
        s.routing.write_text(good, encoding="utf-8")
    status, _ = await s.request("POST", "/api/v1/config/reload", json={})
    r.check(status == 200, f"the good file did not reload ({status})")
    after = await s.place(6, 3, 3.0)
    await _finish(s, r, [during, after], timeout=60, answered=True)
    rows = await s.rows([during.prefix, after.prefix])
    r.check(
        all(x["topic"] == "passport" for x in rows), "calls did not follow the old menu (key 1: passport)"
    )


# --- 7 ------------------------------------------------------------------------------
async def peer_down(s: DrillStack, m: Mode, r: Result) -> None:
    """Peer C's status URL hangs and its trunk is a black hole; peer E publishes free
    operators but its trunk is a black hole too: callers keep their place and are
    answered here, in the order they came."""
    hold = m.pick(4, 6)
    await s.operators(hold)
    await s.staff(1)
    async with (
        SilentServer(s.ports.peer_down_status) as silent,
        FakeStatus(s.ports.peer_fake_status, "E", list(profile.TOPICS)) as fake,
    ):

        async def e_known() -> bool:
            got = await s.metrics()
            return got.get('ctoengine_peer_up{peer="E"}') == 1 and got.get('ctoengine_peer_up{peer="C"}') == 0

        r.check(await until(e_known, 15), "the engine did not see peer E up and peer C down")
        batch = await s.place(7, 3, 2.0, talk_wait_s=hold * 4 + 60)
        rows = await _finish(s, r, [batch], timeout=hold * 4 + 60, answered=True)
        r.details["status_polls"] = {"C": silent.accepted, "E": fake.requests}
    r.check(all(x["overflow_peer"] is None for x in rows), "a call was recorded as overflowed to a dead peer")
    answered = sorted(rows, key=lambda x: x["agent_answered_at"] or x["ended_at"])
    queued = sorted(rows, key=lambda x: x["queued_at"] or x["ended_at"])
    r.check(
        [x["caller_number"] for x in answered] == [x["caller_number"] for x in queued],
        "callers were not answered in the order they queued (a place was lost)",
    )
    tries = s.log_since(r.details.get("log_offset", 0)).count('"overflow_try"')
    r.details["overflow_tries"] = tries
    r.check(tries > 0, "no caller was offered to the dead peer E: the fallback was not exercised")


# --- 8 ------------------------------------------------------------------------------
async def burst(s: DrillStack, m: Mode, r: Result) -> None:
    """50 calls/s for 30 s (quick: 20 calls/s for 5 s), enough operators, short talk:
    no failed call, every call one row."""
    rate, seconds = m.pick(20, 50), m.pick(5, 30)
    await s.operators(m.pick(1, 2))
    await s.staff(s.operators_total)
    batch = await s.place(8, int(rate * seconds), rate)
    await _finish(s, r, [batch], timeout=seconds + 90, answered=True)
    r.notes.append(f"{rate:g} calls/s for {seconds:g} s")


# --- 9 ------------------------------------------------------------------------------
def _api_garbage() -> list[tuple[str, str, str, bytes | None, Any]]:
    """(label, method, path, raw body, json body): every one must get a 4xx."""
    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        ("login: not JSON", "POST", "/api/v1/agents/op1/login", b"not json {", None),
        ("login: a list", "POST", "/api/v1/agents/op1/login", b"[1, 2]", None),
        ("login: invalid UTF-8", "POST", "/api/v1/agents/op1/login", b'{"a": "\xff\xfe"}', None),
        ("login: nested 100000 deep", "POST", "/api/v1/agents/op1/login", deep, None),
        ("login: 5 MB body", "POST", "/api/v1/agents/op1/login", b'{"x": "' + b"a" * 5_000_000 + b'"}', None),
        ("pause: reason a number", "POST", "/api/v1/agents/op1/pause", None, {"reason": 5}),
        ("pause: reason a list", "POST", "/api/v1/agents/op1/pause", None, {"reason": ["lunch"]}),
        ("pause: reason an object", "POST", "/api/v1/agents/op1/pause", None, {"reason": {"a": 1}}),
        ("emergency: enabled a string", "POST", "/api/v1/emergency", None, {"enabled": "yes", "by": "drill"}),
        ("emergency: NaN", "POST", "/api/v1/emergency", b'{"enabled": NaN, "by": "drill"}', None),
        ("emergency: by an object", "POST", "/api/v1/emergency", None, {"enabled": True, "by": {"a": 1}}),
        ("transfer: queue a number", "POST", "/api/v1/calls/nosuch/transfer", None, {"queue": 123}),
        ("transfer: agent a list", "POST", "/api/v1/calls/nosuch/transfer", None, {"agent": ["op1"]}),
        (
            "transfer: both",
            "POST",
            "/api/v1/calls/nosuch/transfer",
            None,
            {"queue": "passport", "agent": "op1"},
        ),
        ("transfer: unknown call", "POST", "/api/v1/calls/nosuch/transfer", None, {"queue": "passport"}),
        ("agent: unknown", "POST", "/api/v1/agents/%00%ff/login", None, {}),
        ("agent: huge id", "GET", "/api/v1/agents/" + "x" * 6000, None, None),
    ]


def _peer_garbage(prefix: str) -> list[dict[str, str]]:
    """X-CTO-* headers a broken or hostile peer might send (each with a caller number to find)."""
    huge = "9" * 40
    return [
        {"X-CTO-Federation-Id": "G-1", "X-CTO-Origin": "C", "X-CTO-Topic": "passport",
         "X-CTO-Waited-Ms": huge, "X-CTO-Hops": "0", "X-CTO-Caller": f"{prefix}1"},
        {"X-CTO-Federation-Id": "G-2", "X-CTO-Origin": "C", "X-CTO-Topic": "passport",
         "X-CTO-Waited-Ms": "-5000", "X-CTO-Hops": huge, "X-CTO-Caller": f"{prefix}2"},
        {"X-CTO-Federation-Id": "G-3", "X-CTO-Origin": "C", "X-CTO-Topic": "no-such-topic",
         "X-CTO-Waited-Ms": "abc", "X-CTO-Hops": "x", "X-CTO-Caller": f"{prefix}3"},
        {"X-CTO-Federation-Id": "G-4" + "z" * 500, "X-CTO-Origin": "../../etc", "X-CTO-Topic": "",
         "X-CTO-Waited-Ms": "1e309", "X-CTO-Hops": "-1", "X-CTO-Caller": f"{prefix}4'; DROP TABLE calls; --"},
        {"X-CTO-Caller": f"{prefix}5"},  # every other header missing
    ]  # fmt: skip


async def garbage(s: DrillStack, m: Mode, r: Result) -> None:
    """Garbage API bodies (each a 4xx, never a 5xx), garbage DTMF (each call one row),
    garbage X-CTO-* headers from a peer; the engine alive after, no traceback in its log."""
    await s.operators(1)
    await s.staff(3)
    pid = s.pid("engine")
    offset = s.log_size()
    api: dict[str, int] = {}
    for label, method, path, raw, body in _api_garbage():
        try:
            status, _ = await s.request(method, path, data=raw, json=body)
        except Exception as e:
            status = 0
            label = f"{label} ({type(e).__name__})"
        api[label] = status
    r.details["api"] = api
    bad = {k: v for k, v in api.items() if not 400 <= v < 500}
    r.check(not bad, f"API garbage not answered with a 4xx: {bad}")

    keys = ["9", "*", "#", "0*#9*#0*#9", "1" * 12]
    dtmf: list[Batch] = []
    for k in keys:
        prefix = s.prefix(9)
        caller = Caller(f"{prefix}[call_number]", did=profile.ENGINE_DID, expect_engine_hangup=True)
        caller.pause(1500).dtmf(k, gap_ms=120)
        caller.wait_bye_ms = 60_000
        dtmf.append(await s.place(9, 1, 1.0, caller, prefix=prefix))

    # A peer's INVITE: refused (no row) or answered, and then it must have exactly one row.
    peer_prefix = s.prefix(9)
    sent = _peer_garbage(peer_prefix)
    peers = []
    for i, headers in enumerate(sent):
        caller = Caller("peer-C", did="overflow", headers=headers, auth=("peer-C", PEER_SECRET)).pause(3000)
        peers.append(await s.place(9, 1, 1.0, caller, prefix=f"{peer_prefix}{i + 1}"))
    for b in peers:
        await b.wait(30)
    answered = [h["X-CTO-Caller"] for h, b in zip(sent, peers, strict=True) if b.stats and b.stats.successful]
    peer_tally, _ = await s.tally_numbers(answered, [peer_prefix], timeout=10)
    r.tally = r.tally + peer_tally
    r.details["peer_invites"] = {"sent": len(sent), "answered": len(answered)}
    await _finish(s, r, dtmf, timeout=60)
    r.details["dtmf_keys"] = keys

    r.check(
        s.pid("engine") == pid and s.running(pid), "the engine died (or was restarted) during the garbage"
    )
    status, _ = await s.healthz()
    r.check(status == 200, f"/healthz answered {status} after the garbage")
    r.check(await s.metric("ctoengine_ari_connected") == 1, "ARI not connected after the garbage")
    tracebacks = s.tracebacks_since(offset)
    r.details["tracebacks"] = tracebacks[:5]
    r.check(not tracebacks, f"{len(tracebacks)} traceback(s) in the engine log")


# --- the list -------------------------------------------------------------------------
DRILLS: dict[str, Drill] = {
    "engine_kill": engine_kill,
    "asterisk_restart": asterisk_restart,
    "pg_down": pg_down,
    "ari_freeze": ari_freeze,
    "spool_full": spool_full,
    "bad_reload": bad_reload,
    "peer_down": peer_down,
    "burst": burst,
    "garbage": garbage,
}
QUICK = ("engine_kill", "pg_down", "bad_reload", "peer_down", "burst", "garbage")


async def run_one(s: DrillStack, name: str, mode: Mode) -> Result:
    """One drill on a stack made whole first; its result, whatever happened."""
    r = Result(name)
    t0 = time.monotonic()
    try:
        await _make_whole(s, r)
        r.details["log_offset"] = s.log_size()
        await DRILLS[name](s, mode, r)
        r.settle()
    except Exception as e:
        r.fail(f"the drill itself stopped: {type(e).__name__}: {str(e)[:300]}")
    finally:
        r.seconds = time.monotonic() - t0
        tb = s.tracebacks_since(int(r.details.get("log_offset", s.log_size())))
        r.details["engine_tracebacks"] = len(tb)
        if tb and name != "garbage":
            r.notes.append(f"{len(tb)} traceback(s) in the engine log")
    return r


async def _make_whole(s: DrillStack, r: Result) -> None:
    """The engine and Asterisk running, the database up, nobody waiting or talking."""
    if not s.running(s.pid("engine")) or not s.running(s.pid("asterisk")) or not s.running(s.pid("postgres")):
        r.notes.append("the stack was not whole before this drill: brought up again")
        await s.astack("up")
    if not await s.idle(60):
        r.notes.append("calls of an earlier drill were still up")
    await s.staff(0)
