"""The knowledge base's search index in PostgreSQL (``kb_articles``, migration 011).

The files are the truth: ``sync`` makes the table hold exactly the articles read
(at start and on every reload), in one transaction. ``search`` is full-text with
the ``russian`` configuration, so a word finds its other forms ("утраты" finds
"утерян... об утрате"); the best matches first, titles weighing most.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from ctoengine.kb.articles import Article

PoolGetter = Callable[[], Awaitable[asyncpg.Pool]]
MARK_ON, MARK_OFF = "\x02", "\x03"  # ts_headline's highlight: characters no article text holds
MAX_QUERY = 200
MARKDOWN_MARKS = re.compile(r"[*#|>`]+|-{3,}")
SEARCH = """
SELECT id, topic, title,
       ts_headline('russian', body, q, 'StartSel=' || $2 || ',StopSel=' || $3
                   || ',MaxWords=24,MinWords=8,MaxFragments=1') AS snippet
FROM kb_articles, websearch_to_tsquery('russian', $1) AS q
WHERE tsv @@ q
ORDER BY ts_rank(tsv, q) DESC, id
LIMIT $4
"""


@dataclass(frozen=True)
class Hit:
    id: str
    topic: str
    title: str
    snippet: list[tuple[str, bool]]  # pieces of text, each highlighted or not (escaped by the page)


def pieces(snippet: str) -> list[tuple[str, bool]]:
    """``a \\x02b\\x03 c`` -> ``[("a ", False), ("b", True), (" c", False)]``, without the
    Markdown marks (a snippet is plain text) and with the line breaks as spaces."""
    out: list[tuple[str, bool]] = []
    plain = " ".join(MARKDOWN_MARKS.sub("", snippet).split())
    for i, part in enumerate(plain.split(MARK_ON)):
        marked, _, rest = part.partition(MARK_OFF) if i else ("", "", part)
        if marked:
            out.append((marked, True))
        if rest:
            out.append((rest, False))
    return out


class PgIndex:
    def __init__(self, pool: PoolGetter) -> None:
        self.pool = pool

    async def sync(self, articles: list[Article]) -> None:
        pool = await self.pool()
        rows = [(a.id, a.topic, a.title, " ".join(a.keywords), a.body) for a in articles]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM kb_articles WHERE NOT (id = ANY($1::text[]))", [r[0] for r in rows]
            )
            await conn.executemany(
                """INSERT INTO kb_articles (id, topic, title, keywords, body) VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (id) DO UPDATE SET topic = EXCLUDED.topic, title = EXCLUDED.title,
                       keywords = EXCLUDED.keywords, body = EXCLUDED.body, indexed_at = now()""",
                rows,
            )

    async def search(self, text: str, limit: int = 20) -> list[Hit]:
        pool = await self.pool()
        rows = await pool.fetch(SEARCH, text[:MAX_QUERY], MARK_ON, MARK_OFF, limit)
        return [Hit(r["id"], r["topic"], r["title"], pieces(r["snippet"])) for r in rows]
