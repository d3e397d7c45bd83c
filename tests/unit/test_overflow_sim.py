"""The overflow simulation: its books balance, and the predictive policy beats
no overflow and matches or beats a fixed timeout where the issue says it should."""

from __future__ import annotations

import pytest

from ctoengine.federation.sim import POLICIES, Scenario, main, simulate, standard_scenarios

HOURS = 40.0


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, str], object]:
    return {(sc.name, p): simulate(sc, p) for sc in standard_scenarios(HOURS, seed=7)[:2] for p in POLICIES}


def test_every_call_is_counted_once(results: dict[tuple[str, str], object]) -> None:
    for r in results.values():
        assert r.offered > 0.9 * (13.3 / 240) * 3600 * HOURS * 2 * 0.7  # type: ignore[attr-defined]
        assert r.answered + r.abandoned <= r.offered  # type: ignore[attr-defined]
        # Calls still waiting when the clock stops are neither.
        assert r.offered - r.answered - r.abandoned < 100  # type: ignore[attr-defined]


def test_no_overflow_sends_nobody(results: dict[tuple[str, str], object]) -> None:
    assert all(r.sent == 0 for (_, p), r in results.items() if p == "none")  # type: ignore[attr-defined]


@pytest.mark.parametrize("scenario", ["balanced", "A +30%, B -30%"])
def test_predictive_overflow_lifts_the_service_level(
    results: dict[tuple[str, str], object], scenario: str
) -> None:
    none, fixed, pred = (results[(scenario, p)] for p in POLICIES)
    assert pred.service_level > none.service_level + 0.04  # type: ignore[attr-defined]
    assert pred.service_level >= fixed.service_level - 0.01  # type: ignore[attr-defined]
    assert pred.abandoned_share < none.abandoned_share  # type: ignore[attr-defined]
    assert pred.service_level > 0.93  # type: ignore[attr-defined]


def test_the_loaded_centre_gains_most_when_loads_differ(results: dict[tuple[str, str], object]) -> None:
    none, pred = results[("A +30%, B -30%", "none")], results[("A +30%, B -30%", "predictive")]
    assert none.by_centre["A"] < 0.8 < pred.by_centre["A"]  # type: ignore[attr-defined]


def test_same_seed_same_figures() -> None:
    sc = Scenario("small", (10.0, 10.0), hours=5, seed=3)
    assert simulate(sc, "predictive").as_dict() == simulate(sc, "predictive").as_dict()


def test_the_script_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--hours", "2"]) == 0
    out = capsys.readouterr().out
    for policy in POLICIES:
        assert policy in out
    assert "both +20%" in out
