"""What an operator does from his workplace; every attempt leaves an ``audit_log`` row.

His own agent only (the user's bound agent; no form field names another), and his
own call only (the call he talks on, or the one of his wrap-up or just before it:
never one named by the form alone). Audit action names as the API's
(``agent.pause``, ``call.transfer``, ``call.appeal``) plus ``agent.wrap_ready``
and ``agent.wrap_extend``, with ``"via": "web"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ctoengine.agents.states import AgentState, InvalidAgentTransition
from ctoengine.appeals.service import Appeals
from ctoengine.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from ctoengine.users.policy import Principal
from ctoengine.users.store import AuditEntry
from ctoengine.web import labels
from ctoengine.web.ports import Auditor, Desk, Host

S = AgentState
Result = dict[str, Any]


class DeskActions:
    def __init__(self, desk: Desk, host: Host, appeals: Appeals, auditor: Auditor) -> None:
        self.desk = desk
        self.host = host
        self.appeals = appeals
        self.auditor = auditor
        self.last_call: dict[str, str] = {}  # operator -> his last call (an appeal after the wrap-up)

    async def _audited(
        self, who: Principal, address: str | None, action: str, target: str | None, details: dict[str, Any],
        run: Callable[[], Awaitable[Result]],
    ) -> Result:  # fmt: skip
        status = 200
        try:
            return await run()
        except ApiError as e:
            status = e.status
            raise
        finally:
            entry = AuditEntry(
                who.name, who.role.value, action, target, address, status, {"via": "web", **details}
            )
            await self.auditor.audit(entry)

    def agent_of(self, who: Principal) -> str:
        if who.agent is None or who.agent not in self.desk.dist.agents:
            raise Forbidden(
                "Пользователь не связан с оператором из файла маршрутизации.", error_id="no_agent"
            )
        return who.agent

    def own_call(self, agent: str) -> str | None:
        """The call the operator talks on or is rung for, or the one of his wrap-up."""
        a = self.desk.dist.agents[agent]
        if a.state in (S.RESERVED, S.ON_CALL):
            return a.call_id
        wrap = self.desk.dist.wraps.get(agent)
        return wrap.call_id if a.state is S.WRAP_UP and wrap is not None else None

    def _invalid(self, e: InvalidAgentTransition) -> Conflict:
        return Conflict(
            f"Нельзя перейти из состояния «{labels.state(e.frm.value)}» в «{labels.state(e.to.value)}».",
            error_id="invalid_agent_state",
        )

    # --- own state: ready (log in or unpause), pause with a reason, log out ---------------
    async def state(self, who: Principal, address: str | None, form: Mapping[str, str]) -> Result:
        agent = self.agent_of(who)
        want, reason = form.get("action", ""), form.get("reason") or None
        now = self.desk.dist.agents[agent].state
        if want == "ready":
            action = "login" if now is S.LOGGED_OUT else "unpause"
        elif want in ("pause", "logout"):
            action = want
        else:
            raise BadRequest("Неизвестное действие.", error_id="bad_action")

        async def run() -> Result:
            allowed = list(self.host.routing.pause_reasons)
            if action == "pause" and reason not in allowed:
                raise BadRequest("Выберите причину из списка.", error_id="bad_pause_reason", allowed=allowed)
            try:
                self.desk.agent_action(agent, action, reason if action == "pause" else None)
            except InvalidAgentTransition as e:
                raise self._invalid(e) from None
            a = self.desk.dist.agents[agent]
            after = f" После обработки вызова: {labels.state(a.pending.value).lower()}." if a.pending else ""
            return {"ok": True, "message": f"Сейчас: {labels.state(a.state.value).lower()}.{after}"}

        return await self._audited(who, address, f"agent.{action}", agent, {"reason": reason}, run)

    # --- wrap-up: ready now, need more time -------------------------------------------
    async def wrap(self, who: Principal, address: str | None, form: Mapping[str, str]) -> Result:
        agent = self.agent_of(who)
        want = form.get("action", "")
        if want not in ("ready", "extend"):
            raise BadRequest("Неизвестное действие.", error_id="bad_action")
        step = self.host.routing.workplace.wrap_up_extend_s
        details: dict[str, Any] = {}

        async def run() -> Result:
            before = self.desk.dist.wrap_extension_left(agent)
            try:
                self.desk.wrap_up(agent, want, step)
            except InvalidAgentTransition as e:
                raise self._invalid(e) from None
            if want == "ready":
                return {"ok": True, "message": "Обработка завершена: вы готовы к вызовам."}
            left = self.desk.dist.wrap_extension_left(agent)
            details.update(granted_s=before - left, left_s=left)
            if before - left <= 0:
                raise Conflict("Время обработки больше продлить нельзя.", error_id="extension_used_up")
            return {"ok": True, "message": f"Обработка продлена на {round(before - left)} с."}

        action = "agent.wrap_ready" if want == "ready" else "agent.wrap_extend"
        return await self._audited(who, address, action, agent, details, run)

    # --- the call: transfer, appeal ---------------------------------------------------------
    async def transfer(self, who: Principal, address: str | None, form: Mapping[str, str]) -> Result:
        agent = self.agent_of(who)
        kind, _, name = form.get("to", "").partition(":")
        call_id = self.own_call(agent) if self.desk.dist.agents[agent].state is S.ON_CALL else None
        details = {"to": form.get("to", "")[:80]}

        async def run() -> Result:
            if call_id is None:
                raise Conflict("Нет разговора, который можно перевести.", error_id="not_connected")
            if kind == "queue" and self.desk.has_queue(name):
                refusal = await self.desk.transfer(call_id, name, None)
            elif kind == "agent" and name in self.desk.dist.agents and name != agent:
                refusal = await self.desk.transfer(call_id, None, name)
            else:
                raise NotFound("Выберите очередь или оператора из списка.", error_id="unknown_target")
            if refusal is not None:
                raise Conflict(f"Вызов не переведён: {refusal}", error_id="not_connected")
            return {"ok": True, "message": "Вызов переведён."}

        return await self._audited(who, address, "call.transfer", call_id, details, run)

    async def appeal(self, who: Principal, address: str | None, form: Mapping[str, str]) -> Result:
        agent = self.agent_of(who)
        call_id = form.get("call_id", "")
        topic, subtopic, outcome = (form.get(k, "") for k in ("topic", "subtopic", "outcome"))
        details = {"topic": topic[:40], "subtopic": subtopic[:40], "outcome": outcome[:40]}

        async def run() -> Result:
            if not call_id or call_id not in (self.own_call(agent), self.last_call.get(agent)):
                raise Forbidden("Обращение регистрируется только по своему вызову.", error_id="not_own_call")
            row = await self.appeals.register(
                who, call_id, topic, subtopic, outcome, form.get("note", ""), agent
            )
            return {"ok": True, "message": f"Обращение № {row['id']} зарегистрировано.", "id": row["id"]}

        return await self._audited(who, address, "call.appeal", call_id[:64] or None, details, run)
