"""The routes under ``/ui/``: login, logout, the wallboard, its stream and actions (the
workplace's are ``ctoengine.web.workplace``'s).

Every route checks the session and the role itself (``ctoengine.api.http.Access``
leaves ``/ui/`` to it): a page without a session redirects to the login, a
page of another role answers 403 in Russian; the stream, the JSON and the
actions answer 401/403 JSON. Every POST needs the session's CSRF token (form
field ``csrf`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from ctoengine.errors import ApiError, BadRequest, Forbidden, Unauthorized
from ctoengine.logs import get_logger
from ctoengine.users.policy import ADMIN, ALL, STAFF, Role
from ctoengine.web.actions import Actions
from ctoengine.web.assets import PREFIX, Assets
from ctoengine.web.auth import LOGIN_COOKIE, LoginRefused, Visitor, WebAuth
from ctoengine.web.ports import Floor, Host
from ctoengine.web.render import Pages
from ctoengine.web.sessions import csrf_ok
from ctoengine.web.snapshot import Board, natural, snapshot
from ctoengine.web.stream import Broadcaster, serve_stream

log = get_logger("ctoengine.web")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def landing(role: Role) -> str:
    return "/ui/workplace" if role is Role.OPERATOR else "/ui/wallboard"


class WebRoutes:
    def __init__(
        self, auth: WebAuth, floor: Floor, host: Host, actions: Actions, wall: Callable[[], datetime]
    ) -> None:
        self.auth = auth
        self.floor = floor
        self.host = host
        self.actions = actions
        self.wall = wall
        self.assets = Assets()
        self.pages = Pages(self.assets)
        self.stream = Broadcaster(self._board_html)

    def register(self, app: web.Application) -> None:
        r = app.router
        # The demo contract's addresses: "/" serves the login page (a visitor with a
        # session goes on to his landing page), "/wallboard" leads to the wallboard.
        r.add_get("/", self._page(self._login_form))
        r.add_get("/wallboard", self._to_wallboard)
        r.add_get("/ui", self._home)
        r.add_get("/ui/", self._home)
        r.add_get("/ui/login", self._page(self._login_form))
        r.add_post("/ui/login", self._page(self._login))
        r.add_post("/ui/logout", self._page(self._logout))
        r.add_get("/ui/wallboard", self._page(self._wallboard))
        r.add_get("/ui/wallboard.json", self._board_json)
        r.add_get("/ui/events", self._events)
        r.add_post("/ui/actions/agent", self._action("agent"))
        r.add_post("/ui/actions/emergency", self._action("emergency"))
        r.add_post("/ui/actions/reload", self._action("reload"))
        self.assets.register(app)
        app.on_response_prepare.append(self._headers)
        app.on_shutdown.append(self._close)

    # --- the board --------------------------------------------------------------
    def board(self) -> Board:
        routing = self.host.routing
        titles = {t.code: t.title for t in routing.topics}
        f = self.floor
        return snapshot(f.dist, f.sla, f.now(), self.wall(), titles, routing.emergency.enabled)

    def _board_html(self) -> str:
        return self.pages.render("_board.html", board=self.board())

    # --- helpers ------------------------------------------------------------------
    def _centre(self) -> str:
        return self.host.routing.centre.name

    def _html(self, template: str, status: int = 200, **context: object) -> web.Response:
        body = self.pages.render(template, centre=self._centre(), **context)
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def _page(self, handler: Handler) -> Handler:
        """A page's errors as a page in Russian, not as the API's JSON."""

        async def page(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except ApiError as e:
                heading = "Нет доступа" if e.status == 403 else "Ошибка"
                return self._html("error.html", e.status, heading=heading, message=e.message)

        return page

    async def _visitor(self, request: web.Request, roles: frozenset[Role]) -> Visitor:
        """For the stream, the JSON and the actions: 401/403 JSON."""
        v = await self.auth.visitor(request)
        if v is None:
            raise Unauthorized("Сеанс завершён: войдите заново.", error_id="no_session")
        if v.user.role not in roles:
            raise Forbidden("Недостаточно прав для этого раздела.")
        return v

    async def _page_visitor(self, request: web.Request, roles: frozenset[Role]) -> Visitor:
        v = await self.auth.visitor(request)
        if v is None:
            raise web.HTTPSeeOther("/ui/login")
        if v.user.role not in roles:
            raise Forbidden(f"Эта страница не для вашей роли. Ваша страница: {landing(v.user.role)}")
        return v

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        if not request.path.startswith("/ui"):
            return
        response.headers.update(SECURITY_HEADERS)
        if not request.path.startswith(PREFIX + "/"):
            response.headers["Cache-Control"] = "no-store"  # pages carry names and CSRF tokens

    async def _close(self, _: web.Application) -> None:
        await self.stream.close()

    # --- entry, login, logout ---------------------------------------------------------
    async def _to_wallboard(self, _: web.Request) -> web.Response:
        raise web.HTTPFound("/ui/wallboard")

    async def _home(self, request: web.Request) -> web.Response:
        v = await self.auth.visitor(request)
        raise web.HTTPSeeOther(landing(v.user.role) if v is not None else "/ui/login")

    async def _login_form(self, request: web.Request, message: str = "", name: str = "") -> web.Response:
        if not message and (v := await self.auth.visitor(request)) is not None:
            raise web.HTTPSeeOther(landing(v.user.role))
        token = self.auth.login_token(request)
        status = 200
        if message:
            status = 400
        response = self._html("login.html", status, login_csrf=token, message=message, name=name)
        self.auth.set_login_cookie(response, token)
        return response

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        name, password, sent = (str(form.get(k, "")) for k in ("name", "password", "csrf"))
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or sent != expected:
            return await self._login_form(request, "Форма входа устарела. Повторите вход.", name)
        if not name or not password or len(name) > 64 or len(password) > 1024:
            return await self._login_form(request, "Введите имя пользователя и пароль.", name)
        try:
            who, sid = await self.auth.login(request, name, password)
        except LoginRefused as e:
            response = await self._login_form(request, str(e), name)
            response.set_status(e.status)
            return response
        response = web.HTTPSeeOther(landing(who.role))
        self.auth.set_session_cookie(response, sid)
        response.del_cookie(LOGIN_COOKIE, path="/ui/login")
        raise response

    async def _logout(self, request: web.Request) -> web.Response:
        v = await self.auth.visitor(request)
        if v is not None:
            form = await request.post()
            if not csrf_ok(v.session_id, str(form.get("csrf", ""))):
                raise Forbidden("Форма устарела: обновите страницу и повторите.", error_id="csrf")
            await self.auth.logout(request, v)
        response = web.HTTPSeeOther("/ui/login")
        self.auth.clear_session_cookie(response)
        raise response

    # --- pages ------------------------------------------------------------------------
    async def _wallboard(self, request: web.Request) -> web.Response:
        v = await self._page_visitor(request, STAFF)
        routing = self.host.routing
        return self._html(
            "wallboard.html",
            visitor=v,
            board=self.board(),
            operators=sorted(self.floor.dist.agents, key=natural),
            pause_reasons=list(routing.pause_reasons),
            is_admin=v.user.role in ADMIN,
        )

    async def _board_json(self, request: web.Request) -> web.Response:
        await self._visitor(request, STAFF)
        return web.json_response(dataclasses.asdict(self.board()))

    # --- the live stream --------------------------------------------------------------
    async def _events(self, request: web.Request) -> web.StreamResponse:
        await self._visitor(request, STAFF)
        return await serve_stream(request, self.stream, lambda: self._still_staff(request))

    async def _still_staff(self, request: web.Request) -> bool:
        """The stream's session, checked again (and kept alive: an open page is not idle).
        With the database away the board stays on: it comes from memory."""
        try:
            v = await self.auth.visitor(request)
        except ApiError:
            return True
        return v is not None and v.user.role in STAFF

    # --- actions ----------------------------------------------------------------------
    def _action(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            v = await self._visitor(request, ALL)  # the role is checked (and audited) by Actions
            raw = await request.post()
            form = {k: str(val) for k, val in raw.items() if isinstance(val, str)}
            sent = request.headers.get("X-CSRF-Token") or form.get("csrf")
            if not csrf_ok(v.session_id, sent):
                raise Forbidden("Форма устарела: обновите страницу и повторите.", error_id="csrf")
            if kind == "agent":
                answer = await self.actions.agent(v.user, request.remote, form)
            elif kind == "emergency":
                answer = await self.actions.switch_emergency(v.user, request.remote, form)
            elif kind == "reload":
                answer = await self.actions.reload(v.user, request.remote)
            else:
                raise BadRequest(kind)
            return web.json_response(answer)

        return handler
