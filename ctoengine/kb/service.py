"""The knowledge base the engine serves: the articles in memory, their index in PostgreSQL.

``load`` at start and after every reload of the routing file: the folder is read
again, the pages switch to the new articles at once, and the search index is
brought in line (a database that is down costs the search, not the articles).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ctoengine.appeals.service import STORE_ERRORS
from ctoengine.kb.articles import Article, Library, load
from ctoengine.kb.index import Hit
from ctoengine.logs import get_logger

log = get_logger("ctoengine.kb")


class Index(Protocol):
    """``ctoengine.kb.index.PgIndex``; a fake in the unit tests."""

    async def sync(self, articles: list[Article]) -> None: ...

    async def search(self, text: str, limit: int = 20) -> list[Hit]: ...


class KnowledgeBase:
    def __init__(self, index: Index) -> None:
        self.index = index
        self.library = Library()
        self.folder: Path | None = None

    async def load(self, folder: Path | None) -> list[str]:
        """Read ``folder`` (None: no knowledge base) and index it; the problems found."""
        articles, problems = load(folder) if folder is not None else ([], [])
        self.folder = folder
        self.library = Library(tuple(articles))
        try:
            await self.index.sync(articles)
        except STORE_ERRORS as e:
            problems.append(f"the search index is not updated: {e}")
        for p in problems:
            log.warning("kb_problem", problem=p)
        log.info("kb_loaded", folder=str(folder), articles=len(articles))
        return problems

    async def search(self, text: str, limit: int = 20) -> list[Hit]:
        text = " ".join(text.split())
        return await self.index.search(text, limit) if text else []
