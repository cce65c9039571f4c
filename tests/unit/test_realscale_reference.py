"""Benchmark 7's zero-overhead reference within the limits (``simulate_within_limits``):
hand-checked schedules. Only the simulation; no timing is asserted here."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("aiometer", reason="the bench group: pip install --group bench")

from benchmarks._makespan import simulate
from benchmarks._realscale import FULL_SCALES, ScaleSpec, simulate_within_limits


def _spec(
    *,
    accounts: int,
    jobs: int,
    voices: int = 100,
    sick: int = 0,
    sick_after: float = 0.0,
    single: int = 0,
) -> ScaleSpec:
    return ScaleSpec(
        key="t", title="t", accounts=accounts, jobs=jobs, voices_per_account=voices,
        sick=sick, sick_after=sick_after, single=single,
    )  # fmt: skip


def test_without_limits_it_is_the_shared_queue() -> None:
    """No limit binds: the same schedule as the unlimited shared queue, on any draws."""
    rng = random.Random(7)
    draws = [rng.uniform(10, 60) for _ in range(500)]
    spec = _spec(accounts=7, jobs=500, voices=500)
    assert simulate_within_limits(spec, draws) == simulate(draws, 7, 2, static=False)


def test_an_account_takes_no_more_clones_than_its_voice_slots() -> None:
    """2 accounts x 2 voices, 4 jobs of 1 s and a slow first one: the slow account's freed
    slot takes nothing (its voices are used), so the makespan is the slow clone's."""
    spec = _spec(accounts=2, jobs=4, voices=2)
    assert simulate_within_limits(spec, [5.0, 1.0, 1.0, 1.0]) == 5.0
    spec = _spec(accounts=1, jobs=4, voices=3)
    # One account, 2 slots, 3 voices: the 4th job never starts; the 3rd ends at 1 + 1.
    assert simulate_within_limits(spec, [1.0, 1.0, 1.0, 1.0]) == 2.0


def test_a_sick_account_starts_nothing_once_on_hold_and_a_single_one_runs_one() -> None:
    """The sick account (index 0) runs its two first clones, then takes nothing; the single
    account (index 1) runs one at a time; the healthy one (index 2) takes the rest."""
    spec = _spec(accounts=3, jobs=8, sick=1, sick_after=0.5, single=1)
    # t=0: sick x2, single x1, healthy x2 (5 started); t=1: the sick ones retire, single
    # and healthy take 3 more (8 started); all end at t=2.
    assert simulate_within_limits(spec, [1.0] * 8) == 2.0
    spec = _spec(accounts=3, jobs=9, sick=1, sick_after=0.5, single=1)
    assert simulate_within_limits(spec, [1.0] * 9) == 3.0


def test_where_four_voices_per_account_bind_it_is_round_robin() -> None:
    """250 x 4 voices, 1,000 jobs: each account takes exactly 4, as pinned round-robin
    does, and both sit far above the bound (which spreads the work evenly)."""
    spec = FULL_SCALES[0]
    rng = random.Random(spec.seed)
    draws = [rng.uniform(*spec.latency) for _ in range(spec.jobs)]
    limited = simulate_within_limits(spec, draws)
    unlimited = simulate(draws, spec.accounts, 2, static=False)
    assert limited > unlimited
    assert limited == pytest.approx(simulate(draws, spec.accounts, 2, static=True), rel=0.05)
