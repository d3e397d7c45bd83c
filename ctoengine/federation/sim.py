"""Two centres in a discrete-event simulation: what overflow does to the
20-second service level and the abandoned share.

Each centre has its own operators and its own Poisson stream of calls with
exponential handle times and exponential patience. Three policies:

- ``none``: every caller waits at home;
- ``fixed``: after a fixed wait at home the caller is sent to the peer whatever
  the peer's load (what app_queue or a dialplan timeout does);
- ``predictive``: the engine's own decision, ``choose_peer``, fed with the
  engine's expected-wait estimate (``wait_at_position``) of both centres, the
  peer's figure as last polled, at queue entry and every second of waiting.

A sent caller takes ``transfer_s`` to reach the peer (the originate and answer
over the trunk), keeps his patience, and joins the peer's queue in the order of
his first entry, as the engine does. Figures count each call once, at its home
centre, with its wait from the first queue entry. Run ``scripts/overflow-sim``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from itertools import count

from ctoengine.federation.decision import Local, PeerSpec, PeerStatus, Policy, Usage, choose_peer
from ctoengine.metrics.sla import SHORT_ABANDON_S, TARGET_WAIT_S, Counts
from ctoengine.queues.distributor import wait_at_position

POLICIES = ("none", "fixed", "predictive")
TOPIC = "general"


@dataclass(frozen=True)
class Scenario:
    name: str
    erlangs: tuple[float, float]  # offered load of centre A and centre B
    agents: int = 17
    aht_s: float = 240.0
    patience_s: float = 120.0
    hours: float = 200.0
    fixed_after_s: float = 15.0
    transfer_s: float = 1.0
    poll_every_s: float = 2.0
    seed: int = 1


def standard_scenarios(hours: float = 200.0, seed: int = 1) -> list[Scenario]:
    """The figures of issue 6: 2 x 17 operators at 13.3 Erlangs, balanced and 30 % apart;
    and both centres at peak."""
    return [
        Scenario("balanced", (13.3, 13.3), hours=hours, seed=seed),
        Scenario("A +30%, B -30%", (13.3 * 1.3, 13.3 * 0.7), hours=hours, seed=seed),
        # Both centres at peak: a peer is no help, and a policy that sends anyway only moves callers.
        Scenario("both +20%", (13.3 * 1.2, 13.3 * 1.2), hours=hours, seed=seed),
    ]


@dataclass
class Result(Counts):
    """Each call counted once, at its home centre, with its final outcome (at the
    peer too): so ``overflowed`` stays 0 and the calls sent are ``sent``."""

    scenario: str = ""
    policy: str = ""
    sent: int = 0
    by_centre: dict[str, float | None] = field(default_factory=dict)  # service level of each home centre

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["service_level"] = _round(self.service_level)
        d["abandoned_share"] = _round(self.abandoned_share)
        return d


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


@dataclass(eq=False)
class _Caller:
    home: int
    entered_at: float
    gives_up_at: float
    handle_s: float
    at: int = -1  # the centre whose queue holds him; -1 while on the way to a peer
    hops: int = 0
    done: bool = False


@dataclass
class _Centre:
    agents_free: int
    busy_since: dict[int, float] = field(default_factory=dict)  # operator -> call start
    queue: list[_Caller] = field(default_factory=list)  # ordered by first entry


class _Sim:
    def __init__(self, sc: Scenario, policy: str) -> None:
        self.sc, self.policy = sc, policy
        # Each centre's callers (arrival, patience, handle time) come from their own
        # stream, so every policy meets the very same callers.
        self.rnd = [random.Random(sc.seed * 2 + c) for c in (0, 1)]
        self.now = 0.0
        self.events: list[tuple[float, int, str, object]] = []
        self.seq = count()
        self.centres = [_Centre(sc.agents), _Centre(sc.agents)]
        self.free_ids = [list(range(sc.agents)), list(range(sc.agents))]
        self.stats = [Result(scenario=sc.name, policy=policy) for _ in (0, 1)]
        self.rules = Policy(target_wait_s=TARGET_WAIT_S, margin_s=10.0, stale_after_s=10.0)
        # Each may take up to all of the other's operators' worth of calls, half of our calls at most.
        self.specs = [
            PeerSpec("B", max_concurrent=sc.agents, max_share=0.5),
            PeerSpec("A", max_concurrent=sc.agents, max_share=0.5),
        ]
        self.usage = [Usage(), Usage()]
        self.polled: list[PeerStatus | None] = [None, None]  # what each centre last saw of its peer
        self.ticking = [False, False]

    # --- event plumbing ---------------------------------------------------
    def at(self, t: float, kind: str, data: object) -> None:
        heapq.heappush(self.events, (t, next(self.seq), kind, data))

    def run(self) -> Result:
        end = self.sc.hours * 3600
        for c in (0, 1):
            self.at(self.rnd[c].expovariate(self._rate(c)), "arrival", c)
        if self.policy == "predictive":
            self.at(0.0, "poll", None)
        while self.events:
            t, _, kind, data = heapq.heappop(self.events)
            if t > end:
                break
            self.now = t
            getattr(self, f"_on_{kind}")(data)
        total = Result(scenario=self.sc.name, policy=self.policy)
        for name, r in zip("AB", self.stats, strict=True):
            total.add(r)
            total.sent += r.sent
            total.by_centre[name] = _round(r.service_level)
        return total

    def _rate(self, c: int) -> float:
        return self.sc.erlangs[c] / self.sc.aht_s

    # --- events -----------------------------------------------------------
    def _on_arrival(self, c: int) -> None:
        rnd = self.rnd[c]
        self.at(self.now + rnd.expovariate(self._rate(c)), "arrival", c)
        patience, handle = rnd.expovariate(1 / self.sc.patience_s), rnd.expovariate(1 / self.sc.aht_s)
        caller = _Caller(c, self.now, self.now + patience, handle)
        self.stats[c].offered += 1
        self.usage[c].queued += 1
        self.at(caller.gives_up_at, "patience", caller)
        self._join(caller, c)
        if not caller.done and self.policy == "predictive":
            self._consider(caller)

    def _on_patience(self, caller: _Caller) -> None:
        if caller.done:
            return
        caller.done = True
        if caller.at >= 0:
            self.centres[caller.at].queue.remove(caller)
        self._left_peer(caller)
        r = self.stats[caller.home]
        r.abandoned += 1
        r.short_abandoned += self.now - caller.entered_at < SHORT_ABANDON_S

    def _on_handled(self, data: object) -> None:
        assert isinstance(data, tuple)
        c, agent, caller = data
        self._left_peer(caller)  # the peer's line is busy until the call ends
        centre = self.centres[c]
        del centre.busy_since[agent]
        self.free_ids[c].append(agent)
        centre.agents_free += 1
        if centre.queue:
            self._answer(centre.queue.pop(0), c)

    def _on_arrive_at_peer(self, caller: _Caller) -> None:
        if not caller.done:
            self._join(caller, 1 - caller.home)

    def _on_tick(self, c: int) -> None:
        centre = self.centres[c]
        waiting = [w for w in centre.queue if w.home == c and w.hops == 0]
        for w in waiting:
            if self.policy == "fixed" and self.now - w.entered_at >= self.sc.fixed_after_s:
                self._send(w)
            elif self.policy == "predictive":
                self._consider(w)
        self.ticking[c] = bool(centre.queue)
        if self.ticking[c]:
            self.at(self.now + 1.0, "tick", c)

    def _on_poll(self, _: object) -> None:
        for c in (0, 1):
            peer = 1 - c
            wait = self._expected_wait(peer, len(self.centres[peer].queue) + 1)
            self.polled[c] = PeerStatus(fetched_at=self.now, accepts=True, expected_wait_s={TOPIC: wait})
        self.at(self.now + self.sc.poll_every_s, "poll", None)

    # --- actions ----------------------------------------------------------
    def _join(self, caller: _Caller, c: int) -> None:
        centre = self.centres[c]
        caller.at = c
        if centre.agents_free and not centre.queue:
            self._answer(caller, c)
            return
        # Kept in the order of first entry: a sent caller keeps his place in time.
        i = len(centre.queue)
        while i and centre.queue[i - 1].entered_at > caller.entered_at:
            i -= 1
        centre.queue.insert(i, caller)
        if self.policy != "none" and not self.ticking[c]:
            self.ticking[c] = True
            self.at(self.now + 1.0, "tick", c)

    def _answer(self, caller: _Caller, c: int) -> None:
        caller.done = True
        centre = self.centres[c]
        centre.agents_free -= 1
        agent = self.free_ids[c].pop()
        centre.busy_since[agent] = self.now
        self.at(self.now + caller.handle_s, "handled", (c, agent, caller))
        r = self.stats[caller.home]
        r.answered += 1
        r.within_target += self.now - caller.entered_at <= TARGET_WAIT_S

    def _left_peer(self, caller: _Caller) -> None:
        if caller.hops:
            u = self.usage[caller.home]
            name = self.specs[caller.home].name
            u.active[name] = u.active.get(name, 0) - 1

    def _send(self, caller: _Caller) -> None:
        self.centres[caller.at].queue.remove(caller)
        caller.at, caller.hops = -1, 1
        u, name = self.usage[caller.home], self.specs[caller.home].name
        u.active[name] = u.active.get(name, 0) + 1
        u.sent[name] = u.sent.get(name, 0) + 1
        self.stats[caller.home].sent += 1
        self.at(self.now + self.sc.transfer_s, "arrive_at_peer", caller)

    def _consider(self, caller: _Caller) -> None:
        c = caller.home
        position = self.centres[c].queue.index(caller) + 1
        local = Local(
            topic=TOPIC,
            waited_s=self.now - caller.entered_at,
            expected_remaining_s=self._expected_wait(c, position),
            hops=caller.hops,
        )
        peers = [(self.specs[c], self.polled[c])]
        if choose_peer(local, peers, self.usage[c], self.rules, self.now) is not None:
            self._send(caller)

    def _expected_wait(self, c: int, position: int) -> float:
        # No separate wrap-up here: the handle time includes it.
        return wait_at_position(position, self.centres[c].agents_free, [], self.sc.agents, self.sc.aht_s)


def simulate(scenario: Scenario, policy: str) -> Result:
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}")
    return _Sim(scenario, policy).run()


def table(results: list[Result]) -> str:
    head = f"{'load':<16} {'policy':<11} {'calls':>7} {'SL 20 s':>8} "
    head += f"{'SL A':>7} {'SL B':>7} {'lost':>6} {'sent':>6}"
    lines = [head]
    for r in results:
        a, b = r.by_centre.get("A"), r.by_centre.get("B")
        lines.append(
            f"{r.scenario:<16} {r.policy:<11} {r.offered:>7} {r.service_level or 0:>8.1%} "
            f"{_pct(a):>7} {_pct(b):>7} {r.abandoned_share or 0:>6.1%} {r.sent / max(1, r.offered):>6.1%}"
        )
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="overflow-sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=200.0, help="simulated hours per run (default 200)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    if args.hours <= 0:
        p.error("--hours must be positive")
    results = [simulate(sc, pol) for sc in standard_scenarios(args.hours, args.seed) for pol in POLICIES]
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(table(results))
        print("\nSL: answered within 20 s of the first queue entry / (offered - hung up within 5 s);")
        print("lost: hung up after 5 s; sent: share of calls sent to the peer. 2 x 17 operators,")
        print("AHT 240 s, patience 120 s (exponential), fixed policy: after 15 s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
