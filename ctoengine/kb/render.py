"""Markdown to HTML for the knowledge base, safely: raw HTML in an article is shown as text.

markdown-it-py with ``html`` off (a ``<script>`` in an article is escaped, not
run) and its link check on (``javascript:`` and ``data:`` links are dropped);
tables on, since articles list fees and terms in them.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def to_html(markdown: str) -> str:
    return str(_MD.render(markdown))
