import pytest

from ctoengine.ari import events as ev


def _channel(cid: str = "c1", name: str = "PJSIP/pstn-00000001") -> dict[str, object]:
    return {"id": cid, "name": name, "state": "Ring", "caller": {"name": "", "number": "79160000000"}}


def test_stasis_start_is_parsed_with_args() -> None:
    e = ev.parse_event({"type": "StasisStart", "args": ["inbound", "88003336060"], "channel": _channel()})
    assert isinstance(e, ev.StasisStart)
    assert e.args == ["inbound", "88003336060"]
    assert e.channel.caller.number == "79160000000"
    assert ev.channel_of(e) == "c1"


def test_playback_events_route_to_their_channel() -> None:
    e = ev.parse_event({"type": "PlaybackFinished", "playback": {"id": "p1", "target_uri": "channel:c9"}})
    assert ev.channel_of(e) == "c9"
    bridge_pb = ev.parse_event(
        {"type": "PlaybackFinished", "playback": {"id": "p2", "target_uri": "bridge:b"}}
    )
    assert ev.channel_of(bridge_pb) is None


def test_unknown_event_type_is_not_an_error() -> None:
    e = ev.parse_event({"type": "ChannelTalkingStarted", "channel": _channel()})
    assert isinstance(e, ev.UnknownEvent)
    assert e.type == "ChannelTalkingStarted"


def test_known_type_with_missing_fields_is_a_bad_event() -> None:
    with pytest.raises(ev.BadEvent, match="ChannelDtmfReceived"):
        ev.parse_event({"type": "ChannelDtmfReceived", "channel": _channel()})
    with pytest.raises(ev.BadEvent):
        ev.parse_event({"no": "type"})


def test_endpoint_of_an_operator_channel() -> None:
    e = ev.parse_event(
        {"type": "StasisStart", "args": ["operator", "c1"], "channel": _channel("o1", "PJSIP/op3-0000002a")}
    )
    assert isinstance(e, ev.StasisStart)
    assert e.channel.endpoint == "PJSIP/op3"
