"""The routing file's JSON Schema, generated from the pydantic models (their field
descriptions included), and the effective configuration with every default.

``config/routing.schema.json`` is this schema committed for editors
(``# yaml-language-server: $schema=routing.schema.json`` in a routing file); a unit
test keeps it equal to what the models generate: after changing
``ctoengine/config/routing.py`` run ``ctoengine config schema > config/routing.schema.json``.
The schema checks shapes and types; references between sections (a menu naming a
queue that exists, prompts that have audio files) are checked by ``config check``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from ctoengine.config.routing import RoutingConfig

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def routing_schema() -> dict[str, Any]:
    schema = RoutingConfig.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DRAFT, "title": "ctoengine routing file", **schema}


def routing_schema_text() -> str:
    return json.dumps(routing_schema(), indent=2, ensure_ascii=False) + "\n"


def effective_yaml(cfg: RoutingConfig) -> str:
    """The configuration as the engine uses it: every default filled in, paths resolved."""
    data = cfg.model_dump(mode="json")
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)


def show_main(path: str) -> int:
    """``ctoengine config show FILE``: the effective configuration (prompt audio files
    are not required here), or the errors as ``config check`` prints them."""
    from ctoengine.config.load import ConfigError, load_routing

    try:
        cfg = load_routing(Path(path), check_audio=False)
    except ConfigError as e:
        for issue in e.errors:
            print(issue, file=sys.stderr)
        print(f"{path}: {len(e.errors)} error(s)", file=sys.stderr)
        return 1
    print(effective_yaml(cfg), end="")
    return 0
