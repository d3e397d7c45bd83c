"""Static files of the pages under a versioned URL: ``/ui/static/<version>/<name>``.

The version is a hash of all the files, so a URL names one content for ever:
browsers may keep it a year without asking (``immutable``), and a new release
has new URLs. The files are few and small: read once, served from memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/ui/static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
CACHE_FOREVER = "public, max-age=31536000, immutable"


class Assets:
    def __init__(self, folder: Path = STATIC_DIR) -> None:
        self.files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in TYPES}
        digest = hashlib.sha256()
        for name, body in self.files.items():
            digest.update(name.encode() + b"\0" + body + b"\0")
        self.version = digest.hexdigest()[:12]

    def url(self, name: str) -> str:
        if name not in self.files:
            raise KeyError(f"no static file {name!r} in {STATIC_DIR}")
        return f"{PREFIX}/{self.version}/{name}"

    def register(self, app: web.Application) -> None:
        app.router.add_get(PREFIX + "/{version}/{name}", self.serve)

    async def serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = self.files.get(name)
        # An old version's URL is not answered with today's file: a cache would keep it as the old one.
        if body is None or request.match_info["version"] != self.version:
            return web.Response(status=404, text="нет такого файла", headers={"Cache-Control": "no-store"})
        return web.Response(
            body=body,
            headers={
                "Content-Type": TYPES[Path(name).suffix] + "; charset=utf-8",
                "Cache-Control": CACHE_FOREVER,
            },
        )
