"""Structured JSON logs (structlog), with caller numbers masked.

Caller numbers are personal data: anything logged under a key that holds a
number passes through ``mask_number`` first, so a log line never carries a
whole number.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_NUMBER_KEYS = frozenset({"caller", "caller_number", "number", "from_number", "callerid"})


def mask_number(number: str | None) -> str:
    """``+79123456767`` -> ``+7 9** *** **67``; short or odd numbers keep only 2 digits."""
    if not number:
        return ""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        return f"+7 {digits[1]}** *** **{digits[-2:]}"
    if len(digits) <= 2:
        return "*" * len(digits)
    return "*" * (len(digits) - 2) + digits[-2:]


def _mask_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _NUMBER_KEYS & event.keys():
        value = event[key]
        if isinstance(value, str):
            event[key] = mask_number(value)
    return event


def configure(level: str = "info") -> None:
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=lvl, format="%(message)s")
    # aiohttp's access log would log every request line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_processor,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
