"""Every wire format the engine writes and reads back, built and parsed in one place.

- Stasis arguments (``dialplan/extensions.conf`` writes the same verbs):
  ``inbound,<dialed>``, ``operator,<call id>``, ``feature,<code>,<endpoint>``,
  ``federation,<federation id>,<origin>,<topic>,<waited ms>,<hops>,<caller>``,
  ``callback,<callback call id>`` (both legs of a callback: operator and citizen),
  ``listen,<listen session id>`` (a supervisor's phone and its snoop channels, issue 18).
- The ids of the bridges and legs a call creates: ``<call id>-br`` (queue),
  ``<call id>-x`` / ``<call id>-xbr`` (external transfer).
- The ``X-CTO-*`` SIP headers a call overflowed to a peer centre carries; the
  peer's dialplan reads them back into the ``federation`` arguments.

Parsing never raises: a peer's headers are input from another system, and one
bad value must refuse one call, never the engine (``parse_federation`` returns
a ``Refused`` with the reason). The bounds are here, next to the format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

# --- bounds ---------------------------------------------------------------------
MAX_HOPS = 1  # a call sent on once already would make a loop
MAX_WAITED_MS = 3_600_000  # an hour: longer is a broken or hostile peer
MAX_CALLER_DIGITS = 20  # E.164 is 15; room for national prefixes
ANONYMOUS = "anonymous"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CALLER = re.compile(rf"\+?[0-9]{{1,{MAX_CALLER_DIGITS}}}")
_UINT = re.compile(r"[0-9]{1,10}")


# --- Stasis arguments -------------------------------------------------------------
INBOUND = "inbound"
OPERATOR = "operator"
FEATURE = "feature"
FEDERATION = "federation"
CALLBACK = "callback"
LISTEN = "listen"
VERBS = frozenset({INBOUND, OPERATOR, FEATURE, FEDERATION, CALLBACK, LISTEN})


def operator_args(call_id: str) -> str:
    """The Stasis arguments of a leg the engine originates for ``call_id`` (operator, peer, transfer)."""
    return f"{OPERATOR},{call_id}"


def callback_args(call_id: str) -> str:
    """The Stasis arguments of the legs a callback originates (the operator's, the citizen's)."""
    return f"{CALLBACK},{call_id}"


def listen_args(session_id: str) -> str:
    """The Stasis arguments of a supervisor's listening leg and of its snoop channels."""
    return f"{LISTEN},{session_id}"


def leg_call_id(args: Sequence[str]) -> str:
    """The owner key of an ``operator``, ``callback`` or ``listen`` leg: its call, or the listen
    session ("" when missing)."""
    return args[1] if len(args) > 1 and args[0] in (OPERATOR, CALLBACK, LISTEN) else ""


def verb(args: Sequence[str]) -> str:
    return args[0] if args else ""


def operator_call_id(args: Sequence[str]) -> str:
    """The call an ``operator`` leg belongs to ("" when missing)."""
    return args[1] if len(args) > 1 and args[0] == OPERATOR else ""


def inbound_dialed(args: Sequence[str]) -> str | None:
    """The dialed number of an ``inbound`` call; None when the argument is missing."""
    return args[1] if len(args) > 1 and args[0] == INBOUND else None


def stasis_args(app_data: str, app: str) -> list[str] | None:
    """The arguments of a channel in our application, from ``dialplan.app_data`` of a listed
    channel (``<app>,<verb>,…``); None for a channel in another application."""
    parts = app_data.split(",")
    if parts[0] != app:
        return None
    return parts[1:]


# --- ids ------------------------------------------------------------------------
def queue_bridge(call_id: str) -> str:
    return f"{call_id}-br"


def external_leg(call_id: str) -> str:
    return f"{call_id}-x"


def external_bridge(call_id: str) -> str:
    return f"{call_id}-xbr"


def callback_call(callback_id: str, stamp: int) -> str:
    """A callback attempt's call id (also its citizen leg's channel id); ``stamp``, the wall
    clock's second, keeps it unique across attempts and restarts."""
    return f"{callback_id}-{stamp}"


def callback_operator_leg(call_id: str) -> str:
    # Not "<call id>-op": Asterisk 22 refuses a new channel id that is the prefix of a live
    # one ("already in use"), and the citizen's leg (the call id) is dialled after this one.
    return f"op-{call_id}"


# --- federation -------------------------------------------------------------------
@dataclass(frozen=True)
class Incoming:
    """A call a peer centre overflowed to us, as its X-CTO-* headers describe it."""

    federation_id: str
    origin: str
    topic: str
    waited_s: float
    hops: int
    caller: str  # digits (maybe a leading +), or "" when the peer had no number


@dataclass(frozen=True)
class Refused:
    """Why a peer's call cannot be taken: one short reason, no personal data."""

    reason: str
    origin: str = "?"  # the sender as it named itself, once that name is well-formed


HEADER_NAMES = ("Federation-Id", "Origin", "Topic", "Waited-Ms", "Hops", "Caller")


def federation_headers(
    *, federation_id: str, origin: str, topic: str, caller: str, waited_s: float, hops: int
) -> dict[str, str]:
    """The channel variables that add the X-CTO-* headers to an overflow's INVITE.

    ``hops`` is how many times the call was overflowed before; the header says
    the count after this one. The values are clamped to what the peer accepts.
    """
    waited_ms = int(min(float(MAX_WAITED_MS), max(0.0, waited_s * 1000))) if math.isfinite(waited_s) else 0
    number = caller if _CALLER.fullmatch(caller) else ANONYMOUS
    values = {
        "Federation-Id": federation_id,
        "Origin": origin,
        "Topic": topic,
        "Waited-Ms": str(waited_ms),
        "Hops": str(hops + 1),
        "Caller": number,
    }
    return {f"PJSIP_HEADER(add,X-CTO-{k})": v for k, v in values.items()}


def federation_args(incoming: Incoming) -> list[str]:
    """The Stasis arguments the peer's dialplan makes of our headers (the inverse of the parse)."""
    return [
        FEDERATION,
        incoming.federation_id,
        incoming.origin,
        incoming.topic,
        str(round(incoming.waited_s * 1000)),
        str(incoming.hops),
        incoming.caller or ANONYMOUS,
    ]


def parse_federation(args: Sequence[str], topics: Collection[str]) -> Incoming | Refused:
    """The ``federation`` Stasis arguments (without the verb), checked against the bounds.

    Never raises. ``topics`` are the topics this centre knows.
    """
    values = list(args[:6]) + [""] * (6 - min(6, len(args)))
    fed_id, origin, topic, waited, hops, caller = (v.strip() for v in values)
    if not _ID.fullmatch(fed_id):
        return Refused("federation id missing or malformed")
    if not _NAME.fullmatch(origin):
        return Refused("origin missing or malformed")
    if topic not in topics:
        return Refused("unknown topic", origin)
    if not _UINT.fullmatch(waited) or int(waited) > MAX_WAITED_MS:
        return Refused("waited time out of range", origin)
    if not _UINT.fullmatch(hops) or int(hops) > MAX_HOPS:
        return Refused("hops out of range", origin)
    if caller in ("", ANONYMOUS):
        caller = ""
    elif not _CALLER.fullmatch(caller):
        return Refused("caller number malformed", origin)
    return Incoming(fed_id, origin, topic, int(waited) / 1000, int(hops), caller)
