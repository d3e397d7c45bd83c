"""Reading and validating a routing file; every error as ``FILE:LINE:COLUMN: message``."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ctoengine.config.routing import Action, RoutingConfig
from ctoengine.config.yamlpos import Located, Path_, YamlProblem, load_with_positions, locate
from ctoengine.errors import CtoError


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {self.message}{where}"


class ConfigError(CtoError):
    def __init__(self, errors: list[ConfigIssue]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_PYDANTIC_TEXT = {
    "extra_forbidden": "unknown key {key!r}",
    "missing": "missing required key {key!r}",
    "int_parsing": "expected a whole number, got {input!r}",
    "int_type": "expected a whole number, got {input!r}",
    "float_parsing": "expected a number, got {input!r}",
    "float_type": "expected a number, got {input!r}",
    "bool_parsing": "expected true or false, got {input!r}",
    "string_type": "expected text, got {input!r}",
    "dict_type": "expected a mapping (key: value), got {input!r}",
    "list_type": "expected a list, got {input!r}",
    "literal_error": "{msg}",
    "date_from_datetime_parsing": "expected a date like 2026-01-01, got {input!r}",
    "datetime_from_date_parsing": "expected a date and time like 2026-01-01T08:00, got {input!r}",
}


def _message(err: Any) -> str:
    loc = err["loc"]
    key = loc[-1] if loc else ""
    template = _PYDANTIC_TEXT.get(err["type"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if template is None:
        return msg
    try:
        return template.format(key=key, input=err.get("input"), msg=msg)
    except (KeyError, IndexError):
        return msg


class _Checker:
    def __init__(self, file: str, positions: dict[Path_, Located]) -> None:
        self.file = file
        self.positions = positions
        self.errors: list[ConfigIssue] = []

    def add(self, path: Path_, message: str, key: bool = False) -> None:
        at = locate(self.positions, path, key=key)
        self.errors.append(ConfigIssue(self.file, at.line, at.column, _dotted(path), message))


NO_AUDIO = "has no audio file"
PROMPTS_HINT = (
    "run scripts/prompts to make them from prompts/ru/*.txt (espeak-ng and sox), "
    "or put recordings named PROMPT.wav (8 kHz mono) into the prompts folder"
)


def _semantic(cfg: RoutingConfig, c: _Checker, base: Path, check_audio: bool = True) -> None:
    topics = {t.code for t in cfg.topics}
    for i, t in enumerate(cfg.topics):
        if [x.code for x in cfg.topics].count(t.code) > 1:
            c.add(("topics", i, "code"), f"topic {t.code!r} is listed twice")
    for i, n in enumerate(cfg.numbers):
        if n.flow not in cfg.flows:
            c.add(("numbers", i, "flow"), f"flow {n.flow!r} does not exist")

    prompts: list[tuple[Path_, str]] = []

    def check_action(path: Path_, a: Action) -> None:
        kind, target = a.kind, a.target
        if kind == "queue" and target not in cfg.queues and target not in topics:
            c.add(path, f"queue {target!r} does not exist (not a queue nor a topic)")
        elif kind == "menu" and target not in cfg.menus:
            c.add(path, f"menu {target!r} does not exist")
        elif kind == "transfer" and target not in cfg.external_destinations:
            c.add(path, f"external destination {target!r} is not in external_destinations")
        elif kind == "self_service" and cfg.self_service.application_status is None:
            c.add(path, "self_service.application_status is not configured")
        elif kind in ("play", "hangup"):
            prompts.append((path, target))

    for name, dest in cfg.external_destinations.items():
        if dest.on_failure_queue is not None:
            if dest.on_failure_queue not in cfg.queues:
                where = ("external_destinations", name, "on_failure_queue")
                c.add(where, f"queue {dest.on_failure_queue!r} does not exist")
            prompts.append((("external_destinations", name, "failure_prompt"), dest.failure_prompt))
    for name, f in cfg.flows.items():
        prompts.append((("flows", name, "greeting"), f.greeting))
        if f.goodbye:
            prompts.append((("flows", name, "goodbye"), f.goodbye))
        if f.menu is not None and f.menu not in cfg.menus:
            c.add(("flows", name, "menu"), f"menu {f.menu!r} does not exist")
    for name, menu_ in cfg.menus.items():
        prompts.append((("menus", name, "prompt"), menu_.prompt))
        if menu_.invalid_prompt:
            prompts.append((("menus", name, "invalid_prompt"), menu_.invalid_prompt))
        for digit, action in menu_.options.items():
            check_action(("menus", name, "options", digit), action)
        check_action(("menus", name, "on_exhausted"), menu_.on_exhausted)

    # Reachability: from every flow's menu, following menu actions.
    reachable: set[str] = set()
    todo = [f.menu for f in cfg.flows.values() if f.menu in cfg.menus]
    while todo:
        m = todo.pop()
        if m is None or m in reachable:
            continue
        reachable.add(m)
        menu = cfg.menus[m]
        for a in [*menu.options.values(), menu.on_exhausted]:
            if a.kind == "menu" and a.target in cfg.menus:
                todo.append(a.target)
    for name in cfg.menus:
        if name not in reachable:
            c.add(("menus", name), f"menu {name!r} is not reachable from any flow", key=True)

    # A cycle with no exit: menus that can only lead to one another.
    def exits(menu: str, seen: frozenset[str]) -> bool:
        m = cfg.menus[menu]
        for a in [*m.options.values(), m.on_exhausted]:
            if a.kind not in ("menu", "play"):
                return True
            if (
                a.kind == "menu"
                and a.target in cfg.menus
                and a.target not in seen
                and exits(a.target, seen | {a.target})
            ):
                return True
        return False

    for name in cfg.menus:
        if not exits(name, frozenset({name})):
            c.add(
                ("menus", name),
                f"menu {name!r} has no way out (a cycle of menus with no queue, "
                "self-service, transfer or hangup)",
                key=True,
            )

    ss = cfg.self_service.application_status
    if ss is not None:
        base_path: Path_ = ("self_service", "application_status")
        for field in ("ask_prompt", "unknown_prompt", "failed_prompt", "goodbye_prompt"):
            prompts.append(((*base_path, field), getattr(ss, field)))
        for status, p in ss.status_prompts.items():
            prompts.append(((*base_path, "status_prompts", status), p))
    for i, ann in enumerate(cfg.announcements):
        prompts.append((("announcements", i, "prompt"), ann.prompt))
        if ann.valid_from and ann.valid_to and ann.valid_to <= ann.valid_from:
            c.add(("announcements", i, "valid_to"), "valid_to is not after valid_from")
    prompts.append((("emergency", "prompt"), cfg.emergency.prompt))
    if cfg.emergency.flow and cfg.emergency.flow not in cfg.flows:
        c.add(("emergency", "flow"), f"flow {cfg.emergency.flow!r} does not exist")
    if cfg.schedule.night and cfg.schedule.night.flow not in cfg.flows:
        c.add(("schedule", "night", "flow"), f"flow {cfg.schedule.night.flow!r} does not exist")
    qp = cfg.queue_prompts
    for field in ("position", "expected_wait", "callback", "goodbye"):
        prompts.append((("queue_prompts", field), getattr(qp, field)))

    _callbacks(cfg, c, topics, prompts)
    if any(q.recording for q in cfg.queues.values()):
        prompts.append((("quality", "recording_prompt"), cfg.quality.recording_prompt))
    for name, q in cfg.queues.items():
        if q.survey is not None:
            prompts.append((("queues", name, "survey", "prompt"), q.survey.prompt))
            if q.survey.thanks_prompt:
                prompts.append((("queues", name, "survey", "thanks_prompt"), q.survey.thanks_prompt))

    if not check_audio:
        pass
    elif not cfg.prompts_dir.is_dir():
        c.add(("prompts_dir",), f"prompts folder {cfg.prompts_dir} does not exist ({PROMPTS_HINT})")
    else:
        for path, name in prompts:
            if name.startswith("asterisk:"):
                continue
            if not any(
                (cfg.prompts_dir / f"{name}.{ext}").exists() for ext in ("wav", "gsm", "ulaw", "alaw", "sln")
            ):
                c.add(path, f"prompt {name!r} {NO_AUDIO} in {cfg.prompts_dir}")

    ids = [o.id for o in cfg.operators]
    for i, o in enumerate(cfg.operators):
        if ids.count(o.id) > 1:
            c.add(("operators", i, "id"), f"operator {o.id!r} is listed twice")
        for topic in o.skills:
            if topic not in topics:
                c.add(("operators", i, "skills", topic), f"topic {topic!r} is not in topics", key=True)
    for name, q in cfg.queues.items():
        if q.topic not in topics:
            c.add(("queues", name, "topic"), f"topic {q.topic!r} is not in topics")
    if cfg.federation is not None:
        for name, peer in cfg.federation.peers.items():
            if name == cfg.federation.id:
                c.add(("federation", "peers", name), f"peer {name!r} is this centre itself", key=True)
            for i, topic in enumerate(peer.topics):
                if topic not in topics:
                    c.add(("federation", "peers", name, "topics", i), f"topic {topic!r} is not in topics")
    if "no_answer" not in cfg.pause_reasons:
        c.add(("pause_reasons",), "pause_reasons must include 'no_answer' (used by ring-no-answer)")
    _workplace(cfg, c, topics)


def _workplace(cfg: RoutingConfig, c: _Checker, topics: set[str]) -> None:
    """The appeals' catalogue names known topics; the knowledge base's folder exists."""
    wp = cfg.workplace
    for topic in wp.subtopics:
        if topic not in topics:
            c.add(("workplace", "subtopics", topic), f"topic {topic!r} is not in topics", key=True)
    if wp.kb_dir is not None and not wp.kb_dir.is_dir():
        c.add(("workplace", "kb_dir"), f"knowledge-base folder {wp.kb_dir} does not exist")


def _callbacks(cfg: RoutingConfig, c: _Checker, topics: set[str], prompts: list[tuple[Path_, str]]) -> None:
    """A promise of a callback needs the means to keep it: the callback section and a trunk."""
    cb = cfg.callback
    for name, q in cfg.queues.items():
        # Explicitly asked for only: by default a file without callbacks says goodbye honestly.
        if q.max_wait_action == "callback" and "max_wait_action" in q.model_fields_set and cb is None:
            c.add(
                ("queues", name, "max_wait_action"),
                "max_wait_action 'callback' needs the callback section (and outbound):"
                " nothing would call back",
            )
    if cb is None:
        return
    if cfg.outbound is None:
        c.add(("callback",), "callback needs the outbound section (the trunk it dials on)", key=True)
    for field in (
        "offer_prompt",
        "unavailable_prompt",
        "impossible_prompt",
        "intro_prompt",
        "whisper_prompt",
    ):
        prompts.append((("callback", field), getattr(cb, field)))
    for topic, prompt in cb.whisper_topics.items():
        if topic not in topics:
            c.add(("callback", "whisper_topics", topic), f"topic {topic!r} is not in topics", key=True)
        prompts.append((("callback", "whisper_topics", topic), prompt))


def load_routing(path: Path | str, check_audio: bool = True) -> RoutingConfig:
    """Parse and validate in full; raise ConfigError with every problem found.

    ``check_audio=False`` skips only the check that every prompt has an audio file
    (``config show`` on a fresh clone, before scripts/prompts)."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([ConfigIssue(file, 1, 1, "", f"cannot read the file: {e.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(file, 1, 1, "", "the file is not UTF-8 text")]) from None
    try:
        data, positions = load_with_positions(text)
    except YamlProblem as e:
        raise ConfigError([ConfigIssue(file, e.line, e.column, _dotted(e.path), e.message)]) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(file, 1, 1, "", "the routing file must be a mapping of sections")])
    checker = _Checker(file, positions)
    base = path.resolve().parent
    if isinstance(data.get("prompts_dir"), str):
        data["prompts_dir"] = str((base / data["prompts_dir"]).resolve())
    workplace = data.get("workplace")
    if isinstance(workplace, dict) and isinstance(workplace.get("kb_dir"), str):
        workplace["kb_dir"] = str((base / workplace["kb_dir"]).resolve())
    try:
        cfg = RoutingConfig.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                checker.add(loc, _message(err), key=True)
            else:
                checker.add(loc, _message(err))
        raise ConfigError(checker.errors) from None
    _semantic(cfg, checker, base, check_audio)
    if checker.errors:
        raise ConfigError(sorted(checker.errors, key=lambda i: (i.line, i.column)))
    return cfg


def check_main(path: str) -> int:
    """``ctoengine config check FILE``: 0 when valid; each error on its own line."""
    try:
        load_routing(path)
    except ConfigError as e:
        for issue in e.errors:
            print(issue, file=sys.stderr)
        print(f"{path}: {len(e.errors)} error(s)", file=sys.stderr)
        missing = sum(NO_AUDIO in i.message for i in e.errors)
        if missing:
            print(f"{path}: {missing} prompt(s) without audio: {PROMPTS_HINT}", file=sys.stderr)
        return 1
    print(f"{path}: OK")
    return 0
