"""The wire formats: what we build, we parse back; what a peer sends is bounded and never raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctoengine.calls import wire

TOPICS = {"pension", "benefits"}


def args_of(headers: dict[str, str]) -> list[str]:
    """What the peer's dialplan does: read each X-CTO-* header into the Stasis arguments."""
    by_name = {k.removeprefix("PJSIP_HEADER(add,X-CTO-").removesuffix(")"): v for k, v in headers.items()}
    return [by_name[n] for n in wire.HEADER_NAMES]


def test_headers_round_trip() -> None:
    headers = wire.federation_headers(
        federation_id="msk-1712.34",
        origin="msk",
        topic="pension",
        caller="+79161234567",
        waited_s=42.5,
        hops=0,
    )
    parsed = wire.parse_federation(args_of(headers), TOPICS)
    assert parsed == wire.Incoming("msk-1712.34", "msk", "pension", 42.5, 1, "+79161234567")


def test_incoming_round_trips_through_the_stasis_arguments() -> None:
    inc = wire.Incoming("spb-1.2", "spb", "benefits", 3.25, 1, "")
    args = wire.federation_args(inc)
    assert wire.verb(args) == wire.FEDERATION
    assert wire.parse_federation(args[1:], TOPICS) == inc


def test_headers_clamp_what_the_peer_would_refuse() -> None:
    headers = wire.federation_headers(
        federation_id="a-1", origin="a", topic="pension", caller="sipp", waited_s=float("inf"), hops=0
    )
    values = args_of(headers)
    assert values[3] == "0" and values[5] == wire.ANONYMOUS
    huge = wire.federation_headers(
        federation_id="a-1", origin="a", topic="pension", caller="1", waited_s=1e12, hops=0
    )
    assert args_of(huge)[3] == str(wire.MAX_WAITED_MS)


def test_garbage_is_refused_with_a_reason() -> None:
    good = ["fed-1", "msk", "pension", "1000", "1", "79161234567"]
    assert isinstance(wire.parse_federation(good, TOPICS), wire.Incoming)
    cases = {
        3: ["9" * 400, "-5", "1e9", "3600001", "", "NaN"],
        4: ["2", "-1", "x", ""],
        2: ["unknown", ""],
        5: ["12ab", "1" * 21, "+", "7916 123"],
        0: ["", "bad id", "x" * 200],
        1: ["", "o,rigin"],
    }
    for index, values in cases.items():
        for v in values:
            args = list(good)
            args[index] = v
            result = wire.parse_federation(args, TOPICS)
            assert isinstance(result, wire.Refused), (index, v)
            assert result.reason


def test_operator_args_and_ids() -> None:
    args = wire.operator_args("1712.5").split(",")
    assert wire.verb(args) == wire.OPERATOR and wire.operator_call_id(args) == "1712.5"
    assert wire.operator_call_id(["inbound", "112"]) == ""
    assert wire.inbound_dialed(["inbound", "112"]) == "112"
    assert wire.inbound_dialed(["inbound"]) is None
    assert wire.stasis_args("cto,inbound,112", "cto") == ["inbound", "112"]
    assert wire.stasis_args("other,inbound,112", "cto") is None
    assert wire.queue_bridge("c") != wire.external_bridge("c") != wire.external_leg("c")


@settings(deadline=None)
@given(st.lists(st.text(max_size=60), max_size=9))
def test_parse_never_raises_and_bounds_hold(args: list[str]) -> None:
    result = wire.parse_federation(args, TOPICS)
    assert isinstance(result, wire.Incoming | wire.Refused)
    if isinstance(result, wire.Incoming):
        assert 0 <= result.hops <= wire.MAX_HOPS
        assert 0 <= result.waited_s <= wire.MAX_WAITED_MS / 1000
        assert result.topic in TOPICS
        assert result.caller == "" or result.caller.lstrip("+").isdigit()
        assert len(result.caller.lstrip("+")) <= wire.MAX_CALLER_DIGITS


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=wire.MAX_WAITED_MS),
    st.integers(min_value=0, max_value=wire.MAX_HOPS),
    st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
)
def test_parse_accepts_everything_in_bounds(waited_ms: int, hops: int, caller: str, origin: str) -> None:
    args = [f"{origin}-9.1", origin, "pension", str(waited_ms), str(hops), caller]
    result = wire.parse_federation(args, TOPICS)
    assert result == wire.Incoming(f"{origin}-9.1", origin, "pension", waited_ms / 1000, hops, caller)


@settings(deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
def test_headers_never_raise_and_parse_back(waited_s: float, caller: str) -> None:
    headers = wire.federation_headers(
        federation_id="a-1", origin="a", topic="pension", caller=caller, waited_s=waited_s, hops=0
    )
    assert isinstance(wire.parse_federation(args_of(headers), TOPICS), wire.Incoming)
