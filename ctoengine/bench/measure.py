"""Reading what a benchmark run left behind: sipp's statistics and response
times, the engine's call records and /metrics, Asterisk's queue_log and log
lines, and each process's CPU and memory from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ctoengine.metrics.sla import Counts, outcome_of


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    xs = sorted(values)
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))]


# --- processes ------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK  # utime stime cutime cstime


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class ProcessSampler:
    """Samples the resident memory and CPU time of some processes until stopped:
    peak memory, and peak CPU over any ``window_s`` (an average over a whole
    phase hides the seconds when both arrivals and conversations were up)."""

    pids: dict[str, int]
    every_s: float = 0.5
    window_s: float = 3.0
    peak_kib: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for name, pid in self.pids.items():
                with contextlib.suppress(OSError):  # the process is gone: its peak stays
                    self.peak_kib[name] = max(self.peak_kib.get(name, 0), rss_kib(pid))
                    self.cpu.setdefault(name, []).append((now, cpu_seconds(pid)))
            await asyncio.sleep(self.every_s)

    def peak_cpu_pct(self, name: str) -> float | None:
        """Highest CPU use over a window, in % of one core."""
        samples = self.cpu.get(name, [])
        best: float | None = None
        j = 0
        for i, (t, c) in enumerate(samples):
            while samples[j][0] < t - self.window_s:
                j += 1
            if j < i and t - samples[j][0] >= self.window_s / 2:
                pct = (c - samples[j][1]) / (t - samples[j][0]) * 100
                best = pct if best is None else max(best, pct)
        return None if best is None else round(best, 1)


# --- sipp -----------------------------------------------------------------------
@dataclass
class SippStats:
    offered: int = 0
    successful: int = 0
    failed: int = 0
    retransmissions: int = 0
    peak_concurrent: int = 0


def sipp_stats(path: Path) -> SippStats:
    """Totals from a ``-trace_stat`` file (cumulative columns, one line per period)."""
    with path.open(encoding="latin-1") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    if not rows:
        return SippStats()
    last = rows[-1]

    def n(row: dict[str, str], key: str) -> int:
        return int(row.get(key) or 0)

    return SippStats(
        offered=n(last, "OutgoingCall(C)") + n(last, "IncomingCall(C)"),
        successful=n(last, "SuccessfulCall(C)"),
        failed=n(last, "FailedCall(C)"),
        retransmissions=n(last, "Retransmissions(C)"),
        peak_concurrent=max(n(r, "CurrentCall") for r in rows),
    )


def sipp_response_ms(folder: Path) -> list[float]:
    """INVITE -> 200 times from every ``-trace_rtt`` file in ``folder``."""
    out: list[float] = []
    for path in folder.glob("*_rtt.csv"):
        with path.open(encoding="latin-1") as f:
            for row in csv.reader(f, delimiter=";"):
                try:
                    out.append(float(row[1]))
                except (IndexError, ValueError):
                    continue  # the header
    return out


# --- Prometheus text ------------------------------------------------------------
_BUCKET = re.compile(r'^(\w+)_bucket\{(?:[^}]*,)?le="([^"]+)"[^}]*\} ([0-9.e+-]+)$', re.M)


def buckets(text: str, name: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for metric, le, value in _BUCKET.findall(text):
        if metric == name:
            bound = math.inf if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + float(value)
    return out


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The upper bound of the bucket holding the q-quantile of what was observed
    between two scrapes (as Prometheus' histogram_quantile, without interpolation)."""
    delta = sorted((b, after.get(b, 0.0) - before.get(b, 0.0)) for b in after)
    if not delta or delta[-1][1] <= 0:
        return None
    rank = q * delta[-1][1]
    for bound, cumulative in delta:
        if cumulative >= rank:
            return bound
    return math.inf


# --- queue figures ----------------------------------------------------------------
@dataclass
class QueueFigures(Counts):
    """The SLA counts of a run, and how long each caller waited to be rung."""

    ring_latency_s: list[float] = field(default_factory=list)  # queued -> first operator rung


_LOG = re.compile(r"BENCH (queued|ring|answer) (\S+) ([0-9.]+)")


def _bench_lines(messages_log: Path, since_epoch: float) -> dict[str, dict[str, float]]:
    """The dialplan's BENCH log lines: per kind, per call, the first moment."""
    out: dict[str, dict[str, float]] = {"queued": {}, "ring": {}, "answer": {}}
    if messages_log.exists():
        for kind, call, ts in _LOG.findall(messages_log.read_text(errors="replace")):
            t = float(ts)
            if t >= since_epoch:
                out[kind].setdefault(call, t)
    return out


def baseline_figures(queue_log: Path, messages_log: Path, since_epoch: float) -> QueueFigures:
    """From Asterisk's queue_log (CONNECT holdtime, ABANDON waittime: whole seconds)
    and the dialplan's BENCH log lines (microseconds)."""
    fig = QueueFigures()
    if queue_log.exists():
        for line in queue_log.read_text(errors="replace").splitlines():
            parts = line.split("|")
            if len(parts) < 6 or not parts[0].isdigit() or int(parts[0]) < since_epoch:
                continue
            event, data = parts[4], parts[5:]
            if event == "CONNECT":
                fig.record("answer", float(data[0]))
            elif event == "ABANDON":
                fig.record("abandon", float(data[2]))
            elif event in ("EXITWITHTIMEOUT", "EXITEMPTY"):
                fig.record("exit", float(data[2]) if len(data) > 2 else 0.0)
    lines = _bench_lines(messages_log, since_epoch)
    queued, rung = lines["queued"], lines["ring"]
    fig.ring_latency_s = [rung[c] - queued[c] for c in rung if c in queued]
    return fig


def direct_figures(messages_log: Path, since_epoch: float) -> QueueFigures:
    """The bare dialplan has no queue_log: a call is answered when its operator's
    answer line is there (wait: from the key to that answer), else it left unanswered."""
    lines = _bench_lines(messages_log, since_epoch)
    queued, rung, answered = lines["queued"], lines["ring"], lines["answer"]
    fig = QueueFigures()
    for call, t in queued.items():
        if call in answered:
            fig.record("answer", answered[call] - t)
        else:
            fig.record("exit", 0.0)
    fig.ring_latency_s = [rung[c] - queued[c] for c in rung if c in queued]
    return fig


ENGINE_ROWS = """
SELECT disposition, wait_seconds::float8 AS wait, queued_at, ringing_at
FROM calls WHERE dialed_number = $1 AND started_at >= to_timestamp($2) AND queued_at IS NOT NULL
"""


def engine_figures(rows: Iterable[dict[str, object]]) -> QueueFigures:
    fig = QueueFigures()
    for r in rows:
        fig.record(outcome_of(str(r["disposition"])), float(r["wait"] or 0.0))  # type: ignore[arg-type]
        if r["ringing_at"] is not None and r["queued_at"] is not None:
            fig.ring_latency_s.append((r["ringing_at"] - r["queued_at"]).total_seconds())  # type: ignore[operator]
    return fig
