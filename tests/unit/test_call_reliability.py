"""The shell's reliability: deliver policy, watchdog, a dispatch that cannot fail, ApplicationReplaced."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from ctoengine.ari import events as ari
from ctoengine.ari.connection import AriConnection
from ctoengine.calls import protocol as p
from ctoengine.calls.context import CallContext
from ctoengine.calls.dispatch import Dispatcher
from ctoengine.calls.task import QUEUE_SIZE, CallTask, must_deliver
from ctoengine.config import RoutingConfig
from ctoengine.errors import AriNotFound, AriUnavailable
from ctoengine.metrics.registry import Metrics


class FakeAri:
    app = "cto"
    base_url = "http://ari"

    def __init__(self) -> None:
        self.channels: set[str] = set()
        self.playbacks: set[str] = set()
        self.hangups: list[tuple[str, str]] = []
        self.down = False

    async def channel_exists(self, channel_id: str) -> bool:
        if self.down:
            raise AriUnavailable("down")
        return channel_id in self.channels

    async def playback_exists(self, playback_id: str) -> bool:
        return playback_id in self.playbacks

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.hangups.append((channel_id, reason))

    async def list_channels(self) -> list[dict[str, Any]]:
        return [{"id": c} for c in self.channels]


class NullWriter:
    def submit(self, record: Any) -> None:
        pass


def context(cfg: RoutingConfig, fake: FakeAri) -> CallContext:
    return CallContext(
        ari=fake,  # type: ignore[arg-type]
        writer=NullWriter(),  # type: ignore[arg-type]
        metrics=Metrics(),
        routing=lambda: cfg,
        status_provider=None,  # type: ignore[arg-type]
        instance="t",
    )


def sample(ctx: CallContext, name: str, labels: dict[str, str]) -> float:
    value = ctx.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def eventually(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait, with a bound, until ``cond`` holds (a spawned task did its work)."""
    async with asyncio.timeout(timeout):
        for _ in itertools.count():
            if cond():
                return
            await asyncio.sleep(0.01)


def destroyed(channel_id: str) -> ari.ChannelDestroyed:
    return ari.ChannelDestroyed(type="ChannelDestroyed", channel=ari.Channel(id=channel_id))


def test_terminal_events_are_the_ones_never_dropped() -> None:
    end = ari.StasisEnd(type="StasisEnd", channel=ari.Channel(id="c"))
    assert must_deliver(destroyed("c")) and must_deliver(end) and must_deliver(p.CallerHungUp())
    assert not must_deliver(p.Dtmf("1")) and not must_deliver(p.TimerFired("t"))


async def test_full_queue_drops_and_counts_others_but_keeps_the_end(demo: RoutingConfig) -> None:
    ctx = context(demo, FakeAri())
    task = CallTask(ctx, ari.Channel(id="c1"), "112")
    for _ in range(QUEUE_SIZE):
        task.deliver(p.Dtmf("1"))
    task.deliver(p.Dtmf("2"))
    task.deliver(destroyed("c1"))
    task.deliver(p.CallerHungUp())
    assert task.events.qsize() == QUEUE_SIZE + 2
    assert sample(ctx, "ctoengine_call_events_dropped_total", {"type": "Dtmf"}) == 1
    items = [task.events.get_nowait() for _ in range(task.events.qsize())]
    assert isinstance(items[-2], ari.ChannelDestroyed) and isinstance(items[-1], p.CallerHungUp)


async def test_watchdog_recovers_a_lost_hangup_and_a_lost_playback_end(demo: RoutingConfig) -> None:
    fake = FakeAri()
    fake.channels = {"c1"}
    ctx = context(demo, fake)
    task = CallTask(ctx, ari.Channel(id="c1"), "112")
    task.playbacks = {"c1-pb1", "c1-pb2"}
    fake.playbacks = {"c1-pb2"}
    task._next_probe = task.loop.time()  # the watchdog is due
    async with asyncio.timeout(2):
        first = await task.get_event()
    assert first == p.PlaybackFinished("c1-pb1")
    assert task.playbacks == {"c1-pb2"}
    fake.channels.clear()
    task._next_probe = task.loop.time()
    async with asyncio.timeout(2):
        second = await task.get_event()
    assert isinstance(second, ari.ChannelDestroyed) and second.channel.id == "c1"
    labels = {"event": "ChannelDestroyed"}
    assert sample(ctx, "ctoengine_watchdog_recoveries_total", labels) == 1


async def test_watchdog_with_asterisk_unreachable_keeps_waiting(demo: RoutingConfig) -> None:
    fake = FakeAri()
    fake.down = True
    task = CallTask(context(demo, fake), ari.Channel(id="c1"), "112")
    task._next_probe = task.loop.time()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await task.get_event()
    assert task.events.empty() and not task.gone


def federation_start(channel_id: str, *args: str) -> ari.StasisStart:
    return ari.StasisStart(type="StasisStart", args=["federation", *args], channel=ari.Channel(id=channel_id))


async def test_garbage_from_a_peer_refuses_the_call_and_nothing_else(demo: RoutingConfig) -> None:
    fake = FakeAri()
    d = Dispatcher(context(demo, fake))
    topic = demo.topics[0].code
    d.on_event(federation_start("f1", "fed-1", "msk", topic, "9" * 5000, "1", "79160000000"))
    d.on_event(federation_start("f2", "fed-2", "msk", topic, "1e400", "1", "79160000000"))
    d.on_event(federation_start("f3"))
    await eventually(lambda: len(fake.hangups) >= 3)
    assert sorted(fake.hangups) == [("f1", "congestion"), ("f2", "congestion"), ("f3", "congestion")]
    assert not d.calls


async def test_a_crash_in_dispatch_is_counted_and_costs_one_call(demo: RoutingConfig) -> None:
    fake = FakeAri()
    ctx = context(demo, fake)
    d = Dispatcher(ctx)

    def broken(event: ari.StasisStart) -> None:
        raise OverflowError("boom")

    d.verbs["inbound"] = broken
    start = ari.StasisStart(type="StasisStart", args=["inbound", "112"], channel=ari.Channel(id="c9"))
    d.on_event(start)  # must not raise
    await eventually(lambda: bool(fake.hangups))
    assert fake.hangups == [("c9", "normal")]
    assert sample(ctx, "ctoengine_event_dispatch_errors_total", {"type": "StasisStart"}) == 1


async def test_reconnect_finishes_a_call_whose_channel_went_while_away(demo: RoutingConfig) -> None:
    fake = FakeAri()
    d = Dispatcher(context(demo, fake))
    task = CallTask(d.ctx, ari.Channel(id="c1"), "112")
    d.calls["c1"] = d.owners["c1"] = task
    await d.resume({})
    assert isinstance(task.events.get_nowait(), ari.ChannelDestroyed)
    fake.channels = {"c2"}
    task2 = CallTask(d.ctx, ari.Channel(id="c2"), "112")
    d.calls["c2"] = d.owners["c2"] = task2
    await d.resume({})
    assert task2.events.empty()  # up: it continues, untouched


class FakeClient:
    app = "cto"
    base_url = "http://ari"

    def __init__(self) -> None:
        self.connects = 0
        self.closed = asyncio.Event()
        self.runs = 0

    async def connect(self) -> None:
        self.connects += 1

    async def close_events(self) -> None:
        self.closed.set()

    async def filter_events(self, types: list[str]) -> None:
        pass

    async def run_events(self, sink: Any, on_open: Any = lambda: None) -> None:
        self.runs += 1
        on_open()
        if self.runs == 1:
            sink(ari.ApplicationReplaced(type="ApplicationReplaced"))
            await self.closed.wait()
        else:
            await asyncio.Event().wait()


async def test_application_replaced_backs_off_slowly() -> None:
    client = FakeClient()
    flags: list[bool] = []
    events: list[Any] = []

    async def connected() -> None:
        pass

    conn = AriConnection(
        client,  # type: ignore[arg-type]
        events.append,
        connected,
        lambda up: None,
        on_replaced=flags.append,
        replaced_retry_s=0.3,
    )
    runner = asyncio.create_task(conn.run())
    try:
        async with asyncio.timeout(2):
            await client.closed.wait()
        assert conn.replaced and flags == [True]
        assert events == []  # not handed to the dispatcher
        await asyncio.sleep(0.15)
        assert client.connects == 0  # still backing off (0.3 s, not 0.2 s)
        await eventually(lambda: flags == [True, False], timeout=3)
        assert client.connects == 1 and not conn.replaced
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


class SlowOpeningClient:
    """A websocket that opens late, and an application Asterisk knows a moment later still."""

    app = "cto"
    base_url = "http://ari"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.opened = False
        self.not_found_left = 2
        self.filtered_when_open: list[bool] = []

    async def connect(self) -> None:
        pass

    async def close_events(self) -> None:
        pass

    async def filter_events(self, types: list[str]) -> None:
        if self.not_found_left:
            self.not_found_left -= 1
            raise AriNotFound("applications.filter: not found (Application not found)", 404)
        self.filtered_when_open.append(self.opened)

    async def run_events(self, sink: Any, on_open: Any = lambda: None) -> None:
        await self.release.wait()  # the handshake takes as long as the test says
        self.opened = True
        on_open()
        await asyncio.Event().wait()


async def test_filter_and_resume_wait_for_the_websocket_and_the_application() -> None:
    client = SlowOpeningClient()
    resumed: list[bool] = []

    async def connected() -> None:
        resumed.append(client.opened)

    conn = AriConnection(client, lambda e: None, connected, lambda up: None)  # type: ignore[arg-type]
    runner = asyncio.create_task(conn.run())
    try:
        await asyncio.sleep(0.2)  # longer than the fixed pause that used to stand here
        assert resumed == [] and client.filtered_when_open == []
        client.release.set()
        await eventually(lambda: resumed == [True])
        assert client.filtered_when_open == [True] and client.not_found_left == 0
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
