"""``ctoengine report``: arguments checked first (one clear line each), then
one query over ``calls`` and the figures rendered."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from ctoengine.errors import DatabaseError, UsageError
from ctoengine.reports import appeals, callbacks, render, survey
from ctoengine.reports.figures import Call, summarise

QUERY = """
SELECT started_at, queued_at, topic, queue, disposition, agent_id,
       wait_seconds::float8 AS wait_s, talk_seconds::float8 AS talk_s, wrap_up_seconds::float8 AS wrap_s
FROM calls
WHERE started_at >= $1 AND started_at < $2 AND ($3::text IS NULL OR centre = $3)
  AND direction = 'inbound'
"""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--tz: unknown time zone {name!r} (e.g. Europe/Moscow)") from None


def moment(option: str, text: str, tz: ZoneInfo) -> datetime:
    """A day (2026-11-22) or a local date-time (2026-11-22T08:00 or '2026-11-22 08:00')."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date (2026-11-22 or 2026-11-22T08:00)") from None
    return t if t.tzinfo else t.replace(tzinfo=tz)


def period(start: str, end: str | None, tz: ZoneInfo) -> tuple[datetime, datetime]:
    t0 = moment("--from", start, tz)
    t1 = moment("--to", end, tz) if end else t0 + timedelta(days=1)
    if t1 <= t0:
        raise UsageError(f"--to {end} is not after --from {start}")
    return t0, t1


async def fetch(
    dsn: str, t0: datetime, t1: datetime, centre: str | None
) -> tuple[list[Call], list[callbacks.Request], list[survey.Score]]:
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as e:
        raise DatabaseError(f"cannot reach the database: {e}") from None
    try:
        rows = await conn.fetch(QUERY, t0, t1, centre)
        requests = await conn.fetch(callbacks.QUERY, t0, t1, centre)
        scores = await conn.fetch(survey.QUERY, t0, t1, centre)
    except asyncpg.PostgresError as e:
        raise DatabaseError(f"report query failed: {e}") from None
    finally:
        await conn.close()
    return (
        [Call(**dict(r)) for r in rows],
        [callbacks.Request(**dict(r)) for r in requests],
        [survey.Score(**dict(r)) for r in scores],
    )


async def run(
    dsn: str,
    *,
    start: str,
    end: str | None,
    by: str,
    tz_name: str,
    centre: str | None,
    csv_path: Path | None,
    chart_path: Path | None,
) -> str:
    """The terminal text; writes the CSV and the chart when asked."""
    tz = zone(tz_name)
    t0, t1 = period(start, end, tz)
    if by in appeals.BY:
        return await _appeals(dsn, t0, t1, by, tz_name, centre, csv_path, chart_path)
    calls, requests, scores = await fetch(dsn, t0, t1, centre)
    groups, total = summarise(calls, by, tz)
    where = f" centre {centre}" if centre else ""
    title = f"Calls{where} from {t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} ({tz_name}), by {by}"
    text = render.table(by, groups, total, title)
    # The promise: callbacks requested and called back within 24 h, per day and topic.
    text += "\n\nCallbacks by the day they were requested\n" + callbacks.table(callbacks.lines(requests, tz))
    text += "\n\nPost-call survey (1-5) by queue, operator and day\n"
    text += survey.table(survey.averages(scores, tz))
    try:
        if csv_path is not None:
            render.write_csv(csv_path, by, groups, total)
            text += f"\nCSV: {csv_path}"
        if chart_path is not None:
            render.chart(chart_path, by, groups, title)
            text += f"\nchart: {chart_path}"
    except OSError as e:
        raise UsageError(f"cannot write {e.filename}: {e.strerror}") from None
    return text


async def _appeals(
    dsn: str, t0: datetime, t1: datetime, by: str, tz_name: str, centre: str | None,
    csv_path: Path | None, chart_path: Path | None,
) -> str:  # fmt: skip
    """``--by subtopic`` / ``--by outcome``: the appeals registered in the period."""
    if chart_path is not None:
        raise UsageError(f"--chart is drawn for calls; --by {by} counts appeals: a table and a CSV only")
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as e:
        raise DatabaseError(f"cannot reach the database: {e}") from None
    try:
        rows = await conn.fetch(appeals.QUERY, t0, t1, centre)
    except asyncpg.PostgresError as e:
        raise DatabaseError(f"report query failed: {e}") from None
    finally:
        await conn.close()
    found, total = appeals.lines((appeals.Appeal(**dict(r)) for r in rows), by)
    where = f" centre {centre}" if centre else ""
    title = f"Appeals{where} from {t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} ({tz_name}), by {by}"
    text = appeals.table(by, found, total, title)
    if csv_path is not None:
        try:
            appeals.write_csv(csv_path, by, found, total)
        except OSError as e:
            raise UsageError(f"cannot write {e.filename}: {e.strerror}") from None
        text += f"\nCSV: {csv_path}"
    return text
