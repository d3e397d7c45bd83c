"""The operator's workplace under ``/ui/``: the page, its live card (SSE), its actions, the
knowledge base's pages and search.

One stream per operator (``Broadcaster`` as the wallboard's, rendering his card only):
his card is rendered every 0.5 s while his page is open and pushed when it changed.
The caller's earlier calls are looked up once per call (audited, personal data), in
the background: the card says "looking up" until they are there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ctoengine.appeals.history import History
from ctoengine.appeals.model import OUTCOMES
from ctoengine.errors import ApiError, Forbidden, NotFound
from ctoengine.kb.service import KnowledgeBase
from ctoengine.logs import get_logger
from ctoengine.records.model import CallRecord
from ctoengine.users.policy import ALL, Principal, Role
from ctoengine.web.card import Card, Earlier, build_card, earlier
from ctoengine.web.desk_actions import DeskActions
from ctoengine.web.ports import Desk
from ctoengine.web.routes import Handler, WebRoutes
from ctoengine.web.sessions import csrf_ok
from ctoengine.web.snapshot import natural
from ctoengine.web.stream import Broadcaster, serve_stream

log = get_logger("ctoengine.web")
OPERATOR = frozenset({Role.OPERATOR})


class Workplace:
    def __init__(
        self, pages: WebRoutes, desk: Desk, actions: DeskActions, history: History, kb: KnowledgeBase
    ) -> None:
        self.web = pages
        self.desk = desk
        self.actions = actions
        self.history = history
        self.kb = kb
        self.streams: dict[str, Broadcaster] = {}
        self._records: dict[str, CallRecord] = {}  # operator -> his call's record (kept through wrap-up)
        self._earlier: dict[str, tuple[str, list[Earlier] | None]] = {}  # operator -> (call, its history)
        self._watcher: dict[
            str, tuple[Principal, str | None]
        ] = {}  # who has the page open (the audit's user)
        self._lookups: set[asyncio.Task[None]] = set()

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/ui/workplace", self.web._page(self._page))
        r.add_get("/ui/workplace/events", self._events)
        r.add_post("/ui/workplace/state", self._action(self.actions.state))
        r.add_post("/ui/workplace/wrap", self._action(self.actions.wrap))
        r.add_post("/ui/workplace/transfer", self._action(self.actions.transfer))
        r.add_post("/ui/workplace/appeal", self._action(self.actions.appeal))
        r.add_get("/ui/kb/search", self._kb_search)
        r.add_get("/ui/kb/{topic}/{name}", self.web._page(self._kb_article))
        app.on_shutdown.append(self._close)

    # --- the card ---------------------------------------------------------------------
    def card(self, agent: str) -> Card:
        routing = self.web.host.routing
        d = self.desk.dist
        a = d.agents[agent]
        call_id = self.actions.own_call(agent)
        record = None
        if call_id is not None:
            record = self.desk.call_record(call_id) or self._records.get(agent)
            if record is not None and record.call_id == call_id:
                self._records[agent] = record
                self.actions.last_call[agent] = call_id
                self._look_up(agent, record)
        history = None
        if call_id is not None and (known := self._earlier.get(agent)) is not None and known[0] == call_id:
            history = known[1]
        titles = {t.code: t.title for t in routing.topics}
        articles = self.kb.library.of_topic(record.topic) if record is not None and record.topic else []
        return build_card(
            a, self.desk.now(), self.web.wall(), wrap=d.wraps.get(agent),
            extension_left_s=d.wrap_extension_left(agent), record=record, titles=titles,
            history=history, articles=articles,
        )  # fmt: skip

    def _card_html(self, agent: str) -> str:
        return self.web.pages.render("_card.html", card=self.card(agent))

    def _look_up(self, agent: str, record: CallRecord) -> None:
        """The caller's earlier calls, once per call, by whoever has the page open (audited)."""
        known = self._earlier.get(agent)
        if (known is not None and known[0] == record.call_id) or agent not in self._watcher:
            return
        self._earlier[agent] = (record.call_id, None)
        if not record.caller_number:
            self._earlier[agent] = (record.call_id, [])
            return
        task = asyncio.create_task(self._fetch(agent, record.call_id, record.caller_number))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _fetch(self, agent: str, call_id: str, number: str) -> None:
        who, address = self._watcher[agent]
        routing = self.web.host.routing
        try:
            rows = await self.history.lookup(who, address, number, call_id=call_id, via="web")
        except ApiError as e:
            log.warning("history_unavailable", agent=agent, error=e.message)
            rows = []
        titles = {t.code: t.title for t in routing.topics}
        tz = ZoneInfo(routing.centre.timezone)
        if self._earlier.get(agent, ("",))[0] == call_id:
            self._earlier[agent] = (call_id, earlier(rows, titles, routing.workplace.subtopics, tz))

    def _stream(self, agent: str) -> Broadcaster:
        if agent not in self.streams:
            self.streams[agent] = Broadcaster(lambda: self._card_html(agent))
        return self.streams[agent]

    # --- pages and the stream -----------------------------------------------------------
    async def _page(self, request: web.Request) -> web.Response:
        v = await self.web._page_visitor(request, OPERATOR)
        agent = self.actions.agent_of(v.user)
        self._watcher[agent] = (v.user, request.remote)
        routing = self.web.host.routing
        return self.web._html(
            "workplace.html",
            visitor=v,
            card=self.card(agent),
            pause_reasons=list(routing.pause_reasons),
            topics=routing.topics,
            subtopics=routing.workplace.subtopics,
            outcomes=OUTCOMES,
            queues=sorted(self.desk.dist.queues),
            operators=[a for a in sorted(self.desk.dist.agents, key=natural) if a != agent],
            extend_s=round(routing.workplace.wrap_up_extend_s),
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        v = await self.web._visitor(request, OPERATOR)
        agent = self.actions.agent_of(v.user)
        self._watcher[agent] = (v.user, request.remote)
        return await serve_stream(request, self._stream(agent), lambda: self._still(request))

    async def _still(self, request: web.Request) -> bool:
        try:
            v = await self.web.auth.visitor(request)
        except ApiError:
            return True
        return v is not None and v.user.role is Role.OPERATOR

    def _action(
        self, run: Callable[[Principal, str | None, Mapping[str, str]], Awaitable[dict[str, Any]]]
    ) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            v = await self.web._visitor(request, OPERATOR)
            raw = await request.post()
            form = {k: str(val) for k, val in raw.items() if isinstance(val, str)}
            if not csrf_ok(v.session_id, request.headers.get("X-CSRF-Token") or form.get("csrf")):
                raise Forbidden("Форма устарела: обновите страницу и повторите.", error_id="csrf")
            answer = await run(v.user, request.remote, form)
            return web.json_response(answer)

        return handler

    # --- the knowledge base -------------------------------------------------------------
    async def _kb_search(self, request: web.Request) -> web.Response:
        await self.web._visitor(request, ALL)
        text = request.query.get("q", "")[:200]
        try:
            hits = await self.kb.search(text)
            failed = False
        except Exception:  # the search is a help, never an error page
            log.exception("kb_search_failed")
            hits, failed = [], True
        html = self.web.pages.render("_kb_hits.html", hits=hits, query=text, failed=failed)
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def _kb_article(self, request: web.Request) -> web.Response:
        v = await self.web._page_visitor(request, ALL)
        article = self.kb.library.get(f"{request.match_info['topic']}/{request.match_info['name']}")
        if article is None:
            raise NotFound("Статья не найдена.")
        topics = {t.code: t.title for t in self.web.host.routing.topics}
        return self.web._html(
            "kb_article.html", visitor=v, article=article, topic=topics.get(article.topic, article.topic)
        )

    async def _close(self, _: web.Application) -> None:
        for s in self.streams.values():
            await s.close()
        for task in list(self._lookups):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
