"""How long PostgreSQL takes to take N call records the way the writer writes them.

``scripts/bench-records [N]`` against the running stack's database (a benchmark
that reports numbers, not a test). The rows are written under call ids
``bench-…`` and deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from ctoengine.records.model import CallRecord
from ctoengine.records.writer import _insert_sql, _values


def _records(n: int) -> list[CallRecord]:
    t0 = datetime.now(UTC)
    out = []
    for i in range(n):
        r = CallRecord(
            call_id=f"bench-{uuid.uuid4()}",
            centre="bench",
            instance="bench",
            started_at=t0 + timedelta(seconds=i),
            caller_number=f"7916{i:07d}",
            dialed_number="88003336060",
            queued_at=t0 + timedelta(seconds=i + 10),
            agent_answered_at=t0 + timedelta(seconds=i + 25),
            topic="passport",
            queue="passport",
            ivr_path=["main:1"],
            disposition="answered",
            agent_id=f"op{i % 10 + 1}",
            hangup_by="caller",
        )
        r.finish(t0 + timedelta(seconds=i + 205))
        out.append(r)
    return out


async def run(dsn: str, n: int, batch: int) -> dict[str, float]:
    records = _records(n)
    sql, cols = _insert_sql(CallRecord)
    rows = [_values(r, cols) for r in records]
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for i in range(0, n, batch):
            async with conn.transaction():
                await conn.executemany(sql, rows[i : i + batch])
        seconds = time.perf_counter() - started
        await conn.execute("DELETE FROM calls WHERE centre = 'bench'")
    finally:
        await conn.close()
    return {"records": n, "batch": batch, "seconds": round(seconds, 3), "records_per_s": round(n / seconds)}


def main() -> int:
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        print('bench-records: DATABASE_URL is not set (eval "$(scripts/stack env)")', file=sys.stderr)
        return 2
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    for batch in (500, n):
        print(json.dumps(asyncio.run(run(dsn, n, batch))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
