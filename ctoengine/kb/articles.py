"""Articles read from the knowledge-base folder: ``<topic>/<name>.md`` with front matter.

::

    ---
    title: Замена паспорта по достижении 20 или 45 лет
    keywords: [замена, возраст]
    ---
    Markdown text...

Pure apart from reading the files: the articles in, problems as text (a bad
article is skipped and named, the others still load). Rendered once here, so a
page never renders Markdown per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ctoengine.kb.render import to_html

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_BYTES = 256 * 1024  # an article is a page, not a book: a larger file is refused
FRONT = re.compile(r"\A---\r?\n(.*?)\r?\n---\r?\n?(.*)\Z", re.S)


@dataclass(frozen=True)
class Article:
    id: str  # "<topic>/<name>": its address under /ui/kb/
    topic: str
    title: str
    keywords: tuple[str, ...]
    body: str  # Markdown as written (what the index searches)
    html: str  # rendered without any raw HTML of the article


def parse(topic: str, name: str, text: str) -> Article:
    """One article from its file's text; ValueError says what is wrong."""
    m = FRONT.match(text)
    if m is None:
        raise ValueError("no front matter: the file must start with '---', title and keywords, '---'")
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise ValueError(f"front matter is not YAML: {e}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("title"), str) or not meta["title"].strip():
        raise ValueError("front matter needs a title")
    keywords = meta.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str | int) for k in keywords):
        raise ValueError("keywords must be a list of words")
    body = m.group(2)
    return Article(
        id=f"{topic}/{name}",
        topic=topic,
        title=meta["title"].strip(),
        keywords=tuple(str(k) for k in keywords),
        body=body,
        html=to_html(body),
    )


def load(folder: Path) -> tuple[list[Article], list[str]]:
    """Every article of ``folder`` (one sub-folder per topic), sorted by id; and the problems."""
    articles: list[Article] = []
    problems: list[str] = []
    if not folder.is_dir():
        return [], [f"{folder}: the knowledge-base folder does not exist"]
    for path in sorted(folder.glob("*/*.md")):
        topic, name = path.parent.name, path.stem
        if not NAME_RE.match(topic) or not NAME_RE.match(name):
            problems.append(f"{path}: a folder or file name is a-z, 0-9, '-' and '_'")
            continue
        try:
            if path.stat().st_size > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES // 1024} KiB")
            articles.append(parse(topic, name, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            problems.append(f"{path}: {e}")
    return articles, problems


@dataclass(frozen=True)
class Library:
    """The articles in memory: by id and by topic (the call card shows its topic's)."""

    articles: tuple[Article, ...] = ()

    def get(self, article_id: str) -> Article | None:
        return next((a for a in self.articles if a.id == article_id), None)

    def of_topic(self, topic: str) -> list[Article]:
        return [a for a in self.articles if a.topic == topic]
