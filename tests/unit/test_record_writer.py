"""The record writer's failure paths that need no database: torn spool lines,
a full disk, the quarantine format, and a writer that never ends."""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from ctoengine.metrics.registry import Metrics
from ctoengine.records import spool as spool_mod
from ctoengine.records import writer as writer_mod
from ctoengine.records.model import AgentEventRecord, CallRecord, QueueEventRecord, from_json, to_json
from ctoengine.records.writer import Batch, RecordWriter, _is_data_error

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
_REAL_WRITE_ALL = spool_mod._write_all
NOWHERE = "postgresql://u:p@127.0.0.1:9/x"  # nothing listens: refused at once


def _call(call_id: str, **kw: object) -> CallRecord:
    return CallRecord(call_id=call_id, centre="x", instance="i", started_at=T0, ended_at=T0, **kw)  # type: ignore[arg-type]


def _agent(agent_id: str) -> AgentEventRecord:
    return AgentEventRecord(agent_id, "available", "reserved", None, T0, "i")


def _sample(m: Metrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def _until(cond: Callable[[], bool], what: str) -> None:
    """Poll a condition (the writer runs in the same loop); fail with ``what`` after 10 s."""
    for _ in range(1000):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def _with_writer(w: RecordWriter, body: Callable[[asyncio.Task[None]], Awaitable[None]]) -> None:
    task = asyncio.create_task(w.run())
    try:
        await body(task)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- the spool format ----------------------------------------------------------


def test_spool_lines_carry_the_batch_id_and_index_and_load_back() -> None:
    b = Batch.new([_call("c1"), _agent("op1")])
    lines = b.spool_lines().decode().splitlines()
    assert [json.loads(x)["batch"] for x in lines] == [b.id, b.id]
    assert [json.loads(x)["i"] for x in lines] == [0, 1]
    assert [from_json(json.loads(x)) for x in lines] == b.records


def test_torn_lines_are_set_aside_and_the_rest_loads(tmp_path: Path) -> None:
    good = Batch.new([_call("c1"), _agent("op1")])
    legacy = json.dumps(to_json(_call("old1"))).encode()  # an older engine's line: no batch id
    torn = [
        b'{"batch": "x", "i": 0, "table": "calls", "row": {"call_id": "c9", "cen',  # cut mid-write
        b'{"batch": "y", "i": 0, "table": "nope", "row": {}}',  # does not load
        b'{"batch": "z", "i": 0, "table": "calls", "row": {"call_id": "c8"}}',  # fields missing
        b"\xff\xfe not utf-8",
    ]
    lines = good.spool_lines().splitlines()
    (tmp_path / "records.jsonl").write_bytes(
        b"\n".join([lines[0], torn[0], torn[1], legacy, torn[2], lines[1], torn[3]]) + b"\n"
    )
    m = Metrics()
    w = RecordWriter(NOWHERE, tmp_path, metrics=m)
    assert w.backlog == 7

    batches, kept = w._load_spool()

    assert kept == 0
    assert [(b.id, b.records) for b in batches[:1]] == [(good.id, good.records)]
    assert batches[1].id.startswith("legacy-")
    assert batches[1].records == [_call("old1")]
    assert len(batches) == 2
    assert (tmp_path / "spool-torn.jsonl").read_bytes() == b"".join(t + b"\n" for t in torn)
    assert _sample(m, "ctoengine_records_spool_torn_total") == 4
    # The spool no longer holds them: a second load finds nothing torn and sets nothing aside twice.
    assert w.backlog == 3
    again, _ = w._load_spool()
    assert [b.records for b in again] == [b.records for b in batches]
    assert (tmp_path / "spool-torn.jsonl").read_bytes().count(b"\n") == 4
    assert _sample(m, "ctoengine_records_spool_torn_total") == 4


def test_a_line_appended_after_a_torn_tail_stays_whole(tmp_path: Path) -> None:
    (tmp_path / "records.jsonl").write_bytes(b'{"batch": "x", "i": 0, "table": "ca')  # no newline: torn
    w = RecordWriter(NOWHERE, tmp_path)
    b = Batch.new([_call("c1")])
    w._keep(b)
    batches, _ = w._load_spool()
    assert [x.id for x in batches] == [b.id]
    assert (tmp_path / "spool-torn.jsonl").read_bytes() == b'{"batch": "x", "i": 0, "table": "ca\n'


def test_the_same_batch_twice_in_the_spool_loads_once(tmp_path: Path) -> None:
    b = Batch.new([_call("c1"), _agent("op1")])
    (tmp_path / "records.jsonl").write_bytes(b.spool_lines().splitlines()[0] + b"\n" + b.spool_lines())
    batches, _ = RecordWriter(NOWHERE, tmp_path)._load_spool()
    assert [(x.id, x.index, x.records) for x in batches] == [(b.id, [0, 1], b.records)]


# -- a full disk ---------------------------------------------------------------


def _disk_full(fd: int, data: bytes) -> None:
    import os

    os.write(fd, data[: len(data) // 2])  # half a batch reaches the disk, then ENOSPC
    raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_full_disk_keeps_records_in_a_bounded_memory_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = Metrics()
    w = RecordWriter(NOWHERE, tmp_path, flush_interval=0.0, metrics=m, memory_limit=5)
    monkeypatch.setattr(spool_mod, "_write_all", _disk_full)

    async def body(task: asyncio.Task[None]) -> None:
        for i in range(3):
            w.submit(_call(f"c{i}"))
        await _until(lambda: w.backlog == 3 and w._queue.empty() and w._hand is None, "3 records in memory")
        assert _sample(m, "ctoengine_records_spool_failing") == 1
        assert not (tmp_path / "records.jsonl").exists() or (tmp_path / "records.jsonl").stat().st_size == 0
        for i in range(4):
            w.submit(_agent(f"op{i}"))
        await _until(lambda: _sample(m, "ctoengine_records_lost_total", table="calls") == 2, "2 calls lost")
        assert w.backlog == 5  # the bound
        assert [r.call_id for b in w._memory for r in b.records if isinstance(r, CallRecord)] == ["c2"]
        assert not task.done()

        monkeypatch.setattr(spool_mod, "_write_all", _REAL_WRITE_ALL)  # the disk has room again
        await _until(lambda: not w._memory, "memory spilled to the spool once the disk has room")
        assert _sample(m, "ctoengine_records_spool_failing") == 0
        assert w.backlog == 5

    await _with_writer(w, body)
    lines = (tmp_path / "records.jsonl").read_bytes().splitlines()
    loaded = [from_json(json.loads(x)) for x in lines]
    assert [getattr(r, "call_id", None) or getattr(r, "agent_id", None) for r in loaded] == [
        "c2",
        "op0",
        "op1",
        "op2",
        "op3",
    ]
    assert _sample(m, "ctoengine_records_lost_total", table="agent_events") == 0


async def test_records_in_memory_at_shutdown_are_counted_lost_not_dropped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = Metrics()
    w = RecordWriter(NOWHERE, tmp_path, flush_interval=0.0, metrics=m)
    monkeypatch.setattr(spool_mod, "_write_all", _disk_full)

    async def body(task: asyncio.Task[None]) -> None:
        w.submit(_agent("op1"))
        await _until(lambda: w._in_memory == 1, "the record in memory")

    with capture_logs() as logs:
        await _with_writer(w, body)
    assert _sample(m, "ctoengine_records_lost_total", table="agent_events") == 1
    assert any(e["event"] == "records_lost" and e["log_level"] == "error" for e in logs)


# -- quarantine ----------------------------------------------------------------


def test_data_errors_are_told_from_database_errors() -> None:
    assert _is_data_error(asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow"))
    assert _is_data_error(asyncpg.exceptions.CheckViolationError("violates check constraint"))
    assert _is_data_error(asyncpg.exceptions.DataError("invalid input for query argument $17"))
    assert _is_data_error(TypeError("not JSON serializable"))
    assert not _is_data_error(asyncpg.exceptions.UndefinedTableError('relation "x" does not exist'))
    assert not _is_data_error(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    assert not _is_data_error(asyncpg.exceptions.DiskFullError("could not extend file"))


def test_the_quarantine_file_keeps_the_row_and_the_error_and_the_log_no_number(tmp_path: Path) -> None:
    m = Metrics()
    w = RecordWriter(NOWHERE, tmp_path, metrics=m)
    record = _call("c1", caller_number="79161234567", survey_score=100000)
    cols = writer_mod._insert_sql(CallRecord)[1]
    arg = cols.index("survey_score") + 1
    err = asyncpg.exceptions.DataError(
        f"invalid input for query argument ${arg}: 100000 (value out of int16 range)"
    )
    with capture_logs() as logs:
        w._quarantine("b1", 3, record, err, cols)
        w._quarantine("b1", 4, QueueEventRecord("c1", "q", "enter", None, 1e12, T0, "i"), err, cols)

    lines = [json.loads(x) for x in (tmp_path / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert (first["batch"], first["i"], first["table"], first["sqlstate"]) == ("b1", 3, "calls", "22000")
    assert "value out of int16 range" in first["error"]
    assert from_json(first) == record  # a human can load it back and fix it
    assert datetime.fromisoformat(first["quarantined_at"]).tzinfo is not None
    assert _sample(m, "ctoengine_records_quarantined_total", table="calls") == 1
    assert _sample(m, "ctoengine_records_quarantined_total", table="queue_events") == 1

    quarantined = [e for e in logs if e["event"] == "record_quarantined"]
    assert len(quarantined) == 2  # once per row
    assert quarantined[0]["column"] == "survey_score"
    assert quarantined[0]["call_id"] == "c1"
    assert "79161234567" not in json.dumps(quarantined, default=str)
    assert "100000" not in json.dumps(quarantined, default=str)


# -- the writer never ends -----------------------------------------------------


async def test_an_unexpected_error_neither_ends_the_writer_nor_loses_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = RecordWriter(NOWHERE, tmp_path, flush_interval=0.0)

    async def broken(batch: Batch) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(w, "_write_batch", broken)

    async def body(task: asyncio.Task[None]) -> None:
        w.submit(_call("c1"))
        await _until(lambda: (tmp_path / "records.jsonl").exists(), "the batch spooled")
        w.submit(_call("c2"))
        await _until(lambda: w.backlog == 2 and w._queue.empty() and w._hand is None, "the second spooled")
        assert not task.done()

    with capture_logs():
        await _with_writer(w, body)
    batches, _ = RecordWriter(NOWHERE, tmp_path)._load_spool()
    assert [r.call_id for b in batches for r in b.records if isinstance(r, CallRecord)] == ["c1", "c2"]


async def test_cancel_while_a_batch_gathers_spools_it(tmp_path: Path) -> None:
    w = RecordWriter(NOWHERE, tmp_path, flush_interval=60.0)  # the batch is in hand when we cancel

    async def body(task: asyncio.Task[None]) -> None:
        w.submit(_agent("op1"))
        await _until(lambda: w._hand is not None, "the batch in hand")

    await _with_writer(w, body)
    batches, _ = RecordWriter(NOWHERE, tmp_path)._load_spool()
    assert [b.records for b in batches] == [[_agent("op1")]]
