"""The web pages put together from the engine's parts (``Engine.start`` calls ``build``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ctoengine.settings import Settings
from ctoengine.web.actions import Actions
from ctoengine.web.auth import WebAuth
from ctoengine.web.pgsessions import PgSessions, PgUsers, PoolGetter
from ctoengine.web.ports import Auditor, Emergency, Floor, Host
from ctoengine.web.routes import WebRoutes
from ctoengine.web.sessions import SessionPolicy


def build(
    settings: Settings,
    floor: Floor,
    host: Host,
    emergency: Emergency,
    auditor: Auditor,
    pool: PoolGetter,
    wall: Callable[[], datetime],
) -> WebRoutes:
    """Sessions and users in PostgreSQL; the audit through the API's ``Access.audit``."""
    policy = SessionPolicy(idle_s=settings.web_session_idle_s, max_s=settings.web_session_max_s)
    auth = WebAuth(PgSessions(pool), PgUsers(pool), auditor, policy, wall, secure=settings.web_cookie_secure)
    actions = Actions(floor, host, emergency, auditor, wall)
    return WebRoutes(auth, floor, host, actions, wall)
