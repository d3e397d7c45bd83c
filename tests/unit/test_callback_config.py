"""The callback and outbound sections: errors at FILE:LINE, and the report's callbacks table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ctoengine.config import load_routing
from ctoengine.reports import callbacks as rc
from tests.unit.test_config_check import _edit, _errors, _line_of

OUTBOUND = "outbound:\n  trunk: pstn-out\n"


def test_the_demo_dials_only_russian_numbers_on_pstn_out(routing_dir: Path) -> None:
    cfg = load_routing(routing_dir / "routing.yaml")
    assert cfg.outbound is not None and cfg.outbound.trunk == "pstn-out"
    assert cfg.outbound.allows("79161234567") and cfg.outbound.allows("84959876543")
    assert not cfg.outbound.allows("88091234567") and not cfg.outbound.allows("4420123456789")
    assert cfg.callback is not None and (cfg.callback.offer_after_s, cfg.callback.attempts) == (60, 3)


def test_callback_without_outbound_is_an_error_at_its_line(routing_dir: Path) -> None:
    f = routing_dir / "routing.yaml"
    text = f.read_text(encoding="utf-8")
    f.write_text(text[: text.index("\noutbound:")] + "\n", encoding="utf-8")
    (err,) = _errors(f)
    assert f":{_line_of(f, 'callback:')}:" in err and "needs the outbound section" in err


def test_a_bad_pattern_and_an_unknown_whisper_topic(routing_dir: Path) -> None:
    f = _edit(routing_dir, "allowed: ['(\\+7|7|8)([349][0-9]|8[1-7])[0-9]{8}']", "allowed: ['(+7']")
    errs = _errors(f)
    assert any("is not a regular expression" in e and f":{_line_of(f, 'allowed:')}:" in e for e in errs)
    f = _edit(routing_dir, "allowed: ['(+7']", "allowed: ['7[0-9]{10}']")
    f = _edit(routing_dir, "    general: topic_general", "    pension: topic_general")
    (err,) = _errors(f)
    assert "topic 'pension' is not in topics" in err and f":{_line_of(f, 'pension: topic_general')}:" in err


def test_an_explicit_callback_exit_needs_the_callback_section(routing_dir: Path) -> None:
    f = routing_dir / "routing.yaml"
    text = f.read_text(encoding="utf-8")
    text = text[: text.index("\ncallback:")] + "\n"  # neither callback nor outbound
    f.write_text(
        text.replace("max_wait_s: 600,", "max_wait_s: 600, max_wait_action: callback,", 1), encoding="utf-8"
    )
    (err,) = _errors(f)
    assert "needs the callback section" in err and f":{_line_of(f, 'max_wait_action: callback')}:" in err
    # The default action alone is no error: such a file simply promises nothing.
    f.write_text(text, encoding="utf-8")
    assert load_routing(f).callback is None


def test_report_lines_count_the_requests_kept_in_time_by_request_day() -> None:
    msk = ZoneInfo("Europe/Moscow")
    day = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # 01:30 on the 26th in Moscow
    due = day + timedelta(hours=24)
    rows = [
        rc.Request(day, "passport", "done", day + timedelta(hours=2), due),
        rc.Request(day, "passport", "done", due + timedelta(minutes=1), due),  # too late
        rc.Request(day, "passport", "failed", None, due),
        rc.Request(day - timedelta(hours=3), "social", "pending", None, due),
    ]
    lines = rc.lines(rows, msk)
    assert {k: (v.requested, v.done_in_time) for k, v in lines.items()} == {
        ("2026-11-25", "social"): (1, 0),
        ("2026-11-26", "passport"): (3, 1),
    }
    text = rc.table(lines)
    assert text.splitlines()[-1].split() == ["total", "4", "1", "25.0%"]
