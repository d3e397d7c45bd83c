"""Erasing numbers: the pure scrubbing of records, spool lines and spool files."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ctoengine.records.model import CallRecord, to_json
from ctoengine.records.retention import (
    APPLICATION_MASK,
    numbers_of,
    scrub_call_row,
    scrub_ivr_path,
    scrub_self_service,
    scrub_spool,
    scrub_spool_line,
)
from ctoengine.records.spool import Batch, _append_durably

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)


def _record(call_id: str, started: datetime) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        centre="c",
        instance="i",
        started_at=started,
        ended_at=started + timedelta(minutes=2),
        caller_number="+79161234567",
        dialed_number="88003336060",
        ivr_path=["main:4", "self_service:123456", "self_service:unknown", "main:4", "self_service:654321"],
        self_service={"application": "654321", "status": "ready", "failed": False},
        disposition="self_served",
    )


def test_ivr_path_keeps_its_shape() -> None:
    assert scrub_ivr_path(
        ["main:4", "self_service:123456", "self_service:status:ready", "main:invalid:7"]
    ) == [
        "main:4",
        f"self_service:{APPLICATION_MASK}",
        "self_service:status:ready",
        "main:invalid:7",
    ]
    assert scrub_ivr_path(["self_service:timeout", "self_service:limit"]) == [
        "self_service:timeout",
        "self_service:limit",
    ]


def test_self_service_result_keeps_its_keys() -> None:
    assert scrub_self_service({"application": "123456", "status": None, "failed": True}) == {
        "application": APPLICATION_MASK,
        "status": None,
        "failed": True,
    }
    assert scrub_self_service({"transfer": "mfc"}) == {"transfer": "mfc"}
    assert scrub_self_service(None) is None


def test_a_scrubbed_row_holds_no_number() -> None:
    row = to_json(_record("old", NOW - timedelta(days=40)))["row"]
    assert set(numbers_of(row)) == {"+79161234567", "123456", "654321"}
    clean = scrub_call_row(row)
    assert numbers_of(clean) == []
    text = json.dumps(clean)
    for n in ("79161234567", "123456", "654321"):
        assert n not in text
    assert clean["dialed_number"] == "88003336060" and clean["call_id"] == "old"


def test_spool_lines_older_than_the_retention_lose_their_numbers() -> None:
    old = Batch.new([_record("old", NOW - timedelta(days=40))]).spool_lines().decode().strip()
    new = Batch.new([_record("new", NOW - timedelta(days=1))]).spool_lines().decode().strip()
    scrubbed = scrub_spool_line(old, CUTOFF)
    assert "123456" not in scrubbed and "654321" not in scrubbed and "79161234567" not in scrubbed
    assert json.loads(scrubbed)["batch"] == json.loads(old)["batch"]  # still a valid spool line
    assert scrub_spool_line(new, CUTOFF) == new
    assert scrub_spool_line(scrubbed, CUTOFF) == scrubbed  # nothing left: unchanged


def test_a_quarantined_lines_error_text_is_scrubbed() -> None:
    entry = {
        "quarantined_at": NOW.isoformat(),
        **to_json(_record("old", NOW - timedelta(days=40))),
        "error": "DataError: invalid input for query argument $5: '+79161234567' (self_service:123456)",
    }
    out = scrub_spool_line(json.dumps(entry), CUTOFF)
    for n in ("79161234567", "123456", "654321"):
        assert n not in out
    assert json.loads(out)["error"].startswith("DataError: invalid input")


def test_a_torn_line_without_a_recent_date_is_scrubbed() -> None:
    torn = '{"batch": "x", "i": 0, "table": "calls", "row": {"caller_number": "+79161234567", "ivr'
    torn2 = '_path": ["self_service:123456"], "self_service": {"application": "123456"'
    torn3 = '"self_service": {"application": "123456'
    for line in (torn, torn2, torn3):
        out = scrub_spool_line(line, CUTOFF)
        assert "79161234567" not in out and "123456" not in out
    recent = '{"row": {"started_at": "' + NOW.isoformat() + '", "caller_number": "+79161234567"'
    assert scrub_spool_line(recent, CUTOFF) == recent


def test_spool_files_are_rewritten_private_and_only_the_old_lines_change(tmp_path: Path) -> None:
    old = Batch.new([_record("old", NOW - timedelta(days=40))])
    new = Batch.new([_record("new", NOW - timedelta(days=1))])
    spool = tmp_path / "records.jsonl"
    _append_durably(spool, old.spool_lines() + new.spool_lines())
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600
    (tmp_path / "spool-torn.jsonl").write_text('{"row": {"caller_number": "+79161234567"\n')
    assert scrub_spool(tmp_path, CUTOFF) == 2
    lines = [json.loads(x) for x in spool.read_text().splitlines()]
    assert [x["row"]["call_id"] for x in lines] == ["old", "new"]
    assert lines[0]["row"]["caller_number"] is None
    assert lines[0]["row"]["ivr_path"][1] == f"self_service:{APPLICATION_MASK}"
    assert lines[1] == json.loads(new.spool_lines())
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600
    assert "79161234567" not in (tmp_path / "spool-torn.jsonl").read_text()
    assert scrub_spool(tmp_path, CUTOFF) == 0  # idempotent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl", "spool-torn.jsonl"]
