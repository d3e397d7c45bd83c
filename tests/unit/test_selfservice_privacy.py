"""Application numbers stay out of the self-service provider's log lines."""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from ctoengine.selfservice.providers import HttpProvider


async def test_http_provider_error_names_no_application_number() -> None:
    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_get("/status", broken)
    async with TestServer(app) as server:
        provider = HttpProvider(str(server.make_url("/status")))
        with capture_logs() as logs:
            result = await provider.lookup("7654321")
    assert result.failed
    assert logs and logs[0]["event"] == "status_lookup_failed"
    text = json.dumps(logs)
    assert "number=" in text  # the error names the URL...
    assert "7654321" not in text  # ...but not the number
