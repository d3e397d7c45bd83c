"""The pure parts of issue 17: the appeals' catalogue in the routing file (config check with
FILE:LINE), the appeal check, the appeals report, and the knowledge base's articles (front
matter, safe rendering, search snippets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctoengine.appeals.model import problem
from ctoengine.config import RoutingConfig
from ctoengine.kb.articles import load, parse
from ctoengine.kb.index import pieces
from ctoengine.kb.render import to_html
from ctoengine.reports.appeals import Appeal, lines, table
from tests.unit.test_config_check import _edit, _errors, _line_of


def test_the_catalogue_names_known_topics_with_file_and_line(routing_dir: Path) -> None:
    f = _edit(routing_dir, "    egrul:\n      extract_paper:", "    egrl:\n      extract_paper:")
    (error,) = _errors(f)
    assert error.startswith(f"{f}:{_line_of(f, 'egrl:')}:5: topic 'egrl' is not in topics")


def test_a_bad_subtopic_code(routing_dir: Path) -> None:
    f = _edit(routing_dir, "      lost: Утрата", "      Lost one: Утрата")
    (error,) = _errors(f)
    assert "sub-topic 'Lost one' of 'passport': a code is a-z" in error
    line = int(error.removeprefix(f"{f}:").split(":")[0])
    assert _line_of(f, "subtopics:") < line < _line_of(f, "Lost one")  # at its topic's key


def test_a_missing_kb_folder(routing_dir: Path) -> None:
    f = _edit(routing_dir, f"kb_dir: {Path(__file__).resolve().parents[2] / 'kb'}", "kb_dir: no-such-kb")
    (error,) = _errors(f)
    assert error.startswith(f"{f}:{_line_of(f, 'kb_dir:')}:11: knowledge-base folder")


def test_an_appeal_fits_the_catalogue(demo: RoutingConfig) -> None:
    assert problem(demo, "passport", "lost", "complaint_registered", "") is None
    assert problem(demo, "passport", "fee", "consulted", "") == "У темы «passport» нет подтемы «fee»."
    assert problem(demo, "nope", "lost", "consulted", "") == "Нет темы «nope»."
    assert problem(demo, "passport", "lost", "won", "") == "Неизвестный результат «won»."
    assert problem(demo, "passport", "lost", "consulted", "x" * 2001) is not None


def test_the_appeals_report_by_subtopic_and_outcome() -> None:
    rows = [
        Appeal("passport", "lost", "complaint_registered"),
        Appeal("passport", "lost", "consulted"),
        Appeal("egrul", "fee", "consulted"),
    ]
    by_sub, total = lines(rows, "subtopic")
    assert total == 3
    assert [(x.group, x.appeals, x.complaints) for x in by_sub] == [
        ("passport/lost", 2, 1),
        ("egrul/fee", 1, 0),
    ]
    by_outcome, _ = lines(rows, "outcome")
    assert [(x.group, round(x.share, 3)) for x in by_outcome] == [
        ("consulted", 0.667),
        ("complaint_registered", 0.333),
    ]
    text = table("outcome", by_outcome, total, "t")
    assert text.splitlines()[-1].split() == ["total", "3", "100.0%", "1"]
    assert lines([], "outcome") == ([], 0)


def test_articles_are_rendered_without_raw_html() -> None:
    html = to_html("<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)> **b**")
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "<strong>b</strong>" in html
    assert "<table>" in to_html("| a | b |\n| --- | --- |\n| 1 | 2 |")


def test_front_matter_and_the_demo_articles() -> None:
    a = parse("passport", "x", "---\ntitle: Заголовок\nkeywords: [a, 20]\n---\nТекст")
    assert (a.id, a.title, a.keywords, a.html) == ("passport/x", "Заголовок", ("a", "20"), "<p>Текст</p>\n")
    for bad, why in (("Текст", "no front matter"), ("---\nkeywords: []\n---\n", "needs a title")):
        with pytest.raises(ValueError, match=why):
            parse("passport", "x", bad)
    articles, problems = load(Path(__file__).resolve().parents[2] / "kb")
    assert problems == []
    assert {a.topic for a in articles} == {"passport", "egrul", "social", "general"}


def test_bad_articles_are_named_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "passport").mkdir()
    (tmp_path / "passport" / "ok.md").write_text("---\ntitle: Да\n---\nТекст", encoding="utf-8")
    (tmp_path / "passport" / "bad.md").write_text("без шапки", encoding="utf-8")
    articles, problems = load(tmp_path)
    assert [a.id for a in articles] == ["passport/ok"]
    assert len(problems) == 1 and "bad.md: no front matter" in problems[0]


def test_search_snippets_are_text_with_marked_words() -> None:
    assert pieces("Если \x02паспорт\x03 **утерян**\n| x |") == [
        ("Если ", False),
        ("паспорт", True),
        (" утерян x", False),
    ]
