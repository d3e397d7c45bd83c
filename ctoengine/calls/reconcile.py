"""What to do with each call and operator after an ARI (re)connect: a pure function.

Events sent while the websocket was down are lost for good. After every
connect the engine lists Asterisk's channels and compares them with what it
owns; ``reconcile`` says what follows from the difference. Its rules:

1. A call whose task runs and whose channel is up **continues**: its task is
   not restarted (no second IVR). Each of its legs that is gone gets the lost
   ``LegGone``; each of its legs that is up in our application gets a
   ``LegUp`` (a lost answer; the machine ignores it when it knew); its pending
   playbacks are checked (``CheckPlaybacks``: a 404 means finished).
2. A call whose task runs and whose channel is gone is **finished**: its task
   gets the lost caller-gone event and writes the row.
3. A caller channel in our application (verb ``inbound`` or ``federation``)
   that no task owns is **taken back** (a restarted engine; a call whose task
   ended on an error while the channel lived on), unless its call already
   ended here (``ended``): its row is written, so it is **hung up**, never run
   twice.
4. An ``operator`` leg in our application whose call is neither owned nor
   taken back is an orphan: **hung up**.
5. An operator ``on_call`` for a call that is neither owned nor taken back
   is **released** (``CallEnded`` to the distributor): nobody else would.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ctoengine.calls import wire

TAKEN_BACK_VERBS = frozenset({wire.INBOUND, wire.FEDERATION})


@dataclass(frozen=True)
class OwnedCall:
    """A call task of this engine: its caller's channel, its legs, its playbacks not yet finished."""

    call_id: str
    legs: frozenset[str] = frozenset()
    playbacks: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LiveChannel:
    """A channel Asterisk lists; ``args`` are its Stasis arguments when it is in our application."""

    id: str
    args: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Continue:
    call_id: str


@dataclass(frozen=True)
class CallerGone:
    call_id: str


@dataclass(frozen=True)
class LegGone:
    call_id: str
    leg: str


@dataclass(frozen=True)
class LegUp:
    call_id: str
    leg: str


@dataclass(frozen=True)
class CheckPlaybacks:
    call_id: str
    playbacks: frozenset[str]


@dataclass(frozen=True)
class TakeBack:
    channel_id: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Hangup:
    channel_id: str
    why: str


@dataclass(frozen=True)
class ReleaseAgent:
    agent_id: str
    call_id: str


Action = Continue | CallerGone | LegGone | LegUp | CheckPlaybacks | TakeBack | Hangup | ReleaseAgent


def reconcile(
    owned: Sequence[OwnedCall],
    live: Sequence[LiveChannel],
    agents_on_call: Mapping[str, str],
    ended: Collection[str] = (),
) -> list[Action]:
    """``agents_on_call``: agent id -> the call id he is on; ``ended``: calls whose row is written."""
    up = {c.id: c for c in live}
    owned_ids = {c.call_id for c in owned}
    owned_legs = {leg for c in owned for leg in c.legs}
    out: list[Action] = []
    for call in owned:
        if call.call_id not in up:
            out.append(CallerGone(call.call_id))
            continue
        out.append(Continue(call.call_id))
        for leg in sorted(call.legs):
            if leg not in up:
                out.append(LegGone(call.call_id, leg))
            elif up[leg].args is not None and wire.verb(up[leg].args or ()) == wire.OPERATOR:
                out.append(LegUp(call.call_id, leg))
        if call.playbacks:
            out.append(CheckPlaybacks(call.call_id, call.playbacks))
    taken: set[str] = set()
    for ch in live:
        if ch.args is None or ch.id in owned_ids or ch.id in owned_legs:
            continue
        verb = wire.verb(ch.args)
        if verb in TAKEN_BACK_VERBS:
            if ch.id in ended:
                out.append(Hangup(ch.id, "call already ended"))
            else:
                taken.add(ch.id)
                out.append(TakeBack(ch.id, ch.args))
    for ch in live:
        if ch.args is None or ch.id in owned_legs or wire.verb(ch.args) not in (wire.OPERATOR, wire.CALLBACK):
            continue
        call_id = wire.leg_call_id(ch.args)
        if call_id not in owned_ids and call_id not in taken:
            out.append(Hangup(ch.id, "orphan leg"))
    for agent, call_id in sorted(agents_on_call.items()):
        if call_id not in owned_ids and call_id not in taken:
            out.append(ReleaseAgent(agent, call_id))
    return out
