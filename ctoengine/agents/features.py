"""Softphone feature codes: an operator dials *11 (login), *12 (logout), *13
(pause, reason ``break``), *14 (unpause). The dialplan sends the call into
Stasis as ``feature,<code>,<endpoint>``; the operator hears a confirmation.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ctoengine.agents.states import InvalidAgentTransition
from ctoengine.ari import events as ari
from ctoengine.ari.client import AriClient, ignore_gone
from ctoengine.errors import AriError
from ctoengine.logs import get_logger

log = get_logger("ctoengine.agents")

CODES = {"11": "login", "12": "logout", "13": "pause", "14": "unpause"}
# Asterisk's own Russian sounds: "agent logged in", "agent logged off", a beep, an error beep.
CONFIRM = {"login": "sound:agent-loginok", "logout": "sound:agent-loggedoff"}


class FeatureCall:
    """One feature-code call: answer, apply, confirm, hang up."""

    def __init__(self, ari_client: AriClient, queues: Any, event: ari.StasisStart) -> None:
        self.ari = ari_client
        self.queues = queues
        self.channel = event.channel
        self.code = event.args[1] if len(event.args) > 1 else ""
        self.done = asyncio.Event()

    def deliver(self, event: Any) -> None:
        if isinstance(event, ari.PlaybackFinished | ari.StasisEnd | ari.ChannelDestroyed):
            self.done.set()

    async def run(self) -> None:
        action = CODES.get(self.code)
        agent = self.queues.agent_for_endpoint(self.channel.endpoint) if self.queues else None
        media = "sound:beeperr"
        if action is None or agent is None:
            log.warning("feature_code_rejected", code=self.code, endpoint=self.channel.endpoint)
        else:
            try:
                self.queues.agent_action(agent, action, "break" if action == "pause" else None)
                media = CONFIRM.get(action, "sound:beep")
                log.info("feature_code", agent=agent, action=action)
            except InvalidAgentTransition as e:
                log.info("feature_code_refused", agent=agent, action=action, error=str(e))
        try:
            await self.ari.answer(self.channel.id)
            if await ignore_gone(self.ari.play(self.channel.id, f"{self.channel.id}-fc", [media])):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await self.done.wait()
        except AriError as e:
            log.info("feature_call_ended", error=str(e))
        finally:
            with contextlib.suppress(AriError):
                await ignore_gone(self.ari.hangup(self.channel.id))
