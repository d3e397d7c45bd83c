"""The record writer against the real PostgreSQL: a bad row is quarantined while
the rest of its batch is written, and a replay writes nothing twice, for every
table (docs/decisions/004-exactly-once-records.md).

Each scenario takes only a database URL and a spool folder, so it can be run
against any migrated database; the tests run them against the stack's."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from ctoengine.metrics.registry import Metrics
from ctoengine.records.model import AgentEventRecord, CallRecord, QueueEventRecord, Record
from ctoengine.records.writer import Batch, RecordWriter
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

CENTRE = "e2e-writer"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _call(call_id: str, **kw: object) -> CallRecord:
    return CallRecord(call_id=call_id, centre=CENTRE, instance=CENTRE, started_at=T0, ended_at=T0, **kw)  # type: ignore[arg-type]


def _agent(tag: str) -> AgentEventRecord:
    return AgentEventRecord(tag, "available", "reserved", None, T0, CENTRE)


def _queue(call_id: str) -> QueueEventRecord:
    return QueueEventRecord(call_id, "passport", "enter", None, None, T0, CENTRE)


async def _until(cond: Callable[[], bool], what: str, seconds: float = 20) -> None:
    for _ in range(int(seconds * 100)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def _counts(conn: asyncpg.Connection, tag: str) -> tuple[int, int, int]:
    """Rows of this scenario: calls, agent events, queue events (all tagged with ``tag``)."""
    calls = await conn.fetchval("SELECT count(*) FROM calls WHERE call_id LIKE $1", f"{tag}%")
    agents = await conn.fetchval("SELECT count(*) FROM agent_events WHERE agent_id LIKE $1", f"{tag}%")
    queues = await conn.fetchval("SELECT count(*) FROM queue_events WHERE call_id LIKE $1", f"{tag}%")
    return calls, agents, queues


async def _replay(dsn: str, spool: Path, metrics: Metrics | None = None) -> RecordWriter:
    """A writer started on ``spool`` (an engine restart), run until its backlog is written."""
    w = RecordWriter(dsn, spool, flush_interval=0.0, metrics=metrics)
    task = asyncio.create_task(w.run())
    try:
        await _until(lambda: w.backlog == 0 and not (spool / "records.jsonl").exists(), "the spool replayed")
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return w


def _spool(spool: Path, *batches: Batch, extra: bytes = b"") -> None:
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "records.jsonl").write_bytes(b"".join(b.spool_lines() for b in batches) + extra)


async def _cleanup(conn: asyncpg.Connection, tag: str) -> None:
    await conn.execute("DELETE FROM calls WHERE call_id LIKE $1", f"{tag}%")
    await conn.execute("DELETE FROM agent_events WHERE agent_id LIKE $1", f"{tag}%")
    await conn.execute("DELETE FROM queue_events WHERE call_id LIKE $1", f"{tag}%")


async def bad_rows_are_quarantined_and_the_writer_goes_on(dsn: str, spool: Path) -> None:
    tag = f"wq-{uuid.uuid4().hex[:8]}-"
    m = Metrics()
    w = RecordWriter(dsn, spool, flush_interval=0.0, metrics=m)
    conn = await asyncpg.connect(dsn)
    task = asyncio.create_task(w.run())
    try:
        # One batch: a good call, a wait out of numeric(10,3) (a huge X-CTO-Waited-Ms), a survey
        # score out of smallint (refused by asyncpg itself), an agent and a queue event.
        for r in (
            _call(f"{tag}good"),
            _call(f"{tag}wait", wait_seconds=1e12, caller_number="79161234567"),
            _call(f"{tag}score", survey_score=100000),
            _agent(f"{tag}op"),
            _queue(f"{tag}good"),
        ):
            w.submit(r)
        quarantine = spool / "quarantine.jsonl"
        await _until(lambda: w.backlog == 0 and quarantine.exists(), "the batch written")
        assert await _counts(conn, tag) == (1, 1, 1)
        assert (
            await conn.fetchval("SELECT call_id FROM calls WHERE call_id LIKE $1", f"{tag}%") == f"{tag}good"
        )
        lines = [json.loads(x) for x in quarantine.read_text(encoding="utf-8").splitlines()]
        mine = {q["row"]["call_id"]: q for q in lines if q["row"].get("call_id", "").startswith(tag)}
        assert set(mine) == {f"{tag}wait", f"{tag}score"}
        assert mine[f"{tag}wait"]["sqlstate"] == "22003"
        assert "numeric field overflow" in mine[f"{tag}wait"]["error"]
        assert "int16" in mine[f"{tag}score"]["error"]
        assert m.registry.get_sample_value("ctoengine_records_quarantined_total", {"table": "calls"}) == 2

        # The writer is still there and writes the next batch.
        w.submit(_call(f"{tag}after"))
        w.submit(_agent(f"{tag}op"))
        await _until(lambda: w.backlog == 0, "the next batch written")
        for _ in range(200):
            if await _counts(conn, tag) == (2, 2, 1):
                break
            await asyncio.sleep(0.05)
        assert await _counts(conn, tag) == (2, 2, 1)
        assert not task.done()
        assert not (spool / "records.jsonl").exists()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await _cleanup(conn, tag)
        await conn.close()


async def an_interrupted_replay_writes_nothing_twice(dsn: str, spool: Path) -> None:
    tag = f"wr-{uuid.uuid4().hex[:8]}-"
    first = Batch.new([_call(f"{tag}a"), _agent(f"{tag}op"), _queue(f"{tag}a")])
    second = Batch.new([_call(f"{tag}b"), _agent(f"{tag}op"), _queue(f"{tag}b")])
    legacy = json.dumps(
        {"table": "agent_events", "row": {**_agent(f"{tag}old").__dict__, "at": T0.isoformat()}}
    ).encode()
    conn = await asyncpg.connect(dsn)
    try:
        # The first replay wrote the first batch, then the engine died.
        await conn.execute("INSERT INTO record_batches (batch_id) VALUES ($1)", first.id)
        await conn.execute(
            "INSERT INTO calls (call_id, centre, instance, started_at, ended_at, disposition)"
            " VALUES ($1, $2, $2, $3, $3, 'failed')",
            f"{tag}a",
            CENTRE,
            T0,
        )
        await conn.execute(
            "INSERT INTO agent_events (agent_id, from_state, to_state, at, instance)"
            " VALUES ($1, 'available', 'reserved', $2, $3)",
            f"{tag}op",
            T0,
            CENTRE,
        )
        await conn.execute(
            "INSERT INTO queue_events (call_id, queue, kind, at, instance)"
            " VALUES ($1, 'passport', 'enter', $2, $3)",
            f"{tag}a",
            T0,
            CENTRE,
        )
        _spool(spool, first, second, extra=legacy + b"\n")

        await _replay(dsn, spool)
        assert await _counts(conn, tag) == (2, 3, 2)  # op: one event per batch, plus the legacy line's

        # The same spool again (a COMMIT whose answer was lost, then spooled): nothing written twice.
        _spool(spool, first, second, extra=legacy + b"\n")
        await _replay(dsn, spool)
        assert await _counts(conn, tag) == (2, 3, 2)
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM record_batches WHERE batch_id = ANY($1::text[])", [first.id, second.id]
            )
            == 2
        )
    finally:
        await _cleanup(conn, tag)
        await conn.close()


async def a_batch_split_halfway_resumes_where_it_stopped(dsn: str, spool: Path) -> None:
    tag = f"ws-{uuid.uuid4().hex[:8]}-"
    records: list[Record] = [_call(f"{tag}good"), _call(f"{tag}bad", wait_seconds=1e12), _agent(f"{tag}op")]
    batch = Batch.new(records)
    conn = await asyncpg.connect(dsn)
    try:
        # A writer went row by row (the batch held a bad row), wrote row 0, then died.
        await conn.execute("INSERT INTO record_batches (batch_id, split) VALUES ($1, true)", batch.id)
        await conn.execute("INSERT INTO record_batches (batch_id) VALUES ($1)", f"{batch.id}:0")
        await conn.execute(
            "INSERT INTO calls (call_id, centre, instance, started_at, ended_at, disposition)"
            " VALUES ($1, $2, $2, $3, $3, 'failed')",
            f"{tag}good",
            CENTRE,
            T0,
        )
        _spool(spool, batch)
        m = Metrics()
        await _replay(dsn, spool, m)
        assert await _counts(conn, tag) == (1, 1, 0)
        assert m.registry.get_sample_value("ctoengine_records_quarantined_total", {"table": "calls"}) == 1

        _spool(spool, batch)  # and once more: nothing new is written or quarantined
        m2 = Metrics()
        await _replay(dsn, spool, m2)
        assert await _counts(conn, tag) == (1, 1, 0)
        assert m2.registry.get_sample_value("ctoengine_records_quarantined_total", {"table": "calls"}) is None
        quarantined = (spool / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(x)["row"]["call_id"] for x in quarantined] == [f"{tag}bad"]
    finally:
        await _cleanup(conn, tag)
        await conn.close()


async def test_bad_rows_are_quarantined_and_the_writer_goes_on(stack: Stack, tmp_path: Path) -> None:
    await bad_rows_are_quarantined_and_the_writer_goes_on(stack.exports["DATABASE_URL"], tmp_path)


async def test_an_interrupted_replay_writes_nothing_twice(stack: Stack, tmp_path: Path) -> None:
    await an_interrupted_replay_writes_nothing_twice(stack.exports["DATABASE_URL"], tmp_path)


async def test_a_batch_split_halfway_resumes_where_it_stopped(stack: Stack, tmp_path: Path) -> None:
    await a_batch_split_halfway_resumes_where_it_stopped(stack.exports["DATABASE_URL"], tmp_path)
