"""Two centres in a discrete-event simulation: what overflow does to the
20-second service level and the abandoned share.

Each centre has its own operators and its own Poisson stream of calls with
exponential handle times and exponential patience. Three policies:

- ``none``: every caller waits at home;
- ``fixed``: after a fixed wait at home the caller is sent to the peer whatever
  the peer's load (what app_queue or a dialplan timeout does);
- ``predictive``: the engine's own decision, ``choose_peer``, fed with the
  engine's expected-wait estimates of both centres, the peer's figure as last
  polled, at queue entry and every second of waiting.

Each centre's queue is the engine's own ``Distributor``, driven through the
same events and commands as live: callers queued and leaving, operators rung
(the simulated phone answers at once), calls ended, its timers fired (wrap-up).
Only the calls are simulated, not the queue: the estimates, the order and the
operator chosen are the engine's. A sent caller takes ``transfer_s`` to reach
the peer (the originate and answer over the trunk), keeps his patience, and
joins the peer's queue in the order of his first entry, as the engine does.
Figures count each call once, at its home centre, with its wait from the first
queue entry. Run ``scripts/overflow-sim``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from itertools import count

from ctoengine.agents.states import AgentSpec
from ctoengine.calls.protocol import CancelTimer, StartTimer
from ctoengine.federation.decision import Local, PeerSpec, PeerStatus, Policy, Usage, choose_peer
from ctoengine.metrics.sla import SHORT_ABANDON_S, TARGET_WAIT_S, Counts
from ctoengine.queues import distributor as q

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
    id: str
    home: int
    entered_at: float
    gives_up_at: float
    handle_s: float
    at: int = -1  # the centre whose queue holds him; -1 while on the way to a peer
    hops: int = 0
    done: bool = False


class _Centre:
    """One centre: the engine's distributor, and the simulated phones around it."""

    def __init__(self, sim: _Sim, index: int, agents: int) -> None:
        self.sim, self.index = sim, index
        queue = q.QueueSpec(TOPIC, TOPIC, wrap_up_s=0.0, max_wait_s=float("inf"), announce_every_s=0.0)
        specs = [AgentSpec(f"op{i}", f"SIM/op{i}", {TOPIC: 5}) for i in range(agents)]
        self.dist = q.Distributor({TOPIC: queue}, specs)
        self.callers: dict[str, _Caller] = {}  # those in this centre's queue
        self.timers: dict[
            str, int
        ] = {}  # name -> generation: a re-armed or cancelled timer's old firing is stale
        for spec in specs:
            self.feed(q.AgentLogin(spec.id))

    def feed(self, event: object) -> None:
        for cmd in self.dist.handle(event, self.sim.now):
            if isinstance(cmd, q.RingAgent):  # the phone answers at once
                self.sim.answered(self.index, self.callers.pop(cmd.call_id), cmd.agent_id)
                self.feed(q.RingAnswered(cmd.call_id, cmd.agent_id))
            elif isinstance(cmd, StartTimer) and cmd.at != float("inf"):
                gen = self.timers[cmd.name] = self.timers.get(cmd.name, 0) + 1
                self.sim.at(cmd.at, "timer", (self.index, cmd.name, gen))
            elif isinstance(cmd, CancelTimer) and cmd.name in self.timers:
                self.timers[cmd.name] += 1

    def join(self, caller: _Caller) -> None:
        caller.at = self.index
        self.callers[caller.id] = caller
        # Queued with his first entry: a sent caller keeps his place in time.
        self.feed(q.CallerQueued(caller.id, TOPIC, caller.entered_at))

    def leave(self, caller: _Caller, reason: str) -> None:
        self.callers.pop(caller.id, None)
        self.feed(q.CallerLeft(caller.id, reason))


class _Sim:
    def __init__(self, sc: Scenario, policy: str) -> None:
        self.sc, self.policy = sc, policy
        # Each centre's callers (arrival, patience, handle time) come from their own
        # stream, so every policy meets the very same callers.
        self.rnd = [random.Random(sc.seed * 2 + c) for c in (0, 1)]
        self.now = 0.0
        self.events: list[tuple[float, int, str, object]] = []
        self.seq = count()
        self.ids = count(1)
        self.centres = [_Centre(self, 0, sc.agents), _Centre(self, 1, sc.agents)]
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
        caller = _Caller(f"c{next(self.ids)}", c, self.now, self.now + patience, handle)
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
            self.centres[caller.at].leave(caller, "abandoned")
        self._left_peer(caller)
        r = self.stats[caller.home]
        r.abandoned += 1
        r.short_abandoned += self.now - caller.entered_at < SHORT_ABANDON_S

    def _on_handled(self, data: object) -> None:
        assert isinstance(data, tuple)
        c, caller, agent = data
        self._left_peer(caller)  # the peer's line is busy until the call ends
        self.centres[c].feed(q.CallEnded(caller.id, agent))

    def _on_timer(self, data: object) -> None:
        assert isinstance(data, tuple)
        c, name, gen = data
        centre = self.centres[c]
        if centre.timers.get(name) == gen:
            del centre.timers[name]
            centre.feed(q.Tick(name))

    def _on_arrive_at_peer(self, caller: _Caller) -> None:
        if not caller.done:
            self._join(caller, 1 - caller.home)

    def _on_tick(self, c: int) -> None:
        centre = self.centres[c]
        waiting = [w for w in centre.callers.values() if w.home == c and w.hops == 0]
        for w in waiting:
            if self.policy == "fixed" and self.now - w.entered_at >= self.sc.fixed_after_s:
                self._send(w)
            elif self.policy == "predictive" and not w.done and w.at == c:
                self._consider(w)
        self.ticking[c] = bool(centre.callers)
        if self.ticking[c]:
            self.at(self.now + 1.0, "tick", c)

    def _polled(self, c: int) -> PeerStatus:
        """What centre ``c`` knows of its peer: polled every ``poll_every_s``, as live.
        Polled when asked and the last answer is that old, which is the same figure
        and spares the simulation the polls nobody reads."""
        last = self.polled[c]
        if last is None or self.now - last.fetched_at >= self.sc.poll_every_s:
            wait = self.centres[1 - c].dist.expected_wait_new(TOPIC, self.now)
            last = self.polled[c] = PeerStatus(
                fetched_at=self.now, accepts=True, expected_wait_s={TOPIC: wait}
            )
        return last

    # --- actions ----------------------------------------------------------
    def _join(self, caller: _Caller, c: int) -> None:
        self.centres[c].join(caller)
        if not caller.done and self.policy != "none" and not self.ticking[c]:
            self.ticking[c] = True
            self.at(self.now + 1.0, "tick", c)

    def answered(self, c: int, caller: _Caller, agent: str) -> None:
        """The distributor rang ``agent`` of centre ``c`` for ``caller``: the call is his."""
        caller.done = True
        r = self.stats[caller.home]
        r.answered += 1
        r.within_target += self.now - caller.entered_at <= TARGET_WAIT_S
        self.at(self.now + caller.handle_s, "handled", (c, caller, agent))

    def _left_peer(self, caller: _Caller) -> None:
        if caller.hops:
            u = self.usage[caller.home]
            name = self.specs[caller.home].name
            u.active[name] = u.active.get(name, 0) - 1

    def _send(self, caller: _Caller) -> None:
        self.centres[caller.at].leave(caller, "overflowed")
        caller.at, caller.hops = -1, 1
        u, name = self.usage[caller.home], self.specs[caller.home].name
        u.active[name] = u.active.get(name, 0) + 1
        u.sent[name] = u.sent.get(name, 0) + 1
        self.stats[caller.home].sent += 1
        self.at(self.now + self.sc.transfer_s, "arrive_at_peer", caller)

    def _consider(self, caller: _Caller) -> None:
        c = caller.home
        local = Local(
            topic=TOPIC,
            waited_s=self.now - caller.entered_at,
            expected_remaining_s=self.centres[c].dist.expected_wait(caller.id, self.now),
            hops=caller.hops,
        )
        peers = [(self.specs[c], self._polled(c))]
        if choose_peer(local, peers, self.usage[c], self.rules, self.now) is not None:
            self._send(caller)


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
