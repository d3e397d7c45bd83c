"""``scripts/bench``: the same load through the engine, through Asterisk's
Queue() and through a bare dialplan (Dial() to a free operator, no queue: the
box's own limit), on one stack, one after the other; a table, and JSON for tracking.

One sipp process answers for every operator (all their contacts point at it):
it rings briefly, answers, sends RTP and hangs up after the hold time. Two sipp
caller processes (key 1 and key 2) send RTP, press the topic key after the
greeting and wait for the operator to hang up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from ctoengine.bench import measure, profile
from ctoengine.loadgen.scenario import Caller, operator_xml

ROOT = profile.REPO_ROOT
SYSTEMS = ("direct", "baseline", "engine")
DIDS = {"engine": profile.ENGINE_DID, "baseline": profile.BASELINE_DID, "direct": profile.DIRECT_DID}


@dataclass(frozen=True)
class Ports:
    sip: int
    operators: int  # the one contact port of every operator
    callers: int  # sipp caller processes: this and +10
    ari: int
    http: int
    pg: int
    rtp: tuple[int, int]
    media: int  # sipp media ports from here

    @classmethod
    def preset(cls, smoke: bool) -> Ports:
        if smoke:
            return cls(7270, 7290, 7300, 9488, 9480, 56832, (29000, 29999), 33000)
        # 5000 RTP sessions: a ramp to 90 calls/s holds some 2000 channels at once.
        return cls(7070, 7090, 7100, 9388, 9380, 56732, (40000, 49999), 31000)


@dataclass(frozen=True)
class Load:
    rate: float  # calls per second, both keys together
    duration_s: float

    @property
    def calls(self) -> int:
        return max(2, round(self.rate * self.duration_s))


class Bench:
    def __init__(self, run_dir: Path, ports: Ports, timings: profile.Timings) -> None:
        self.run_dir, self.ports, self.t = run_dir, ports, timings
        self.env = dict(os.environ)
        self.procs: list[asyncio.subprocess.Process] = []
        self.exports: dict[str, str] = {}

    # --- the stack --------------------------------------------------------------
    def _stack(self, *args: str) -> str:
        r = subprocess.run(
            [str(ROOT / "scripts/stack"), *args], env=self.env, capture_output=True, text=True, timeout=300
        )
        if r.returncode != 0:
            raise SystemExit(f"bench: scripts/stack {' '.join(args)} failed:\n{r.stderr.strip()}")
        return r.stdout

    async def up(self) -> None:
        routing, extra = profile.write(self.run_dir / "profile", self.t)
        p = self.ports
        self.env.update(
            CTO_RUN_DIR=str(self.run_dir),
            CTO_OPERATORS=str(self.t.operators),
            CTO_OP_CONTACT_PORT=str(p.operators),
            CTO_EXTRA_CONF_DIR=str(extra),
            CTO_ROUTING=str(routing),
            CTO_QUALIFY_S="30",
            CTO_SIP_PORT=str(p.sip),
            CTO_ARI_PORT=str(p.ari),
            CTO_HTTP_PORT=str(p.http),
            CTO_PG_PORT=str(p.pg),
            CTO_RTP_START=str(p.rtp[0]),
            CTO_RTP_END=str(p.rtp[1]),
        )
        self._stack("down")
        # The operators' phone first, so Asterisk's first qualify finds it.
        work = self.run_dir / "sipp-operators"
        work.mkdir(parents=True, exist_ok=True)
        xml = operator_xml(ring_ms=int(self.t.ring_s * 1000), hold_ms=int(self.t.hold_s * 1000))
        (work / "operator.xml").write_text(xml, encoding="latin-1")
        self.uas = await self._sipp(
            work, "-sf", "operator.xml", "-p", str(p.operators), "-mp", str(p.media),
            "-trace_stat", "-stf", "stats.csv", "-fd", "1",
        )  # fmt: skip
        self._stack("up")
        for line in self._stack("env").splitlines():
            k, _, v = line.removeprefix("export ").partition("=")
            self.exports[k] = shlex.split(v)[0] if v else ""
        await self._login_all()

    async def stop_sipp(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()

    def down(self) -> None:
        self._stack("down")

    async def _login_all(self) -> None:
        api, headers = (
            self.exports["CTO_API_URL"],
            {"Authorization": f"Bearer {self.exports['CTO_API_TOKEN']}"},
        )
        async with aiohttp.ClientSession(headers=headers) as s:
            for i in range(1, self.t.operators + 1):
                async with s.post(f"{api}/api/v1/agents/op{i}/login", json={}) as r:
                    if r.status not in (200, 409):
                        raise SystemExit(f"bench: login of op{i}: {r.status} {await r.text()}")
            states: dict[str, str] = {}
            # Asterisk's first qualify of hundreds of contacts takes a while (CTO_QUALIFY_S is 30).
            for _ in range(900):
                async with s.get(f"{api}/api/v1/agents") as r:
                    states = {a["id"]: a["state"] for a in await r.json()}
                if sum(v == "available" for v in states.values()) == self.t.operators:
                    return
                await asyncio.sleep(0.1)
            late = {k: v for k, v in states.items() if v != "available"}
            # A qualify lost under the load of the first hundreds is Asterisk's, not the engine's:
            # one operator in a hundred may miss the start; more means the stack is broken.
            if len(late) * 100 > self.t.operators:
                raise SystemExit(f"bench: {len(late)} operators not available after 90 s: {late}")
            print(f"bench: starting without {len(late)} operators not yet available: {late}", file=sys.stderr)

    async def _sipp(self, cwd: Path, *args: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            "sipp", *args, "-i", "127.0.0.1", "-nostdin", "-trace_err", "-max_recv_loops", "1000",
            cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    # --- one load through one system ----------------------------------------------------
    async def phase(self, system: str, load: Load, tag: str = "") -> dict[str, Any]:
        did = DIDS[system]
        work = self.run_dir / f"sipp-{system}{tag}"
        work.mkdir(parents=True, exist_ok=True)
        for old in work.glob("*"):
            old.unlink()
        pids = {
            "asterisk": int((self.run_dir / "asterisk.pid").read_text()),
            "engine": int((self.run_dir / "engine.pid").read_text()),
        }
        uas_before = measure.sipp_stats(self.run_dir / "sipp-operators" / "stats.csv")
        cpu0 = {k: measure.cpu_seconds(pid) for k, pid in pids.items()}
        lag0 = await self._lag_buckets()
        memory = measure.ProcessSampler(pids)
        sampler = asyncio.create_task(memory.run())
        t0 = time.time()
        callers = []
        per_key = [load.calls // 2, load.calls - load.calls // 2]
        for n, key in enumerate(("1", "2")):
            caller = Caller(f"7999{n + 1}0[call_number]", did=did, expect_engine_hangup=True)
            caller.pause(1500).dtmf(key)
            caller.wait_bye_ms = int((self.t.hold_s + 600) * 1000)
            xml = work / f"caller{key}.xml"
            xml.write_text(caller.xml(work), encoding="latin-1")
            port = self.ports.callers + 10 * n
            args = [
                f"127.0.0.1:{self.ports.sip}", "-sf", xml.name, "-m", str(per_key[n]), "-l", "5000",
                # -r calls per -rp milliseconds: a per-mille rate allows fractional rates.
                "-r", str(round(load.rate / 2 * 1000)), "-rp", "1000000",
                "-p", str(port), "-mp", str(self.ports.media + 1000 * (n + 1)),
                "-trace_stat", "-stf", f"stats{key}.csv", "-fd", "1", "-trace_rtt", "-rtt_freq", "1",
                "-timeout", f"{int(load.duration_s + self.t.hold_s + 660)}s", "-timeout_error",
            ]  # fmt: skip
            callers.append(await self._sipp(work, *args))
        for proc in callers:
            await proc.wait()
        sipp = [measure.sipp_stats(work / f"stats{k}.csv") for k in ("1", "2")]
        figures = await self._figures(system, did, t0, load.calls)
        cpu1 = {k: measure.cpu_seconds(pid) for k, pid in pids.items()}
        lag1 = await self._lag_buckets()
        sampler.cancel()
        await asyncio.sleep(1.2)  # the operators' sipp writes its statistics every second
        uas = measure.sipp_stats(self.run_dir / "sipp-operators" / "stats.csv")
        rtt = measure.sipp_response_ms(work)
        offered = sum(s.offered for s in sipp)
        wall = max(1e-3, time.time() - t0)
        lag_p99 = measure.histogram_quantile(lag0, lag1, 0.99) if system == "engine" else None
        return {
            "system": system,
            "rate_cps": load.rate,
            "seconds": round(time.time() - t0, 1),
            "offered": offered,
            "answered": figures.answered,
            "failed": sum(s.failed for s in sipp) + (uas.failed - uas_before.failed),
            "retransmissions": sum(s.retransmissions for s in sipp)
            + (uas.retransmissions - uas_before.retransmissions),
            "peak_concurrent_calls": sum(s.peak_concurrent for s in sipp),
            "service_level": _round(figures.service_level, 4),
            "abandoned_share": _round(figures.abandoned_share, 4),
            "invite_200_ms_p50": _round(measure.percentile(rtt, 50), 1),
            "invite_200_ms_p99": _round(measure.percentile(rtt, 99), 1),
            "queued_ring_ms_p50": _round(_ms(measure.percentile(figures.ring_latency_s, 50)), 1),
            "queued_ring_ms_p99": _round(_ms(measure.percentile(figures.ring_latency_s, 99)), 1),
            "asterisk_cpu_s_per_call": _round((cpu1["asterisk"] - cpu0["asterisk"]) / max(1, offered), 4),
            "engine_cpu_s_per_call": _round((cpu1["engine"] - cpu0["engine"]) / max(1, offered), 4)
            if system == "engine"
            else None,
            # % of one core, over the whole phase and at its busiest 3 s: what limits a rate.
            "asterisk_cpu_pct": round((cpu1["asterisk"] - cpu0["asterisk"]) / wall * 100, 1),
            "asterisk_cpu_pct_peak": memory.peak_cpu_pct("asterisk"),
            "engine_cpu_pct": round((cpu1["engine"] - cpu0["engine"]) / wall * 100, 1)
            if system == "engine"
            else None,
            "engine_cpu_pct_peak": memory.peak_cpu_pct("engine") if system == "engine" else None,
            "asterisk_peak_mib": round(memory.peak_kib.get("asterisk", 0) / 1024, 1),
            "engine_peak_mib": round(memory.peak_kib.get("engine", 0) / 1024, 1)
            if system == "engine"
            else None,
            "event_loop_lag_ms_p99": None if lag_p99 is None else lag_p99 * 1000,
        }

    async def _lag_buckets(self) -> dict[float, float]:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{self.exports['CTO_API_URL']}/metrics") as r,
        ):
            return measure.buckets(await r.text(), "ctoengine_event_loop_lag_seconds")

    async def _figures(self, system: str, did: str, t0: float, calls: int) -> measure.QueueFigures:
        log = self.run_dir / "asterisk" / "log"
        if system == "baseline":
            return measure.baseline_figures(log / "queue_log", log / "messages.log", t0 - 1)
        if system == "direct":
            return measure.direct_figures(log / "messages.log", t0 - 1)
        conn = await asyncpg.connect(self.exports["DATABASE_URL"])
        try:
            # The record writer batches: wait (bounded) until every queued call has its row.
            rows: list[Any] = []
            for _ in range(100):
                rows = await conn.fetch(measure.ENGINE_ROWS, did, t0 - 1)
                if len(rows) >= calls:
                    break
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
        return measure.engine_figures(dict(r) for r in rows)


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1000


ROWS = (
    ("offered", "calls offered"),
    ("answered", "answered by an operator"),
    ("failed", "failed calls (sipp)"),
    ("retransmissions", "SIP retransmissions"),
    ("peak_concurrent_calls", "peak concurrent callers"),
    ("service_level", "answered within 20 s"),
    ("abandoned_share", "abandoned"),
    ("invite_200_ms_p50", "INVITE -> 200 p50, ms"),
    ("invite_200_ms_p99", "INVITE -> 200 p99, ms"),
    ("queued_ring_ms_p50", "queued -> operator rung p50, ms"),
    ("queued_ring_ms_p99", "queued -> operator rung p99, ms"),
    ("asterisk_cpu_s_per_call", "Asterisk CPU s per call"),
    ("engine_cpu_s_per_call", "engine CPU s per call"),
    ("asterisk_peak_mib", "Asterisk peak RSS, MiB"),
    ("engine_peak_mib", "engine peak RSS, MiB"),
    ("event_loop_lag_ms_p99", "event-loop lag p99, ms (bucket bound)"),
)


def ratios(engine: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, _ in ROWS:
        e, b = engine.get(key), baseline.get(key)
        out[key] = (
            round(e / b, 3) if isinstance(e, int | float) and isinstance(b, int | float) and b else None
        )
    return out


def table(result: dict[str, Any]) -> str:
    """engine, Queue() and the bare dialplan side by side; the ratio is engine / Queue()."""
    e, b, r = result.get("engine", {}), result.get("baseline", {}), result.get("ratios", {})
    d = result.get("direct", {})
    lines = [f"{'':<40} {'engine':>10} {'Queue()':>10} {'bare':>10} {'ratio':>7}"]
    for key, title in ROWS:
        cells = (_cell(e.get(key)), _cell(b.get(key)), _cell(d.get(key)), _cell(r.get(key)))
        lines.append(f"{title:<40} {cells[0]:>10} {cells[1]:>10} {cells[2]:>10} {cells[3]:>7}")
    e_cpu, a_cpu = e.get("engine_cpu_s_per_call"), e.get("asterisk_cpu_s_per_call")
    if e_cpu is not None and a_cpu:
        lines.append(f"engine CPU / Asterisk CPU (engine run): {e_cpu / a_cpu:.2f}")
    return "\n".join(lines)


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


async def compare(bench: Bench, load: Load, systems: tuple[str, ...] = SYSTEMS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system in systems:
        out[system] = await bench.phase(system, load)
    if "engine" in out and "baseline" in out:
        out["ratios"] = ratios(out["engine"], out["baseline"])
    return out


def clean(step: dict[str, Any]) -> bool:
    """A rate is carried cleanly when no call failed, no SIP message was sent
    twice and every caller reached an operator."""
    return not step["failed"] and not step["retransmissions"] and step["answered"] >= step["offered"]


def limit_of(step: dict[str, Any], cpus: int) -> str:
    """What most plausibly stopped a system at its first unclean step, from its
    own figures: the event loop, the box's CPU, or neither (SIP timing alone)."""
    lag = step.get("event_loop_lag_ms_p99")
    ast = step.get("asterisk_cpu_pct_peak") or 0.0
    eng = step.get("engine_cpu_pct_peak") or 0.0
    if lag is not None and lag >= 100:
        return f"engine event loop (lag p99 {lag:g} ms)"
    if ast + eng >= 85 * cpus:
        return f"box CPU (Asterisk {ast:g}% + engine {eng:g}% of one core, {cpus} cores)"
    if ast >= 95:
        return f"Asterisk CPU ({ast:g}% of one core at peak)"
    return f"SIP timing with CPU to spare (Asterisk {ast:g}%, engine {eng:g}% at peak)"


def next_rates(rates: list[float], limit: float) -> list[float]:
    """The rates given, then on by the last step until ``limit``: the ramp goes
    until the first unclean step, not merely to the top of the list."""
    out = list(rates)
    step = rates[-1] - rates[-2] if len(rates) > 1 else rates[-1]
    step = max(step, 1.0)
    while out[-1] + step <= limit:
        out.append(out[-1] + step)
    return out


async def ramp(
    bench: Bench, rates: list[float], step_s: float, limit: float, systems: tuple[str, ...] = SYSTEMS
) -> dict[str, Any]:
    """Each system, rate by rate, until its first failed call or retransmission."""
    out: dict[str, Any] = {}
    cpus = os.cpu_count() or 1
    for system in systems:
        steps, last_clean, stopped = [], None, None
        for rate in next_rates(rates, limit):
            r = await bench.phase(system, Load(rate, step_s), tag=f"-ramp{rate:g}")
            steps.append(r)
            print(f"ramp {system} {rate:g}/s: failed {r['failed']}, retransmissions {r['retransmissions']}, "
                  f"answered {r['answered']}/{r['offered']}, concurrent {r['peak_concurrent_calls']}, "
                  f"Asterisk CPU peak {r['asterisk_cpu_pct_peak']}%, engine {r['engine_cpu_pct_peak']}%",
                  file=sys.stderr)  # fmt: skip
            if not clean(r):
                stopped = r
                break
            last_clean = r
        out[system] = {
            "highest_clean_rate_cps": last_clean["rate_cps"] if last_clean else None,
            "concurrent_at_clean_rate": last_clean["peak_concurrent_calls"] if last_clean else None,
            "first_unclean_rate_cps": stopped["rate_cps"] if stopped else None,
            "limited_by": limit_of(stopped, cpus) if stopped else f"not reached by {limit:g} calls/s",
            "steps": steps,
        }
    direct = out["direct"]["highest_clean_rate_cps"] if "direct" in out else None
    for system in ("engine", "baseline"):
        if system not in out:
            continue
        mine = out[system]["highest_clean_rate_cps"]
        out[system]["share_of_bare"] = round(mine / direct, 3) if mine and direct else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=10.0, help="calls per second (default 10)")
    p.add_argument(
        "--duration", type=float, default=60.0, help="seconds of new calls per system (default 60)"
    )
    p.add_argument("--hold", type=float, default=25.0, help="talk time in seconds (default 25)")
    p.add_argument("--operators", type=int, default=300, help="operators (default 300)")
    p.add_argument("--ramp", help="comma-separated rates for ramp mode, e.g. 5,10,15,20,30")
    p.add_argument("--ramp-step", type=float, default=30.0, help="seconds of new calls per ramp step")
    p.add_argument(
        "--ramp-max", type=float, default=150.0, help="past the list, the ramp goes on up to this rate"
    )
    p.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"which of {','.join(SYSTEMS)} to run, comma-separated (default all; e.g. engine to profile it)",
    )
    p.add_argument("--smoke", action="store_true", help="a few calls on ports of their own (the test suite)")
    p.add_argument("--json", type=Path, help="where to write the JSON (default run/bench/bench-TIME.json)")
    p.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = p.parse_args(argv)
    if args.smoke:
        args.rate, args.duration, args.hold, args.operators = 2.0, 3.0, 1.0, 4
    if args.rate <= 0 or args.duration <= 0 or args.hold <= 0 or args.operators < 1:
        p.error("--rate, --duration, --hold must be positive and --operators at least 1")
    systems = tuple(x.strip() for x in args.systems.split(",") if x.strip())
    if not systems or any(x not in SYSTEMS for x in systems):
        p.error(f"--systems: {args.systems!r} is not a list of {', '.join(SYSTEMS)}")
    rates = []
    if args.ramp:
        try:
            rates = [float(x) for x in args.ramp.split(",")]
        except ValueError:
            p.error(f"--ramp: {args.ramp!r} is not a list of rates like 5,10,15")
    run_dir = ROOT / "run" / ("bench-smoke" if args.smoke else "bench")
    bench = Bench(run_dir, Ports.preset(args.smoke), profile.Timings(args.operators, args.hold))
    params = {k: v for k, v in vars(args).items() if k not in ("json", "keep")}
    params["cpus"] = os.cpu_count()

    async def go() -> dict[str, Any]:
        try:
            await bench.up()
            if rates:
                steps = await ramp(bench, rates, args.ramp_step, args.ramp_max, systems)
                return {"params": params, "ramp": steps}
            return {"params": params, **await compare(bench, Load(args.rate, args.duration), systems)}
        finally:
            await bench.stop_sipp()

    try:
        result = asyncio.run(go())
    finally:
        if not args.keep:
            bench.down()
    out = args.json or run_dir / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    if rates:
        for system, r in result["ramp"].items():
            share = f", {r['share_of_bare']:.0%} of the bare dialplan's" if r.get("share_of_bare") else ""
            print(f"{system}: highest clean rate {r['highest_clean_rate_cps']} calls/s "
                  f"({r['concurrent_at_clean_rate']} concurrent callers){share}; first unclean "
                  f"{r['first_unclean_rate_cps']} calls/s, limited by {r['limited_by']}")  # fmt: skip
    else:
        print(table(result))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
