"""Structured JSON logs (structlog), with caller and application numbers masked.

Caller numbers are personal data: anything logged under a key that holds a
number passes through ``mask_number`` first, so a log line never carries a
whole number. Application numbers (what a caller types for self-service) are
personal data too: logged under ``application`` they pass through
``mask_application``, and every text of a log line (error strings, exception
tracebacks included) is scrubbed of the forms they take in the engine's own
texts: ``self_service:123456`` (an IVR path entry), ``number=123456`` (the HTTP
provider's query string) and ``"application": "123456"`` (a self-service
result). Code that holds the number scrubs it from foreign texts (a
provider's error) with ``scrub_text(text, number)``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_NUMBER_KEYS = frozenset({"caller", "caller_number", "number", "from_number", "callerid"})
_APPLICATION_KEYS = frozenset({"application", "application_number"})
_APPLICATION_IN_TEXT = (
    re.compile(r"(self_service:)(\d+)"),
    re.compile(r"([?&]number=)([^&#\s'\"]+)"),
    re.compile(r"(\\?[\"']application\\?[\"']\s*:\s*\\?[\"'])(\d+)"),
)


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


def mask_application(number: str | None) -> str:
    """``123456`` -> ``****56``; four digits or fewer are masked whole."""
    if not number:
        return ""
    if len(number) <= 4:
        return "*" * len(number)
    return "*" * (len(number) - 2) + number[-2:]


def scrub_text(text: str, *numbers: str | None) -> str:
    """``text`` with application numbers masked: the ``numbers`` given wherever
    they appear, and the forms the engine's own texts give them anywhere."""
    for n in numbers:
        if n and len(n) >= 3:
            text = text.replace(n, mask_application(n))
    for pattern in _APPLICATION_IN_TEXT:
        text = pattern.sub(lambda m: m[1] + mask_application(m[2]), text)
    return text


def _mask_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _NUMBER_KEYS & event.keys():
        value = event[key]
        if isinstance(value, str):
            event[key] = mask_number(value)
    for key in _APPLICATION_KEYS & event.keys():
        value = event[key]
        if isinstance(value, str):
            event[key] = mask_application(value)
    for key, value in event.items():
        if isinstance(value, str) and key not in _NUMBER_KEYS and key not in _APPLICATION_KEYS:
            event[key] = scrub_text(value)
        elif isinstance(value, list | tuple) and any(isinstance(v, str) for v in value):
            event[key] = [scrub_text(v) if isinstance(v, str) else v for v in value]
    return event


def _scrub_exception(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    exc = event.get("exception")
    if isinstance(exc, str):
        event["exception"] = scrub_text(exc)
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
            _scrub_exception,  # the traceback text format_exc_info just added
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
