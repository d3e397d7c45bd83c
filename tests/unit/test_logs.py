import json

import pytest
import structlog

from ctoengine.logs import _mask_processor, _scrub_exception, mask_application, mask_number, scrub_text


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("79123456767", "+7 9** *** **67"),
        ("+7 (912) 345-67-67", "+7 9** *** **67"),
        ("89123456767", "+7 9** *** **67"),
        ("1234", "**34"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_number(number: str | None, masked: str) -> None:
    assert mask_number(number) == masked


def test_log_lines_never_carry_a_whole_number() -> None:
    event = {"event": "call_start", "caller": "79123456767", "call_id": "c1"}
    out = json.dumps(_mask_processor(None, "info", event))
    assert "79123456767" not in out
    assert "**67" in out
    assert structlog.get_logger() is not None


def test_mask_application() -> None:
    assert mask_application("123456") == "****56"
    assert mask_application("1234") == "****"
    assert mask_application("") == ""


def test_application_numbers_are_masked_in_every_text_of_a_log_line() -> None:
    event = {
        "event": "status_lookup_failed",
        "application": "7654321",
        "path": ["main:4", "self_service:7654321", "self_service:unknown"],
        "error": "500, message='Internal Server Error', url='http://mfc.example/status?number=7654321&x=1'",
        "detail": "{'application': '7654321', 'status': None}",
    }
    out = json.dumps(_mask_processor(None, "warning", event))
    assert "7654321" not in out
    assert "self_service:*****21" in out and "number=*****21&x=1" in out
    assert "self_service:unknown" in out


def test_a_provider_error_holding_the_number_is_scrubbed() -> None:
    assert scrub_text("no such application 7654321 (HTTP 404)", "7654321") == (
        "no such application *****21 (HTTP 404)"
    )


def test_application_numbers_are_masked_in_exception_tracebacks() -> None:
    try:
        raise ValueError("lookup of self_service:7654321 failed at http://x/?number=7654321")
    except ValueError as e:
        event = _mask_processor(None, "error", {"event": "boom", "error": repr(e), "exc_info": e})
    event = _scrub_exception(None, "error", structlog.processors.format_exc_info(None, "error", event))
    out = json.dumps(event)
    assert "7654321" not in out
    assert "ValueError" in event["exception"]


def test_caller_numbers_are_masked_once_not_twice() -> None:
    event = _mask_processor(None, "info", {"event": "call_start", "caller": "79123456767"})
    event = _scrub_exception(None, "info", event)
    assert event["caller"] == "+7 9** *** **67"
