"""The JSON body of the request being handled, and what the audit may show of it."""

from __future__ import annotations

import contextvars
import json
from typing import Any

from aiohttp import web

from ctoengine.errors import BadRequest

# Of the request being handled (one task per request): its JSON body as parsed by json_body,
# for the audit. A context variable rather than request storage: aiohttp wants typed
# RequestKeys, which the oldest aiohttp we support lacks.
BODY: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("body", default=None)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body is ``{}``."""
    raw = await request.read()
    if not raw.strip():
        BODY.set({})
        return {}
    try:
        data = json.loads(raw)
    except RecursionError:  # a body nested thousands deep (the drills send one)
        raise BadRequest("the body is not valid JSON: nested too deep") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    BODY.set(data)  # what the audit shows of it (ctoengine.api.http._details)
    return data
