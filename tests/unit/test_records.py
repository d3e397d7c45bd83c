import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ctoengine.records.model import AgentEventRecord, CallRecord, from_json, to_json
from ctoengine.records.writer import RecordWriter

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_durations_derive_from_timestamps() -> None:
    r = CallRecord(call_id="c", centre="x", instance="i", started_at=T0)
    r.queued_at = T0 + timedelta(seconds=10)
    r.agent_answered_at = T0 + timedelta(seconds=25.5)
    r.finish(T0 + timedelta(seconds=205.5))
    assert r.wait_seconds == 15.5
    assert r.talk_seconds == 180.0


def test_abandoned_wait_runs_to_the_end() -> None:
    r = CallRecord(call_id="c", centre="x", instance="i", started_at=T0, queued_at=T0)
    r.finish(T0 + timedelta(seconds=7))
    assert r.wait_seconds == 7.0
    assert r.talk_seconds is None


def test_json_round_trip_keeps_types() -> None:
    r = CallRecord(call_id="c", centre="x", instance="i", started_at=T0, ivr_path=["main:1"])
    r.finish(T0 + timedelta(seconds=3))
    back = from_json(json.loads(json.dumps(to_json(r))))
    assert back == r
    a = AgentEventRecord("op1", "available", "reserved", None, T0, "i")
    assert from_json(to_json(a)) == a


def test_writer_spools_when_the_database_is_unreachable(tmp_path: Path) -> None:
    async def go() -> int:
        # Port 9 on loopback: nothing listens, the connection is refused at once.
        w = RecordWriter("postgresql://u:p@127.0.0.1:9/x", tmp_path, flush_interval=0.0)
        w.submit(CallRecord(call_id="c1", centre="x", instance="i", started_at=T0, ended_at=T0))
        task = asyncio.create_task(w.run())
        for _ in range(200):
            if (tmp_path / "records.jsonl").exists():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return w.backlog

    assert asyncio.run(go()) == 1
    lines = (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["row"]["call_id"] for x in lines] == ["c1"]
    # A new writer (an engine restart) knows the backlog it must replay.
    assert RecordWriter("postgresql://u:p@127.0.0.1:9/x", tmp_path).backlog == 1
