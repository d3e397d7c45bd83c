"""What supervisors and admins do from the wallboard; every attempt leaves an ``audit_log`` row.

The same engine calls as the API's routes (``agent_action``, the emergency
switch, ``reload``) under the same audit action names (``agent.pause``,
``emergency.set``, ``config.reload``, ...), with ``"via": "web"`` in the
details. Roles are checked here, on the server: supervisor or admin for the
operators, admin for emergency mode and the reload. The answer is JSON for the
page's script; a refusal is an ``ApiError`` (its status and Russian message).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from ctoengine.agents.states import InvalidAgentTransition
from ctoengine.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from ctoengine.users.policy import ADMIN, STAFF, Principal, Role
from ctoengine.users.store import AuditEntry
from ctoengine.web import labels
from ctoengine.web.ports import Auditor, Emergency, Floor, Host

AGENT_ACTIONS = ("pause", "unpause", "logout")
EMERGENCY_MODES = {"on": True, "off": False, "file": None}

Result = dict[str, Any]


class Actions:
    def __init__(
        self, floor: Floor, host: Host, emergency: Emergency, auditor: Auditor, wall: Callable[[], datetime]
    ) -> None:
        self.floor = floor
        self.host = host
        self.emergency = emergency
        self.auditor = auditor
        self.wall = wall

    async def _audited(
        self,
        who: Principal,
        address: str | None,
        action: str,
        target: str | None,
        roles: frozenset[Role],
        details: dict[str, Any],
        run: Callable[[], Awaitable[Result]],
    ) -> Result:
        status = 200
        try:
            if who.role not in roles:
                need = " или ".join(labels.ROLES[r.value] for r in Role if r in roles)
                raise Forbidden(f"Это действие доступно только роли: {need}.", error_id="forbidden")
            return await run()
        except ApiError as e:
            status = e.status
            raise
        finally:
            entry = AuditEntry(who.name, who.role.value, action, target, address, status, details)
            await self.auditor.audit(entry)

    # --- operators (supervisor, admin) --------------------------------------------
    async def agent(self, who: Principal, address: str | None, form: Mapping[str, str]) -> Result:
        agent, action, reason = form.get("agent", ""), form.get("action", ""), form.get("reason") or None
        if action not in AGENT_ACTIONS:
            raise BadRequest("Неизвестное действие с оператором.", error_id="bad_action")
        details: dict[str, Any] = {"via": "web", "reason": reason}

        async def run() -> Result:
            if not self.floor.has_agent(agent):
                raise NotFound(f"Нет оператора «{agent}» в файле маршрутизации.", error_id="unknown_agent")
            allowed = list(self.host.routing.pause_reasons)
            if (action == "pause" and reason is None) or (reason is not None and reason not in allowed):
                raise BadRequest("Выберите причину из списка.", error_id="bad_pause_reason", allowed=allowed)
            try:
                self.floor.agent_action(agent, action, reason if action == "pause" else None)
            except InvalidAgentTransition as e:
                raise Conflict(
                    f"Оператор {agent}: нельзя перейти из состояния «{labels.state(e.frm.value)}»"
                    f" в «{labels.state(e.to.value)}».",
                    error_id="invalid_agent_state",
                ) from None
            return {"ok": True, "message": self._agent_message(agent, action, reason)}

        return await self._audited(who, address, f"agent.{action}", agent[:64], STAFF, details, run)

    def _agent_message(self, agent: str, action: str, reason: str | None) -> str:
        a = self.floor.dist.agents[agent]
        why = f" ({labels.reason(reason)})" if reason else ""
        if a.pending is not None:
            after = "пауза" if action == "pause" else "выход"
            return f"Оператор {agent}: {after}{why} — после окончания разговора и обработки."
        done = {"pause": "поставлен на паузу", "unpause": "снят с паузы", "logout": "выведен из системы"}
        return f"Оператор {agent} {done[action]}{why}. Сейчас: {labels.state(a.state.value).lower()}."

    # --- admin ----------------------------------------------------------------------
    async def switch_emergency(self, who: Principal, address: str | None, form: Mapping[str, str]) -> Result:
        mode = form.get("mode", "")
        if mode not in EMERGENCY_MODES:
            raise BadRequest("Выберите: включить, выключить или как в файле.", error_id="bad_mode")
        enabled = EMERGENCY_MODES[mode]

        async def run() -> Result:
            await self.emergency.switch(enabled, {"by": who.name, "at": self.wall().isoformat()})
            now_on = bool(self.emergency.state(self.host.routing)["enabled"])
            state = "включён" if now_on else "выключен"
            source = " (как в файле маршрутизации)" if enabled is None else ""
            return {"ok": True, "message": f"Аварийный режим {state}{source}.", "enabled": now_on}

        details = {"via": "web", "enabled": enabled}
        return await self._audited(who, address, "emergency.set", None, ADMIN, details, run)

    async def reload(self, who: Principal, address: str | None) -> Result:
        async def run() -> Result:
            errors = self.host.reload()
            if errors:
                raise Unprocessable(
                    "Файл маршрутизации с ошибками; работает прежняя конфигурация.", errors=errors
                )
            return {"ok": True, "message": "Файл маршрутизации перечитан."}

        return await self._audited(who, address, "config.reload", None, ADMIN, {"via": "web"}, run)
