"""The decision: which address to block and until when. No I/O, no clock.

Rules:
- a failure is a digest response that did not prove the account
  (``ChallengeResponseFailed``, ``InvalidPassword``) or a request for an account
  that does not exist (``InvalidAccountID``); a challenge sent (``ChallengeSent``)
  is the normal first step of every authenticated request, not a failure;
- ``max_failures`` failures from one address within ``window_s`` block it for
  ``block_s``; a blocked address is not counted again (Asterisk refuses it with
  403 before any authentication, so no more failures come from it anyway);
- addresses in ``never_block`` are counted but never blocked (on the loopback
  stack every phone, caller and peer is 127.0.0.1: blocking it would block all);
- the block ends at its deadline (``tick``); ``next_deadline`` says when.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

FAILURES = frozenset({"ChallengeResponseFailed", "InvalidPassword", "InvalidAccountID"})

_EVENT = re.compile(r'SecurityEvent="([A-Za-z]+)"')
_REMOTE = re.compile(r'RemoteAddress="IPV[46]/[A-Z]+/([0-9A-Fa-f.:]+)/\d+"')
_ACCOUNT = re.compile(r'AccountID="([^"]*)"')


@dataclass(frozen=True)
class AuthFailure:
    address: str
    account: str
    event: str


def parse_security_line(line: str) -> AuthFailure | None:
    """The failure a line of Asterisk's security log reports, or None."""
    event = _EVENT.search(line)
    if event is None or event.group(1) not in FAILURES:
        return None
    remote = _REMOTE.search(line)
    if remote is None:
        return None
    account = _ACCOUNT.search(line)
    return AuthFailure(remote.group(1), account.group(1) if account else "", event.group(1))


@dataclass(frozen=True)
class Block:
    address: str
    until: float


@dataclass(frozen=True)
class Unblock:
    address: str


Command = Block | Unblock


@dataclass
class Guard:
    max_failures: int = 5
    window_s: float = 60.0
    block_s: float = 600.0
    never_block: frozenset[str] = frozenset()
    blocked: dict[str, float] = field(default_factory=dict)
    _recent: dict[str, deque[float]] = field(default_factory=dict)

    def failure(self, address: str, now: float) -> list[Command]:
        commands: list[Command] = list(self.tick(now))
        if address in self.blocked:
            return commands
        times = self._recent.setdefault(address, deque())
        times.append(now)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.max_failures and address not in self.never_block:
            del self._recent[address]
            self.blocked[address] = now + self.block_s
            commands.append(Block(address, now + self.block_s))
        return commands

    def tick(self, now: float) -> list[Command]:
        """Blocks whose time is over; also forgets counts older than the window."""
        ended = [a for a, until in self.blocked.items() if until <= now]
        for a in ended:
            del self.blocked[a]
        for a in [a for a, t in self._recent.items() if not t or t[-1] <= now - self.window_s]:
            del self._recent[a]
        return [Unblock(a) for a in sorted(ended)]

    def next_deadline(self) -> float | None:
        return min(self.blocked.values(), default=None)
