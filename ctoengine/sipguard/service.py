"""The shell of the guard: tails Asterisk's security log, feeds ``Guard``, keeps
the blocked addresses in ``pjsip-blocked.conf`` and has Asterisk reload res_pjsip.

Wiring (not done here: app.py owns the tasks): ``SipGuard(security_log,
blocked_conf, reload_pjsip, metrics.registry).run()`` as one more task, where
``security_log`` is ``$RUN/asterisk/log/security.log``, ``blocked_conf`` is
``$RUN/asterisk/etc/pjsip-blocked.conf`` (pjsip.conf's ``#tryinclude``) and
``reload_pjsip`` does ARI ``PUT /asterisk/modules/res_pjsip.so``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from ctoengine.logs import get_logger
from ctoengine.sipguard.machine import Block, Command, Guard, parse_security_line

log = get_logger("ctoengine.sipguard")


def blocked_conf_text(addresses: list[str]) -> str:
    """pjsip.conf sections denying ``addresses`` (res_pjsip_acl answers them 403)."""
    out = [
        "; Written by the engine (ctoengine.sipguard): addresses blocked after",
        "; repeated SIP authentication failures. Rewritten on every change.",
        "",
    ]
    for a in sorted(addresses):
        bits = 128 if ":" in a else 32
        name = a.replace(":", "-").replace(".", "-")
        out += [f"[blocked-{name}]", "type = acl", f"deny = {a}/{bits}", ""]
    return "\n".join(out)


class SipGuard:
    def __init__(
        self,
        security_log: Path,
        blocked_conf: Path,
        reload_pjsip: Callable[[], Awaitable[None]],
        registry: CollectorRegistry,
        guard: Guard | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = 0.5,
    ) -> None:
        self.security_log = security_log
        self.blocked_conf = blocked_conf
        self.reload_pjsip = reload_pjsip
        self.guard = guard or Guard()
        self.clock = clock
        self.poll_s = poll_s
        self._offset = 0
        self.failures = Counter(
            "ctoengine_sip_auth_failures",
            "SIP requests whose digest authentication failed, by Asterisk's security event",
            ["event"],
            registry=registry,
        )
        self.blocks = Counter(
            "ctoengine_sip_blocks", "Addresses blocked after repeated SIP auth failures", registry=registry
        )
        self.blocked = Gauge("ctoengine_sip_blocked_addresses", "Addresses blocked now", registry=registry)

    async def start(self) -> None:
        """Only failures logged from now on count; blocks of an earlier run are lifted."""
        self._offset = self.security_log.stat().st_size if self.security_log.exists() else 0
        if self.blocked_conf.exists() and "deny" in self.blocked_conf.read_text():
            await self._apply([])

    async def run(self) -> None:
        await self.start()
        while True:
            await self.step()
            await asyncio.sleep(self.poll_s)

    async def step(self) -> None:
        """Reads what the log gained, feeds the guard, applies what it decided."""
        now = self.clock()
        commands: list[Command] = []
        for line in self._new_lines():
            failure = parse_security_line(line)
            if failure is None:
                continue
            self.failures.labels(failure.event).inc()
            commands += self.guard.failure(failure.address, now)
        commands += self.guard.tick(now)
        if commands:
            for c in commands:
                if isinstance(c, Block):
                    self.blocks.inc()
                    log.warning("sip_address_blocked", address=c.address, seconds=round(c.until - now))
                else:
                    log.info("sip_address_unblocked", address=c.address)
            await self._apply(sorted(self.guard.blocked))

    def _new_lines(self) -> list[str]:
        try:
            size = self.security_log.stat().st_size
        except FileNotFoundError:
            return []
        if size < self._offset:  # rotated or truncated: read it from the start
            self._offset = 0
        if size == self._offset:
            return []
        with self.security_log.open("rb") as f:
            f.seek(self._offset)
            data = f.read(size - self._offset)
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next step
        self._offset += end
        return data[:end].decode(errors="replace").splitlines()

    async def _apply(self, addresses: list[str]) -> None:
        tmp = self.blocked_conf.with_suffix(".tmp")
        tmp.write_text(blocked_conf_text(addresses))
        os.replace(tmp, self.blocked_conf)
        self.blocked.set(len(addresses))
        try:
            await self.reload_pjsip()
        except Exception as e:  # Asterisk away: the file is right, the next reload applies it
            log.warning("sip_block_reload_failed", error=str(e))
