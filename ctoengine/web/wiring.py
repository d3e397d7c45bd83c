"""The web pages put together from the engine's parts (``Engine.start`` calls ``build``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ctoengine.appeals.history import History
from ctoengine.appeals.service import Appeals
from ctoengine.kb.service import KnowledgeBase
from ctoengine.settings import Settings
from ctoengine.web.actions import Actions
from ctoengine.web.auth import WebAuth
from ctoengine.web.desk_actions import DeskActions
from ctoengine.web.pgsessions import PgSessions, PgUsers, PoolGetter
from ctoengine.web.ports import Auditor, Desk, Emergency, Floor, Host
from ctoengine.web.routes import WebRoutes
from ctoengine.web.sessions import SessionPolicy
from ctoengine.web.workplace import Workplace


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


def workplace(
    pages: WebRoutes, desk: Desk, appeals: Appeals, history: History, kb: KnowledgeBase, auditor: Auditor
) -> Workplace:
    """The operators' workplace on the same sessions as ``pages`` (``Workplace.register``)."""
    return Workplace(pages, desk, DeskActions(desk, pages.host, appeals, auditor), history, kb)
