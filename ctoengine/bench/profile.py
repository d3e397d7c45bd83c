"""The benchmark profile: the same operators, skills, menu and timings for the
engine (a routing file), for the baseline (a dialplan with Queue() and
queues.conf) and for the bare dialplan (Dial() to a free operator, no queue:
the box's own limit), written into the benchmark's run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

ENGINE_DID = "88003336060"
BASELINE_DID = "88003336061"
DIRECT_DID = "88003336062"
TOPICS = ("passport", "general")  # key 1 and key 2


@dataclass(frozen=True)
class Timings:
    operators: int
    hold_s: float  # the operator talks this long, then hangs up
    ring_s: float = 0.3  # the operator's phone rings this long before answering
    wrap_up_s: float = 1.0
    ring_timeout_s: float = 10.0


def routing_yaml(t: Timings, prompts_dir: Path = REPO_ROOT / "prompts" / "ru") -> str:
    ops = "\n".join(
        f"  - {{id: op{i}, endpoint: PJSIP/op{i}, skills: {{passport: 5, general: 5}}}}"
        for i in range(1, t.operators + 1)
    )
    queues = "\n".join(
        f"  {topic}: {{topic: {topic}, wrap_up_s: {t.wrap_up_s}, ring_timeout_s: {t.ring_timeout_s},"
        " max_wait_s: 600, announce_every_s: 0}"
        for topic in TOPICS
    )
    return f"""# The benchmark profile (written by scripts/bench): {t.operators} operators with both skills,
# a beep for greeting and menu, key 1 or 2, no announcements; the baseline does the same.
centre: {{name: bench, level: regional, region_code: "70", timezone: Europe/Moscow}}
prompts_dir: {prompts_dir}
numbers: [{{did: "{ENGINE_DID}", flow: main}}]
topics:
  - {{code: passport, title: Паспорт}}
  - {{code: general, title: Общие вопросы}}
flows: {{main: {{greeting: "asterisk:beep", menu: main}}}}
menus:
  main:
    prompt: "asterisk:beep"
    timeout_s: 3
    retries: 1
    invalid_prompt: "asterisk:beep"
    options: {{"1": {{queue: passport}}, "2": {{queue: general}}}}
    on_exhausted: {{queue: general}}
operators:
{ops}
queues:
{queues}
"""


def baseline_dialplan() -> str:
    """Queue() with the same greeting, menu and wrap-up. Log() lines mark the
    moment a caller is queued and the moment each operator is rung, with
    microseconds, for the queued-to-ringing latency."""
    return f"""; The benchmark's baseline (written by scripts/bench): Asterisk's own Queue().
[from-pstn](+)
exten => {BASELINE_DID},1,Answer()
 same => n,Playback(beep)
 same => n,Read(KEY,beep,1,,1,3)
 same => n,Set(__BENCH_ID=${{UNIQUEID}})
 same => n,Log(NOTICE,BENCH queued ${{UNIQUEID}} ${{STRFTIME(,,%s.%6q)}})
 same => n,GotoIf($["${{KEY}}" = "1"]?passport)
 same => n,Queue(q-general,b(bench-predial^s^1),,,600)
 same => n,Hangup()
 same => n(passport),Queue(q-passport,b(bench-predial^s^1),,,600)
 same => n,Hangup()

[bench-predial]
exten => s,1,Log(NOTICE,BENCH ring ${{BENCH_ID}} ${{STRFTIME(,,%s.%6q)}})
 same => n,Return()
"""


def direct_dialplan(t: Timings) -> str:
    """The box's own limit: the same greeting, key and log lines, then Dial()
    straight to the next operator in turn, with no queue logic at all.

    Taking operators in turn is "a free operator" as long as there are more
    operators than callers up at once (the ramp is sized so): the one picked
    last spoke a whole round ago. The shared counter may hand two calls one
    operator under a race; one sipp answers for all of them, so that costs nothing.
    """
    return f"""; The benchmark's bare dialplan (written by scripts/bench): no queue, Dial() in turn.
[from-pstn](+)
exten => {DIRECT_DID},1,Answer()
 same => n,Playback(beep)
 same => n,Read(KEY,beep,1,,1,3)
 same => n,Set(__BENCH_ID=${{UNIQUEID}})
 same => n,Log(NOTICE,BENCH queued ${{UNIQUEID}} ${{STRFTIME(,,%s.%6q)}})
 same => n,Set(N=${{IF($["${{GLOBAL(BENCH_NEXT)}}" = ""]?0:${{GLOBAL(BENCH_NEXT)}})}})
 same => n,Set(GLOBAL(BENCH_NEXT)=$[(${{N}} + 1) % {t.operators}])
 same => n,Set(OP=op$[${{N}} + 1])
 same => n,Dial(PJSIP/${{OP}},{int(t.ring_timeout_s)},b(bench-predial^s^1)U(bench-answered))
 same => n,Hangup()

[bench-answered]
exten => s,1,Log(NOTICE,BENCH answer ${{BENCH_ID}} ${{STRFTIME(,,%s.%6q)}})
 same => n,Return()
"""


def baseline_queues(t: Timings) -> str:
    members = "\n".join(f"member => PJSIP/op{i}" for i in range(1, t.operators + 1))
    # "q-": [general] is queues.conf's own settings section, not a queue.
    out = ["; The benchmark's baseline queues (written by scripts/bench)."]
    for topic in TOPICS:
        out.append(
            f"""[q-{topic}]
strategy = leastrecent
autofill = yes
ringinuse = no
timeout = {int(t.ring_timeout_s)}
retry = 1
wrapuptime = {round(t.wrap_up_s)}
announce-frequency = 0
periodic-announce-frequency = 0
announce-position = no
joinempty = yes
leavewhenempty = no
musicclass = default
{members}
"""
        )
    return "\n".join(out)


def write(folder: Path, t: Timings, prompts_dir: Path = REPO_ROOT / "prompts" / "ru") -> tuple[Path, Path]:
    """The routing file and the folder of extra Asterisk configuration."""
    folder.mkdir(parents=True, exist_ok=True)
    routing = folder / "bench.yaml"
    routing.write_text(routing_yaml(t, prompts_dir), encoding="utf-8")
    extra = folder / "asterisk-extra"
    extra.mkdir(exist_ok=True)
    (extra / "extensions-extra.conf").write_text(baseline_dialplan() + direct_dialplan(t), encoding="utf-8")
    (extra / "queues-extra.conf").write_text(baseline_queues(t), encoding="utf-8")
    return routing, extra
