import json

import pytest
import structlog

from ctoengine.logs import _mask_processor, mask_number


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
