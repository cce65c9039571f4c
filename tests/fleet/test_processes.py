"""Several OS processes on the same accounts, against one fake server in the pytest process.

The fake server's own cap is raised (``max_parallel_clones=64``) so that it *records* any
overshoot of the API's 2-per-account limit instead of refusing it; the workers are real
processes (``tests.fleet.worker``), and one of them is SIGKILLed while one of its clones is
held at the server's gate.
"""

from __future__ import annotations

import pytest

from minimax_async import MAX_PARALLEL_CLONES_PER_ACCOUNT
from minimax_async.testing import FakeMiniMax
from tests.fleet.harness import (
    ACCOUNTS,
    Fleet,
    Scenario,
    created_names,
    run_scenario,
    worker_configs,
)

pytestmark = pytest.mark.anyio


async def test_uncoordinated_processes_overshoot_the_cap(recording_fake: FakeMiniMax) -> None:
    """Without a coordinator, 4 processes each keep their own cap: 8 clones per account at once.

    This is the failure the coordinator removes, and the proof that the harness sees it.
    """
    fake = recording_fake
    processes = 4
    scenario = Scenario(processes=processes, jobs_per_process=2 * len(ACCOUNTS))
    fleet = Fleet()
    try:
        workers = await fleet.start_all(worker_configs(scenario, fake))
        fake.record.reset()
        fake.gate.close()
        for worker in workers:
            await worker.go()
        per_account = processes * MAX_PARALLEL_CLONES_PER_ACCOUNT
        await fake.gate.wait_held(per_account * len(ACCOUNTS))
        assert fake.record.max_clones_in_flight == dict.fromkeys(ACCOUNTS, per_account)
        fake.gate.open()
        await fleet.wait_exit(timeout=60)
    finally:
        await fleet.aclose()
    assert all(len(w.results) == scenario.jobs_per_process for w in workers), [
        w.describe() for w in workers
    ]


async def test_uncoordinated_kill_harness(recording_fake: FakeMiniMax) -> None:
    """The kill machinery: the victim dies with a clone held, which the server then finishes;
    the survivors end every job."""
    fake = recording_fake
    scenario = Scenario(processes=3, jobs_per_process=60, kill_at=0.4, timeout=60)
    outcome = await run_scenario(fake, scenario)
    victim, held = outcome.victim, outcome.held_name
    assert victim is not None
    assert held is not None
    assert victim.owns(held)
    assert victim.process.returncode == -9
    assert held not in victim.results  # it died before the answer came
    created = created_names(fake)
    assert created[held] == 1  # the server finished the dead process's clone
    assert max(created.values()) == 1
    for worker in outcome.survivors:
        assert len(worker.results) == scenario.jobs_per_process, worker.describe()
        assert worker.done is not None
