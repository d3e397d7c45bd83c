"""Caller numbers and application numbers are personal data: erased everywhere
the engine keeps them, once older than the configured retention
(``records.caller_number_retention_days``). The engine runs this hourly;
``ctoengine records erase-numbers --days N`` runs it by hand.

Where numbers are kept, and how each is erased:

- ``calls.caller_number`` (the citizen's number; for a call a peer overflowed
  to us, the number from its header): set to NULL.
- ``calls.ivr_path``: an entry ``self_service:<digits>`` (the application number
  the caller typed) becomes ``self_service:******``; the path keeps its shape.
- ``calls.self_service``: ``{"application": "<digits>", ...}`` keeps its keys,
  the number becomes ``******``.
- The record spool (``records.jsonl``, ``quarantine.jsonl``, ``spool-torn.jsonl``
  in the spool folder): records waiting for the database, rewritten with the
  same erasures (and a quarantined row's error text scrubbed of its numbers).
  A torn line is junk kept for forensics: unless it shows a date within the
  retention, its number-shaped fields are erased too.
- Restart state (``engine_state`` rows ``call:<id>``: a call's record so far):
  the same erasures in the stored record.
- ``announcement_plays`` (who heard a "once" announcement, by caller number):
  rows older than the retention are deleted (the caller may hear it again).
- ``callbacks.number`` and ``callbacks.number_key`` (issue 15): set to NULL in
  requests made before the cutoff that are no longer open (an open request
  still needs its number to keep the promise; it is settled within a day or so).
  A callback attempt's own row in ``calls`` holds the number in
  ``caller_number``, erased with the other call rows.

Not personal: ``dialed_number`` (the hotline), ``federation_id`` (an id),
``overflow_peer`` (a centre), ``agent_events`` and ``queue_events`` (agents,
queues, call ids and times; a pause reason is the operator's), the queue
snapshot (``engine_state`` key ``queues``: call ids and waits).

Call recordings (issue 18) have a retention of their own,
``retention.recordings_days``: files and rows go in ``quality/retention.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from ctoengine.errors import DatabaseError
from ctoengine.logs import scrub_text
from ctoengine.quality.retention import erase_recordings
from ctoengine.records.spool import open_locked

log = structlog.get_logger(__name__)

APPLICATION_MASK = "******"  # fixed width: the erased number's length is not kept either
_PATH_ENTRY = r"^self_service:[0-9]+$"  # the same pattern in Python and in SQL
_PATH_ENTRY_RE = re.compile(_PATH_ENTRY)
SPOOL_FILES = ("records.jsonl", "quarantine.jsonl", "spool-torn.jsonl")

ERASE_CALLS = f"""
UPDATE calls SET
    caller_number = NULL,
    ivr_path = ARRAY(
        SELECT CASE WHEN e ~ '{_PATH_ENTRY}' THEN 'self_service:' || $2 ELSE e END
        FROM unnest(ivr_path) WITH ORDINALITY AS t(e, i) ORDER BY i
    ),
    self_service = CASE WHEN self_service ? 'application'
        THEN jsonb_set(self_service, '{{application}}', to_jsonb($2::text)) ELSE self_service END
WHERE started_at < $1
  AND (caller_number IS NOT NULL
       OR (self_service ? 'application' AND self_service->>'application' IS DISTINCT FROM $2)
       OR EXISTS (SELECT 1 FROM unnest(ivr_path) AS e WHERE e ~ '{_PATH_ENTRY}'))
"""  # noqa: S608 - the pattern is ours
ERASE_PLAYS = "DELETE FROM announcement_plays WHERE heard_at < $1"
ERASE_CALLBACKS = """
UPDATE callbacks SET number = NULL, number_key = NULL
WHERE requested_at < $1 AND status NOT IN ('pending', 'dialing')
  AND (number IS NOT NULL OR number_key IS NOT NULL)
"""
# An appeal's note is the operator's free text about the citizen: personal data like the
# number, erased on the same day (the topic, sub-topic and outcome stay for the reports).
ERASE_APPEAL_NOTES = "UPDATE call_appeals SET note = '' WHERE created_at < $1 AND note <> ''"
STATE_ROWS = "SELECT instance, key, value, updated_at FROM engine_state WHERE key LIKE 'call:%'"
STATE_UPDATE = "UPDATE engine_state SET value = $3::jsonb WHERE instance = $1 AND key = $2"


# --- the pure part ------------------------------------------------------------------
def scrub_ivr_path(path: list[str]) -> list[str]:
    """``["main:4", "self_service:123456", "self_service:unknown"]`` ->
    ``["main:4", "self_service:******", "self_service:unknown"]``."""
    return [f"self_service:{APPLICATION_MASK}" if _PATH_ENTRY_RE.match(e) else e for e in path]


def scrub_self_service(result: Any) -> Any:
    """A self-service result with its application number masked (other keys kept)."""
    if isinstance(result, dict) and "application" in result:
        return {**result, "application": APPLICATION_MASK}
    return result


def numbers_of(row: dict[str, Any]) -> list[str]:
    """The numbers a call row holds (for scrubbing texts that may quote them)."""
    found = [row.get("caller_number")]
    found += [
        e.split(":", 1)[1]
        for e in row.get("ivr_path") or []
        if isinstance(e, str) and _PATH_ENTRY_RE.match(e)
    ]
    ss = row.get("self_service")
    if isinstance(ss, dict):
        found.append(ss.get("application"))
    return [str(n) for n in found if n and str(n) != APPLICATION_MASK]


def scrub_call_row(row: dict[str, Any]) -> dict[str, Any]:
    """A call record's row (as in the spool and the restart state) without numbers."""
    out = dict(row)
    out["caller_number"] = None
    if isinstance(out.get("ivr_path"), list):
        out["ivr_path"] = scrub_ivr_path(out["ivr_path"])
    out["self_service"] = scrub_self_service(out.get("self_service"))
    return out


def _older(value: Any, cutoff: datetime) -> bool:
    if not isinstance(value, str):
        return False
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return False
    if t.tzinfo is None:
        t = t.astimezone()
    return t < cutoff


_TORN_DATE = re.compile(r'"started_at"\s*:\s*"([^"]+)"')
_TORN_FIELDS = (
    # A cut line may end inside a value: its closing quote is optional.
    (re.compile(r'("caller_number"\s*:\s*)"[^"]*"?'), r"\1null"),
    (re.compile(r"(self_service:)[0-9]+"), rf"\g<1>{APPLICATION_MASK}"),
    (re.compile(r'("application"\s*:\s*)"[^"]*"?'), rf'\1"{APPLICATION_MASK}"'),
)


def scrub_spool_line(line: str, cutoff: datetime) -> str:
    """One spool line (records, quarantine or torn), its numbers erased if its
    call started before ``cutoff``; other lines as they were."""
    try:
        entry = json.loads(line)
        row = entry["row"]
        if entry.get("table") != "calls" or not isinstance(row, dict):
            return line  # agent and queue events hold no numbers
    except (ValueError, KeyError, TypeError):
        m = _TORN_DATE.search(line)
        if m and not _older(m[1], cutoff):
            return line
        for pattern, repl in _TORN_FIELDS:
            line = pattern.sub(repl, line)
        return line
    if not _older(row.get("started_at"), cutoff):
        return line
    numbers = numbers_of(row)
    if not numbers:
        return line
    entry["row"] = scrub_call_row(row)
    if isinstance(entry.get("error"), str):  # a quarantined row: the database's words may quote it
        error = entry["error"]
        for n in sorted(numbers, key=len, reverse=True):
            error = error.replace(n, APPLICATION_MASK)
        entry["error"] = scrub_text(error)
    return json.dumps(entry, ensure_ascii=False, default=str)


# --- the spool ----------------------------------------------------------------------
def scrub_spool_file(path: Path, cutoff: datetime) -> int:
    """Rewrite one spool file without the numbers of calls older than ``cutoff``;
    how many lines changed. Under the writer's lock (``open_locked``), into a new
    file (mode 600) renamed over the old one: a crash leaves the old or the new."""
    try:
        fd = open_locked(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        with open(fd, "rb", closefd=False) as f:
            raw = f.read()
        lines = raw.split(b"\n")
        changed = 0
        out: list[bytes] = []
        for b in lines:
            if not b.strip():
                out.append(b)
                continue
            text = b.decode("utf-8", errors="surrogateescape")
            new = scrub_spool_line(text, cutoff)
            if new != text:
                changed += 1
                b = new.encode("utf-8", errors="surrogateescape")
            out.append(b)
        if not changed:
            return 0
        tmp = path.with_name(path.name + ".erase-tmp")
        tmp.unlink(missing_ok=True)
        tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            data = memoryview(b"\n".join(out))
            while data:
                data = data[os.write(tfd, data) :]
            os.fsync(tfd)
        finally:
            os.close(tfd)
        tmp.replace(path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return changed
    finally:
        os.close(fd)  # releases the lock: a waiting writer reopens the new file


def scrub_spool(spool_dir: Path, cutoff: datetime) -> int:
    return sum(scrub_spool_file(spool_dir / name, cutoff) for name in SPOOL_FILES)


# --- the database -------------------------------------------------------------------
async def scrub_restart_state(conn: asyncpg.Connection | asyncpg.Pool, cutoff: datetime) -> int:
    """``engine_state`` rows ``call:<id>`` of calls started (or stored) before ``cutoff``."""
    n = 0
    for r in await conn.fetch(STATE_ROWS):
        value = json.loads(r["value"]) if isinstance(r["value"], str) else r["value"]
        record = value.get("record") if isinstance(value, dict) else None
        if not isinstance(record, dict) or not numbers_of(record):
            continue
        if not (_older(record.get("started_at"), cutoff) or r["updated_at"] < cutoff):
            continue
        value["record"] = scrub_call_row(record)
        await conn.execute(STATE_UPDATE, r["instance"], r["key"], json.dumps(value, ensure_ascii=False))
        n += 1
    return n


@dataclass
class Erased:
    calls: int = 0
    restart_state: int = 0
    announcement_plays: int = 0
    spool_lines: int = 0
    recordings: int = 0
    callbacks: int = 0
    appeal_notes: int = 0

    def total(self) -> int:
        return (
            self.calls
            + self.restart_state
            + self.announcement_plays
            + self.spool_lines
            + self.recordings
            + self.callbacks
            + self.appeal_notes
        )


async def erase_all(
    conn: asyncpg.Connection | asyncpg.Pool,
    now: datetime,
    days: int,
    spool_dir: Path | None,
    recordings_days: int | None = None,
    recording_dir: Path | None = None,
) -> Erased:
    """Erase the numbers of calls started more than ``days`` before ``now``, everywhere;
    and the recordings older than ``recordings_days`` (when given)."""
    cutoff = now - timedelta(days=days)
    done = Erased()
    done.calls = int((await conn.execute(ERASE_CALLS, cutoff, APPLICATION_MASK)).split()[-1])
    done.restart_state = await scrub_restart_state(conn, cutoff)
    done.announcement_plays = int((await conn.execute(ERASE_PLAYS, cutoff)).split()[-1])
    done.callbacks = int((await conn.execute(ERASE_CALLBACKS, cutoff)).split()[-1])
    done.appeal_notes = int((await conn.execute(ERASE_APPEAL_NOTES, cutoff)).split()[-1])
    if spool_dir is not None:
        done.spool_lines = await asyncio.to_thread(scrub_spool, spool_dir, cutoff)
    if recordings_days is not None:
        done.recordings = await erase_recordings(conn, now - timedelta(days=recordings_days), recording_dir)
    return done


async def erase_numbers(conn: asyncpg.Connection | asyncpg.Pool, now: datetime, days: int) -> int:
    """The call records only (kept for callers of the old signature); how many rows."""
    return (await erase_all(conn, now, days, None)).calls


async def keep_erasing(
    get_pool: Callable[[], Awaitable[asyncpg.Pool]],
    get_days: Callable[[], int],
    every_s: float = 3600.0,
    spool_dir: Path | None = None,
    recordings_days: Callable[[], int] | None = None,
    recording_dir: Path | None = None,
) -> None:
    """Hourly, for ever; a database outage only delays it. ``get_days`` follows config reloads."""
    while True:
        try:
            rec_days = recordings_days() if recordings_days is not None else None
            now = datetime.now().astimezone()
            done = await erase_all(await get_pool(), now, get_days(), spool_dir, rec_days, recording_dir)
            if done.total():
                log.info("personal_data_erased", retention_days=get_days(), **vars(done))
        except (OSError, asyncpg.PostgresError, DatabaseError) as e:
            log.warning("caller number retention postponed", error=str(e))
        await asyncio.sleep(every_s)
