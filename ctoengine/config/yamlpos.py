"""YAML loading that remembers where every value came from (line and column).

PyYAML builds plain data and forgets positions, and silently lets a later
duplicate key win. Here the node tree is walked by hand: every mapping key and
value gets its ``(line, column)`` (1-based) under its document path, and a
duplicate key is an error — in a menu it would silently drop an option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    line: int
    column: int


class YamlProblem(Exception):
    def __init__(self, message: str, line: int, column: int, path: Path_ = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.path = path


def _mark(node: yaml.Node) -> Located:
    return Located(node.start_mark.line + 1, node.start_mark.column + 1)


def load_with_positions(text: str) -> tuple[Any, dict[Path_, Located]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(f"YAML syntax error: {e.problem or e}", line, col) from None
    positions: dict[Path_, Located] = {}
    if root is None:
        return None, positions
    constructor = yaml.SafeLoader("")

    def walk(node: yaml.Node, path: Path_) -> Any:
        positions[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int):
                    m = _mark(key_node)
                    raise YamlProblem("a key must be a string", m.line, m.column, path)
                key = str(key)
                if key in out:
                    m = _mark(key_node)
                    raise YamlProblem(f"duplicate key {key!r}", m.line, m.column, (*path, key))
                out[key] = walk(value_node, (*path, key))
                positions[(*path, key, "__key__")] = _mark(key_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [walk(child, (*path, i)) for i, child in enumerate(node.value)]
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as e:
            m = _mark(node)
            raise YamlProblem(f"cannot read value: {e.problem}", m.line, m.column, path) from None

    return walk(root, ()), positions


def locate(positions: dict[Path_, Located], path: Path_, key: bool = False) -> Located:
    """The position of ``path``, or of its nearest ancestor that has one."""
    if key and (*path, "__key__") in positions:
        return positions[(*path, "__key__")]
    p = tuple(path)
    while p:
        if p in positions:
            return positions[p]
        p = p[:-1]
    return positions.get((), Located(1, 1))
