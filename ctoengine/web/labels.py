"""The Russian words of the pages: states, reasons, durations and shares (Jinja filters)."""

from __future__ import annotations

STATES = {
    "logged_out": "Не в системе",
    "available": "Свободен",
    "reserved": "Вызов",
    "on_call": "Разговор",
    "wrap_up": "Обработка",
    "paused": "Пауза",
    "unavailable": "Недоступен",
}
# The columns "operators by state" of a queue, in this order.
BOARD_STATES = ("available", "reserved", "on_call", "wrap_up", "paused", "unavailable")

# Pause reasons of the routing file (pause_reasons) and the reasons the engine gives itself.
REASONS = {
    "break": "перерыв",
    "lunch": "обед",
    "training": "обучение",
    "no_answer": "не отвечает на вызовы",
    "unreachable": "телефон недоступен",
    "reachable": "телефон снова доступен",
    "restored": "после перезапуска",
    "feature_code": "с телефона",
}

ROLES = {"operator": "оператор", "supervisor": "супервизор", "admin": "администратор"}


def state(value: str) -> str:
    return STATES.get(value, value)


def reason(value: str | None) -> str:
    """A reason's Russian name; a reason the routing file adds is shown as written."""
    if not value:
        return ""
    return REASONS.get(value, value)


def duration(seconds: int | float | None) -> str:
    """``м:сс`` under an hour, ``ч:мм:сс`` from an hour; "—" for none."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def percent(share: float | None) -> str:
    """A share as whole per cent (``85 %``, a narrow no-break space); "—" when nothing counts yet."""
    if share is None:
        return "—"
    return f"{round(share * 100)}\u202f%"


FILTERS = {"state": state, "reason": reason, "duration": duration, "percent": percent}
