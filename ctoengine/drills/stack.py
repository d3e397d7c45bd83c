"""The drills' private stack (``scripts/stack`` in ``run/drills`` on ports of its
own), its operators (one sipp UAS for all, as the benchmark's), its callers
(sipp processes of ``Caller`` scenarios), its database and its faults."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from ctoengine.bench import measure, profile
from ctoengine.drills.proxy import FreezableProxy
from ctoengine.drills.tally import Tally, numbers
from ctoengine.loadgen.scenario import Caller, operator_xml

ROOT = profile.REPO_ROOT


@dataclass(frozen=True)
class Ports:
    sip: int = 7670
    operators: int = 7690  # every operator's one contact port (one sipp UAS)
    callers: int = 7700  # sipp caller processes: 7700, 7701, ...
    ari: int = 9688
    ari_proxy: int = 9689  # the engine's ARI goes through the drill's proxy
    http: int = 9680
    pg: int = 57032
    # 50 calls/s hold hundreds of calls with two media streams each: 2000 ports (1000 RTP
    # instances) ran out in the burst ("Unable to create RTP instance"), failing the INVITEs.
    rtp: tuple[int, int] = (50000, 57999)
    media: int = 39000  # sipp media: the operators' UAS here, callers from +10
    peer_sip: int = 7679  # the peer centres' trunks lead here: a UDP black hole
    peer_down_status: int = 9686  # peer C's status URL: accepts, never answers (drill peer_down)
    peer_fake_status: int = 9687  # peer E's status URL: a fake "all free" (drill peer_down)


PEER_TOKEN = "drill-peer-token"  # noqa: S105 - a loopback-only test value
# The SIP secret of the drill's peer trunks (C and E): a hostile peer in the garbage
# drill proves who it is, so its headers reach the dialplan and the engine.
PEER_SECRET = "drill-peer-secret"  # noqa: S105 - a loopback-only test value


def routing_yaml(operators: int, ports: Ports) -> str:
    """The benchmark's routing (keys 1 and 2, both skills) with the drills' compressed
    timings (wrap-up 1 s, ring timeout 5 s) and two peer centres that do not answer."""
    t = profile.Timings(operators, hold_s=1.0, ring_s=0.3, wrap_up_s=1.0, ring_timeout_s=5.0)
    status = "http://127.0.0.1:{}/api/v1/federation/status"
    return (
        profile.routing_yaml(t).replace("written by scripts/bench", "written by scripts/drills")
        + f"""federation:
  id: A
  token_env: CTO_FEDERATION_TOKEN
  target_wait_s: 4
  margin_s: 1
  poll_every_s: 0.5
  stale_after_s: 3
  answer_timeout_s: 3
  peers:
    C:
      level: federal
      trunk: PJSIP/overflow@peer-C
      status_url: {status.format(ports.peer_down_status)}
      token_env: CTO_DRILL_PEER_TOKEN
    E:
      level: regional
      trunk: PJSIP/overflow@peer-E
      status_url: {status.format(ports.peer_fake_status)}
      token_env: CTO_DRILL_PEER_TOKEN
      max_share: 1.0
"""
    )


@dataclass
class Batch:
    """One sipp caller process: ``count`` calls from ``prefix`` + 1..count."""

    prefix: str
    count: int
    proc: asyncio.subprocess.Process
    workdir: Path
    started: float = field(default_factory=time.monotonic)
    stats: measure.SippStats | None = None

    async def wait(self, timeout: float) -> measure.SippStats:
        """Until sipp ends (terminated after ``timeout``); its totals."""
        if self.stats is not None:
            return self.stats
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        stats_file = self.workdir / "stats.csv"
        self.stats = measure.sipp_stats(stats_file) if stats_file.exists() else measure.SippStats()
        return self.stats

    @property
    def placed(self) -> list[str]:
        offered = self.stats.offered if self.stats is not None and self.stats.offered else self.count
        return numbers(self.prefix, offered)

    def errors(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))


class DrillStack:
    def __init__(self, run_dir: Path, ports: Ports, operators: int) -> None:
        self.run_dir, self.ports, self.operators_total = run_dir, ports, operators
        self.env = dict(os.environ)
        self.exports: dict[str, str] = {}
        self.proxy = FreezableProxy(("127.0.0.1", ports.ari_proxy), ("127.0.0.1", ports.ari))
        self.uas: asyncio.subprocess.Process | None = None
        self.uas_hold: float | None = None
        self.procs: list[asyncio.subprocess.Process] = []
        self._slots = itertools.count()
        self._batches = itertools.count()
        self.stamp = time.strftime("%d%H%M")  # 6 digits: this run's calls apart from earlier runs'
        self._http: aiohttp.ClientSession | None = None
        self._blackhole: asyncio.DatagramTransport | None = None

    # --- the stack ----------------------------------------------------------------
    @property
    def routing(self) -> Path:
        return self.run_dir / "profile" / "drills.yaml"

    @property
    def engine_log(self) -> Path:
        return self.run_dir / "engine.log"

    def stack(self, *args: str, extra: dict[str, str] | None = None, check: bool = True) -> str:
        env = {**self.env, **(extra or {})}
        r = subprocess.run(
            [str(ROOT / "scripts/stack"), *args], env=env, capture_output=True, text=True, timeout=300
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"scripts/stack {' '.join(args)} failed:\n{r.stderr.strip()[-2000:]}")
        return r.stdout

    async def astack(self, *args: str, extra: dict[str, str] | None = None, check: bool = True) -> str:
        return await asyncio.to_thread(self.stack, *args, extra=extra, check=check)

    async def up(self) -> None:
        p = self.ports
        self.routing.parent.mkdir(parents=True, exist_ok=True)
        self.routing.write_text(routing_yaml(self.operators_total, p), encoding="utf-8")
        self.env.update(
            CTO_RUN_DIR=str(self.run_dir),
            CTO_OPERATORS=str(self.operators_total),
            CTO_OP_CONTACT_PORT=str(p.operators),
            CTO_ROUTING=str(self.routing),
            CTO_QUALIFY_S="30",
            CTO_SIP_PORT=str(p.sip),
            CTO_ARI_PORT=str(p.ari),
            CTO_HTTP_PORT=str(p.http),
            CTO_PG_PORT=str(p.pg),
            CTO_RTP_START=str(p.rtp[0]),
            CTO_RTP_END=str(p.rtp[1]),
            CTO_INSTANCE="drills",
            CTO_CENTRE_ID="A",
            CTO_PEERS=f"C:{p.peer_sip} E:{p.peer_sip}",
            CTO_PEER_SECRET=PEER_SECRET,
            CTO_FEDERATION_TOKEN="drill-own-token",  # noqa: S106 - loopback-only test value
            CTO_DRILL_PEER_TOKEN=PEER_TOKEN,
        )
        # The engine reaches ARI directly; only ari_freeze restarts it behind the proxy.
        self.env.pop("CTO_SPOOL_DIR", None)
        self.env.pop("CTO_ENGINE_ARI_URL", None)
        await self.astack("down", check=False)
        await self.proxy.start()
        loop = asyncio.get_running_loop()
        self._blackhole, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", p.peer_sip)
        )
        await self.operators(hold_s=3.0)
        await self.astack("up")
        for line in (await self.astack("env")).splitlines():
            k, _, v = line.removeprefix("export ").partition("=")
            self.exports[k] = shlex.split(v)[0] if v else ""
        await self.staff(0)

    async def down(self) -> None:
        """Everything this run started: sipp, the stack, the proxy, the black hole."""
        for proc in [*self.procs, *([self.uas] if self.uas else [])]:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5)
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
        if self._http is not None:
            await self._http.close()
        await self.astack("down", check=False)
        await self.proxy.stop()
        if self._blackhole is not None:
            self._blackhole.close()

    # --- processes of the stack --------------------------------------------------------
    def pid(self, name: str) -> int | None:
        try:
            return int((self.run_dir / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def running(pid: int | None) -> bool:
        if pid is None:
            return False
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")

    async def wait_gone(self, pid: int, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running(pid):
                return True
            await asyncio.sleep(0.1)
        return False

    async def kill_engine(self) -> None:
        pid = self.pid("engine")
        if pid is not None and self.running(pid):
            os.kill(pid, signal.SIGKILL)
            await self.wait_gone(pid)

    @property
    def proxied_ari(self) -> str:
        return f"http://127.0.0.1:{self.ports.ari_proxy}"

    async def restart_engine(self, **extra: str) -> None:
        await self.astack("restart-engine", extra=extra)

    def _pg(self, *args: str) -> None:
        data = (self.run_dir / "pg.datadir").read_text().strip()
        bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        cmd = [str(bindir / "pg_ctl"), "-D", data, *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd="/", timeout=60)

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(self._pg, "-m", "fast", "-w", "stop")

    async def start_postgres(self) -> None:
        await self.astack("up")  # starts PostgreSQL again; what runs stays

    def log_size(self) -> int:
        try:
            return self.engine_log.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with self.engine_log.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def tracebacks_since(self, offset: int) -> list[str]:
        return [line[:300] for line in self.log_since(offset).splitlines() if "Traceback" in line]

    # --- operators -------------------------------------------------------------------
    async def operators(self, hold_s: float, ring_s: float = 0.3) -> None:
        """The operators' one sipp UAS, answering after ``ring_s`` and hanging up after ``hold_s``."""
        if self.uas is not None and self.uas.returncode is None and self.uas_hold == hold_s:
            return
        if self.uas is not None and self.uas.returncode is None:
            self.uas.terminate()
            await self.uas.wait()
        work = self.run_dir / "sipp-operators"
        work.mkdir(parents=True, exist_ok=True)
        xml = operator_xml(ring_ms=int(ring_s * 1000), hold_ms=int(hold_s * 1000))
        (work / "operator.xml").write_text(xml, encoding="latin-1")
        self.uas = await self._sipp(
            work, "-sf", "operator.xml", "-p", str(self.ports.operators), "-mp", str(self.ports.media),
            "-trace_stat", "-stf", "stats.csv", "-fd", "1",
        )  # fmt: skip
        self.uas_hold = hold_s
        await asyncio.sleep(0.3)

    async def _sipp(self, cwd: Path, *args: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            "sipp", *args, "-i", "127.0.0.1", "-nostdin", "-trace_err", "-max_recv_loops", "1000",
            cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    # --- the API ---------------------------------------------------------------------
    @property
    def api(self) -> str:
        return self.exports["CTO_API_URL"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.exports['CTO_API_TOKEN']}"}

    async def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    async def request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        json: Any = None,
        auth: bool = True,
        **kw: Any,
    ) -> tuple[int, str]:
        s = await self.http()
        headers = {**(self.auth if auth else {}), **kw.pop("headers", {})}
        async with s.request(method, f"{self.api}{path}", data=data, json=json, headers=headers, **kw) as r:
            return r.status, await r.text()

    async def agents(self) -> dict[str, str]:
        s = await self.http()
        async with s.get(f"{self.api}/api/v1/agents", headers=self.auth) as r:
            return {a["id"]: a["state"] for a in await r.json()}

    async def queues(self) -> list[dict[str, Any]]:
        s = await self.http()
        async with s.get(f"{self.api}/api/v1/queues", headers=self.auth) as r:
            body: list[dict[str, Any]] = await r.json()
            return body

    async def waiting(self) -> int:
        return sum(int(q["waiting"]) for q in await self.queues())

    async def on_call(self) -> int:
        return sum(s in ("on_call", "reserved") for s in (await self.agents()).values())

    async def staff(self, n: int, timeout: float = 60) -> None:
        """Exactly op1..op``n`` logged in (available once idle), every other operator logged out."""
        want = {f"op{i}" for i in range(1, n + 1)}
        deadline = time.monotonic() + timeout
        asked: dict[tuple[str, str], float] = {}  # (agent, action) -> when last asked
        while time.monotonic() < deadline:
            states = await self.agents()
            ok = all((s == "available") if a in want else (s == "logged_out") for a, s in states.items())
            if ok:
                return
            # Asked again as states change: an operator paused for missed rings by an earlier
            # drill (or paused when his wrap-up ends) is unpaused, not waited for in vain.
            for agent, state in states.items():
                action = None
                if agent in want and state in ("logged_out", "paused"):
                    action = "login" if state == "logged_out" else "unpause"
                elif agent not in want and state != "logged_out":
                    action = "logout"
                if action and time.monotonic() - asked.get((agent, action), -10.0) >= 2.0:
                    asked[(agent, action)] = time.monotonic()
                    await self.request("POST", f"/api/v1/agents/{agent}/{action}", json={})
            await asyncio.sleep(0.2)
        raise RuntimeError(f"operators not settled within {timeout} s: {_summary(states)}")

    async def idle(self, timeout: float = 60) -> bool:
        """No caller waiting and no operator busy (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                states = await self.agents()
                busy = [s for s in states.values() if s in ("on_call", "reserved", "wrap_up")]
                if not busy and await self.waiting() == 0:
                    return True
            await asyncio.sleep(0.3)
        return False

    async def healthz(self) -> tuple[int, str]:
        try:
            return await self.request("GET", "/healthz", auth=False)
        except (aiohttp.ClientError, TimeoutError) as e:
            return 0, str(e) or type(e).__name__

    async def metrics(self) -> dict[str, float]:
        s = await self.http()
        async with s.get(f"{self.api}/metrics") as r:
            return parse_metrics(await r.text())

    async def metric(self, name: str, default: float = 0.0) -> float:
        try:
            return (await self.metrics()).get(name, default)
        except (aiohttp.ClientError, TimeoutError):
            return default

    # --- callers -----------------------------------------------------------------
    def prefix(self, drill: int) -> str:
        """A caller-number prefix unique to the drill, this run and the batch (fixed length)."""
        return f"7{drill:02d}{self.stamp}{next(self._batches) % 100:02d}"

    async def place(
        self, drill: int, count: int, rate: float, caller: Caller | None = None, *,
        key: str = "1", talk_wait_s: float = 120, limit: int = 5000, prefix: str | None = None,
    ) -> Batch:  # fmt: skip
        """``count`` calls at ``rate`` per second, each a caller who presses ``key`` after the
        greeting and waits for the operator to hang up (or ``caller``'s own scenario)."""
        prefix = prefix or self.prefix(drill)
        if caller is None:
            caller = Caller(f"{prefix}[call_number]", did=profile.ENGINE_DID, expect_engine_hangup=True)
            caller.pause(1500).dtmf(key)
            caller.wait_bye_ms = int(talk_wait_s * 1000)
        slot = next(self._slots) % 60
        work = self.run_dir / "sipp-callers" / prefix
        work.mkdir(parents=True, exist_ok=True)
        for old in work.glob("*"):
            old.unlink()
        (work / "caller.xml").write_text(caller.xml(work), encoding="latin-1")
        proc = await self._sipp(
            work, f"127.0.0.1:{self.ports.sip}", "-sf", "caller.xml", "-m", str(count), "-l", str(limit),
            "-r", str(max(1, round(rate * 1000))), "-rp", "1000000",
            "-p", str(self.ports.callers + slot), "-mp", str(self.ports.media + 10 + 10 * slot),
            "-trace_stat", "-stf", "stats.csv", "-fd", "1",
            "-timeout", f"{int(count / rate + talk_wait_s + 60)}s",
        )  # fmt: skip
        return Batch(prefix, count, proc, work)

    # --- the records -----------------------------------------------------------------
    async def rows(self, prefixes: Iterable[str]) -> list[dict[str, Any]]:
        """The ``calls`` rows whose caller number starts with one of ``prefixes`` (empty when
        the database does not answer)."""
        prefixes = list(prefixes)
        try:
            conn = await asyncpg.connect(self.exports["DATABASE_URL"], timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return []
        try:
            found = await conn.fetch(
                "SELECT caller_number, disposition, hangup_by, agent_id, queued_at, agent_answered_at,"
                " ended_at, overflow_peer, topic FROM calls"
                " WHERE caller_number LIKE ANY (SELECT p || '%' FROM unnest($1::text[]) AS p)",
                prefixes,
            )
        finally:
            await conn.close()
        return [dict(r) for r in found]

    async def tally(
        self, batches: list[Batch], timeout: float = 30, settle_s: float = 2.0
    ) -> tuple[Tally, list[dict[str, Any]]]:
        """Wait (bounded) until every placed call has a row, then a little longer for doubles."""
        placed = [n for b in batches for n in b.placed]
        return await self.tally_numbers(placed, [b.prefix for b in batches], timeout, settle_s)

    async def tally_numbers(
        self, placed: list[str], prefixes: list[str], timeout: float = 30, settle_s: float = 2.0
    ) -> tuple[Tally, list[dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = await self.rows(prefixes)
            if Tally.of(placed, (r["caller_number"] for r in rows)).lost == 0:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(settle_s)
        rows = await self.rows(prefixes) or rows
        return Tally.of(placed, (r["caller_number"] for r in rows)), rows


_METRIC = re.compile(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) ([0-9.eE+-]+|NaN|[+-]Inf)$")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format: ``name{labels}`` -> value (comments skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _METRIC.match(line.strip())
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def _summary(states: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in states.values():
        out[s] = out.get(s, 0) + 1
    return out
