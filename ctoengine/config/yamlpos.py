"""YAML loading that remembers where every value came from (line and column).

PyYAML builds plain data and forgets positions, and silently lets a later
duplicate key win. Here the node tree is walked by hand: every mapping key and
value gets its ``(line, column)`` (1-based) under its document path, and a
duplicate key is an error — in a menu it would silently drop an option.

Aliases (``*name``) are bounded: composing counts the nodes the document
would have with every alias expanded, and refuses the file at the alias that
takes it over ``MAX_NODES`` ("billion laughs": nine nested anchors of ten
aliases each describe 10^9 nodes in a few hundred bytes). An alias to a node
that contains it (a recursive structure) is refused as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

# Nodes of the document with every alias expanded; a routing file of a large
# centre has a few thousand.
MAX_NODES = 100_000


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


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that counts the expanded size while composing (see the module doc)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._expanded = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its size with aliases expanded
        self._complete: set[str] = set()  # anchors whose node is fully composed

    def _size(self, node: yaml.Node) -> int:
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        n = 1
        if isinstance(node, yaml.SequenceNode):
            n += sum(self._size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            n += sum(self._size(k) + self._size(v) for k, v in node.value)
        self._sizes[id(node)] = n
        return n

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = getattr(event, "anchor", None)
        at = event.start_mark
        if self.check_event(yaml.AliasEvent):
            if anchor in self.anchors and anchor not in self._complete:
                raise YamlProblem(
                    f"alias *{anchor} refers to a node that contains it (recursive aliases are refused)",
                    at.line + 1,
                    at.column + 1,
                )
            node = super().compose_node(parent, index)
            self._expanded += self._size(node) if node is not None else 0
        else:
            node = super().compose_node(parent, index)
            self._expanded += 1
            if anchor is not None:
                self._complete.add(anchor)
        if self._expanded > MAX_NODES:
            raise YamlProblem(
                f"the document expands to more than {MAX_NODES} values with its aliases expanded;"
                " refused (a 'billion laughs' file?)",
                at.line + 1,
                at.column + 1,
            )
        return node


def load_with_positions(text: str) -> tuple[Any, dict[Path_, Located]]:
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
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
