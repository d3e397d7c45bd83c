"""The routing file's YAML aliases are bounded: a "billion laughs" file is refused, not expanded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ctoengine.config import ConfigError, check_main, load_routing
from ctoengine.config.yamlpos import MAX_NODES, YamlProblem, load_with_positions

LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_billion_laughs_is_refused_quickly_with_a_position() -> None:
    started = time.monotonic()
    with pytest.raises(YamlProblem) as e:
        load_with_positions(LAUGHS)
    assert time.monotonic() - started < 2.0
    assert "aliases expanded" in e.value.message
    # each *d stands for 11 111 values: the ninth in line 5 ("e") goes over
    assert e.value.line == 5
    assert e.value.column > 1


def test_billion_laughs_routing_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "routing.yaml"
    f.write_text(LAUGHS, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_routing(f)
    assert str(e.value.errors[0]).startswith(f"{f}:5:")
    assert check_main(str(f)) == 1
    assert f"{f}:5:" in capsys.readouterr().err


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(YamlProblem) as e:
        load_with_positions("a: &a [1, *a]\n")
    assert "recursive" in e.value.message
    assert (e.value.line, e.value.column) == (1, 11)


def test_ordinary_aliases_still_work() -> None:
    text = "defaults: &d {ring_timeout_s: 15, wrapup_s: 60}\nq1: *d\nq2: *d\nlist: [*d, *d]\n"
    data, positions = load_with_positions(text)
    assert data["q1"] == data["q2"] == {"ring_timeout_s": 15, "wrapup_s": 60}
    assert len(data["list"]) == 2
    assert positions[("q2",)].line == 1  # an alias reports where its anchor is


def test_many_aliases_under_the_bound_are_fine() -> None:
    n = MAX_NODES // 12  # each alias stands for 11 values
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [" + ", ".join(["*a"] * n) + "]\n"
    data, _ = load_with_positions(text)
    assert len(data["b"]) == n
