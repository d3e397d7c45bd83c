"""What an appeal is and the pure check of one against the routing file's catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ctoengine.config import RoutingConfig

Outcome = Literal["consulted", "redirected", "complaint_registered", "appointment", "callback_needed"]
ComplaintStatus = Literal["new", "forwarded", "answered"]

OUTCOMES: dict[str, str] = {
    "consulted": "Консультация дана",
    "redirected": "Перенаправлен в ведомство или МФЦ",
    "complaint_registered": "Зарегистрирована жалоба",
    "appointment": "Записан на приём",
    "callback_needed": "Нужен обратный звонок",
}
COMPLAINT_STATUSES: dict[str, str] = {"new": "новая", "forwarded": "передана", "answered": "дан ответ"}
MAX_NOTE = 2000


@dataclass(frozen=True)
class NewAppeal:
    call_id: str
    centre: str
    topic: str
    subtopic: str
    outcome: str
    note: str
    agent_id: str | None  # the operator of the call
    user_name: str  # who registered it


def problem(routing: RoutingConfig, topic: str, subtopic: str, outcome: str, note: str) -> str | None:
    """None when the appeal fits the catalogue; else what is wrong, in Russian."""
    if topic not in {t.code for t in routing.topics}:
        return f"Нет темы «{topic}»."
    if routing.subtopic_title(topic, subtopic) is None:
        return f"У темы «{topic}» нет подтемы «{subtopic}»."
    if outcome not in OUTCOMES:
        return f"Неизвестный результат «{outcome}»."
    if len(note) > MAX_NOTE:
        return f"Примечание длиннее {MAX_NOTE} знаков."
    return None
