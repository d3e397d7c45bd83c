"""Registering appeals and moving complaints on, for the API and the workplace alike.

Rules (the API's policy table says who may call; these hold whoever calls):

* The appeal fits the routing file's catalogue (``workplace.subtopics``): else 422.
* An operator registers appeals only on his own call: the one he is connected to or
  rung for, or the one whose wrap-up he is in (``call_owner``). A supervisor may
  register one on any call the engine has now or has a record of: else 404.
* Only a complaint (outcome ``complaint_registered``) has a registry status; it
  starts ``new``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctoengine.appeals.model import NewAppeal, problem
from ctoengine.appeals.store import AppealStore, NotAComplaint
from ctoengine.config import RoutingConfig
from ctoengine.db.pool import DB_ERRORS
from ctoengine.errors import Conflict, DatabaseError, Forbidden, NotFound, Unavailable, Unprocessable
from ctoengine.users.policy import Principal, Role

STORE_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, TimeoutError, OSError, *DB_ERRORS)


class Appeals:
    def __init__(
        self,
        store: AppealStore,
        routing: Callable[[], RoutingConfig],
        call_owner: Callable[[str], str | None],
    ) -> None:
        self.store = store
        self.routing = routing
        self.call_owner = call_owner

    async def register(
        self,
        who: Principal,
        call_id: str,
        topic: str,
        subtopic: str,
        outcome: str,
        note: str,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """``owner``: the operator whose call it is, when the caller knows it already (the
        workplace keeps an operator's last call for an appeal finished after the wrap-up)."""
        routing = self.routing()
        wrong = problem(routing, topic, subtopic, outcome, note)
        if wrong is not None:
            raise Unprocessable(wrong, error_id="bad_appeal")
        owner = owner or self.call_owner(call_id)
        if who.role is Role.OPERATOR and (owner is None or owner != who.agent):
            raise Forbidden(
                "Обращение регистрируется только по своему текущему вызову.", error_id="not_own_call"
            )
        try:
            if owner is None and not await self.store.call_exists(call_id):
                raise NotFound(f"Нет вызова «{call_id}».", error_id="unknown_call")
            appeal = NewAppeal(
                call_id, routing.centre.name, topic, subtopic, outcome, note.strip(), owner, who.name
            )
            return await self.store.add(appeal)
        except STORE_ERRORS as e:
            raise Unavailable(f"Обращение не сохранено: база данных недоступна ({e}).") from None

    async def set_status(self, who: Principal, appeal_id: int, status: str) -> dict[str, Any]:
        try:
            row = await self.store.set_status(appeal_id, status, who.name)
        except NotAComplaint:
            raise Conflict(
                f"Обращение {appeal_id} не жалоба: статус реестра есть только у жалоб.",
                error_id="not_a_complaint",
            ) from None
        except STORE_ERRORS as e:
            raise Unavailable(f"Статус не сохранён: база данных недоступна ({e}).") from None
        if row is None:
            raise NotFound(f"Нет обращения {appeal_id}.", error_id="unknown_appeal")
        return row
