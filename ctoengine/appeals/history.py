"""A caller's earlier calls (personal data): every look-up leaves an ``audit_log`` row.

An operator sees the history of his own current call's number only (the card asks
for it once per call, with the call's id); a supervisor may search any number. The
audit row names the call (the operator's look-up) or the number masked as in the
logs (a supervisor's search), and how many calls were found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from ctoengine.appeals.service import STORE_ERRORS
from ctoengine.appeals.store import AppealStore
from ctoengine.errors import ApiError, Unavailable
from ctoengine.logs import mask_number
from ctoengine.users.policy import Principal
from ctoengine.users.store import AuditEntry

DAYS = 30
LIMIT = 20


class History:
    def __init__(
        self,
        store: AppealStore,
        audit: Callable[[AuditEntry], Awaitable[None]],
        wall: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.audit = audit
        self.wall = wall

    async def lookup(
        self,
        who: Principal,
        address: str | None,
        number: str,
        *,
        call_id: str | None = None,
        days: int = DAYS,
        via: str = "api",
    ) -> list[dict[str, Any]]:
        """The number's calls of the last ``days`` (but ``call_id`` itself), newest first."""
        status, rows = 200, []
        try:
            since = self.wall() - timedelta(days=days)
            rows = await self.store.history(number, since, call_id or "", LIMIT)
            return rows
        except STORE_ERRORS as e:
            status = 503
            raise Unavailable(f"История обращений недоступна: {e}") from None
        except ApiError as e:
            status = e.status
            raise
        finally:
            details = {"via": via, "number": mask_number(number), "days": days, "found": len(rows)}
            target = call_id if call_id is not None else mask_number(number)
            await self.audit(
                AuditEntry(who.name, who.role.value, "history.lookup", target, address, status, details)
            )
