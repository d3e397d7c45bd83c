"""A call handed to an allowlisted external destination (self-service ``transfer``),
and the way back to an operator's queue when the destination does not take it."""

from __future__ import annotations

import contextlib
from typing import Protocol

from ctoengine.ari import events as ari
from ctoengine.ari.client import ignore_gone
from ctoengine.calls import wire
from ctoengine.calls.context import CallContext
from ctoengine.config import RoutingConfig
from ctoengine.errors import AriError
from ctoengine.records.model import CallRecord


class CallLog(Protocol):
    def info(self, event: str, **kw: object) -> object: ...

    def warning(self, event: str, **kw: object) -> object: ...


class TransferringCall(Protocol):
    """The call's task, as the transfer sees it (``CallTask``)."""

    gone: bool
    transfer_fallback: str | None

    @property
    def call_id(self) -> str: ...
    @property
    def channel(self) -> ari.Channel: ...
    @property
    def config(self) -> RoutingConfig: ...
    @property
    def record(self) -> CallRecord: ...
    @property
    def ctx(self) -> CallContext: ...
    @property
    def log(self) -> CallLog: ...

    async def get_event(self) -> object: ...

    async def say(self, playback_id: str, media: list[str]) -> None: ...


async def transfer_external(call: TransferringCall, destination: str) -> None:
    """Connect the caller to an allowlisted destination and stay until one side hangs up."""
    dest = call.config.external_destinations[destination]  # the config check guarantees it
    leg, bridge = wire.external_leg(call.call_id), wire.external_bridge(call.call_id)
    call.record.self_service = {"transfer": destination}
    call.record.disposition = "failed"
    call.log.info("transfer_external", destination=destination)
    call.ctx.adopt(leg, call)
    bridged = False
    try:
        caller = call.channel.caller.number or "anonymous"
        await call.ctx.ari.originate(leg, dest.endpoint, wire.operator_args(call.call_id), f"<{caller}>", 30)
        while True:
            event = await call.get_event()
            if isinstance(event, ari.StasisStart) and event.channel.id == leg and not bridged:
                await call.ctx.ari.create_bridge(bridge)
                bridged = True
                await call.ctx.ari.add_channels(bridge, [call.call_id, leg])
                call.record.agent_answered_at = call.ctx.wall()
                call.record.disposition = "answered"
            elif isinstance(event, ari.ChannelDestroyed | ari.StasisEnd):
                if event.channel.id == call.call_id:
                    call.gone = True
                    await ignore_gone(call.ctx.ari.hangup(leg))
                    return
                if event.channel.id == leg:
                    call.record.hangup_by = "agent" if bridged else "engine"
                    return  # teardown hangs up the caller
    except AriError as e:
        call.log.warning("transfer_failed", destination=destination, error=str(e))
    finally:
        call.ctx.release(leg)
        if bridged:
            with contextlib.suppress(AriError):
                await ignore_gone(call.ctx.ari.destroy_bridge(bridge))
    if not bridged and not call.gone and dest.on_failure_queue is not None:
        await _fall_back(call, destination, dest.on_failure_queue, dest.failure_prompt)


async def _fall_back(call: TransferringCall, destination: str, queue: str, prompt: str) -> None:
    """The destination did not take the call: say so, then an operator's queue (run by ``run``)."""
    call.log.info("transfer_fallback", destination=destination, queue=queue)
    call.record.self_service = {"transfer": destination, "connected": False}
    call.record.hangup_by = None
    call.transfer_fallback = queue
    await call.say(f"{call.call_id}-xfail", [call.config.media(prompt)])
