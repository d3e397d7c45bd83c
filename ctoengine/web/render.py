"""The Jinja2 environment of the pages: autoescaped, strict, with the Russian filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from ctoengine.web import labels
from ctoengine.web.assets import Assets

TEMPLATES = Path(__file__).parent / "templates"


class Pages:
    def __init__(self, assets: Assets) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,  # a missing value is a bug, not an empty cell
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(labels.FILTERS)
        self.env.globals.update(
            static=assets.url,
            STATES=labels.STATES,
            BOARD_STATES=labels.BOARD_STATES,
            ROLES=labels.ROLES,
        )

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)
