"""Fleet variants, each with real worker processes on one Redis namespace (design §6)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import attrs
import pytest
from redis.asyncio import Redis

from minimax_async import MAX_PARALLEL_CLONES_PER_ACCOUNT
from minimax_async.testing import CloneSpan, FakeMiniMax, Fault
from tests.fleet.harness import (
    ACCOUNTS,
    CLONE_LATENCY,
    Fleet,
    Scenario,
    created_names,
    run_scenario,
    worker_configs,
)

pytestmark = pytest.mark.anyio

ACCOUNT = ACCOUNTS[0]
#: The Retry-After of the injected 429s.
RETRY_AFTER = 2.0
#: Bound on waiting for Redis to show a state the test waits for.
STATE_TIMEOUT = 10.0
_POLL = 0.01


async def _poll(check: Callable[[], Awaitable[bool]], timeout: float = STATE_TIMEOUT) -> None:
    """Wait (bounded) until ``check()`` is true: for state another process writes."""

    async def loop() -> None:
        while not await check():  # noqa: ASYNC110 - state in Redis: nothing to await here
            await asyncio.sleep(_POLL)

    await asyncio.wait_for(loop(), timeout)


def _in_flight_at(spans: list[CloneSpan], moment: float) -> int:
    return sum(1 for span in spans if span.started <= moment < span.finished)


async def test_a_resumed_job_adopts_the_dead_process_clone(
    recording_fake: FakeMiniMax, redis_url: str, redis_namespace: str
) -> None:
    """A fifth process runs the killed one's unfinished jobs: the clone that was on the wire
    is adopted, not cloned again, and every one of its names exists exactly once."""
    fake = recording_fake
    scenario = Scenario.coordinated(
        redis_url, redis_namespace, processes=2, jobs_per_process=40, kill_at=0.4
    )
    outcome = await run_scenario(fake, scenario)
    victim, held = outcome.victim, outcome.held_name
    assert victim is not None
    assert held is not None
    unfinished = tuple(job for job in victim.config.jobs if job.name not in victim.results)
    assert held in {job.name for job in unfinished}
    fleet = Fleet()
    try:
        config = attrs.evolve(victim.config, jobs=unfinished, wait_for_go=False)
        [resumer] = await fleet.start_all([("resume", config)])
        await fleet.wait_exit(timeout=60)
    finally:
        await fleet.aclose()
    assert resumer.errors == {}, resumer.describe()
    assert set(resumer.results) == {job.name for job in unfinished}
    created = created_names(fake)
    assert all(created[job.name] == 1 for job in victim.config.jobs), created
    [held_voice] = [v for v in fake.record.voices_created if v.voice_name == held]
    assert resumer.results[held]["voice_id"] == held_voice.voice_id


async def test_a_429_alone_on_its_account_pauses_every_process(
    recording_fake: FakeMiniMax, redis_url: str, redis_namespace: str
) -> None:
    """A 429 with Retry-After on the account's only clone: no process sends a clone there
    until Retry-After has passed."""
    fake = recording_fake
    fake.faults.add(
        "clone-voice", Fault(status=429, retry_after=f"{RETRY_AFTER:g}"), account=ACCOUNT
    )
    scenario = Scenario.coordinated(
        redis_url,
        redis_namespace,
        jobs_per_process=5,
        job_accounts=(ACCOUNT,),
        max_parallel_clones=1,  # every clone runs alone on the account
    )
    outcome = await run_scenario(fake, scenario)
    [refused_at] = fake.record.faults_applied_at
    spans = [span for span in fake.record.clone_spans if span.account == ACCOUNT]
    assert len(spans) == scenario.processes * scenario.jobs_per_process
    assert min(span.started for span in spans) >= refused_at + RETRY_AFTER
    for worker in outcome.workers:
        assert len(worker.results) == scenario.jobs_per_process, worker.describe()


async def test_a_429_beside_another_clone_narrows_the_fleet_cap_to_one(
    recording_fake: FakeMiniMax, redis_client: Redis, redis_url: str, redis_namespace: str
) -> None:
    """A 429 on a clone sent while another one runs (from any process): for Retry-After the
    account runs one clone at a time fleet-wide, then two again."""
    fake = recording_fake
    scenario = Scenario.coordinated(
        redis_url, redis_namespace, jobs_per_process=30, job_accounts=(ACCOUNT,)
    )
    acct_key = "{" + redis_namespace + "}:acct:" + ACCOUNT
    fleet = Fleet()
    try:
        workers = await fleet.start_at_closed_gate(scenario, fake)
        await fake.gate.wait_held(MAX_PARALLEL_CLONES_PER_ACCOUNT)
        fake.faults.add(
            "clone-voice", Fault(status=429, retry_after=f"{RETRY_AFTER:g}"), account=ACCOUNT
        )
        # The freed slot goes to the next clone, which meets the 429 beside the held one.
        assert fake.gate.release(1) == 1

        async def narrowed() -> bool:
            return await redis_client.hget(acct_key, "cap_until") is not None

        await _poll(narrowed)
        fake.gate.open()
        await fleet.wait_exit(timeout=60)
    finally:
        await fleet.aclose()
    [refused_at] = fake.record.faults_applied_at
    spans = [span for span in fake.record.clone_spans if span.account == ACCOUNT]
    # The narrowing ends Retry-After after Redis heard of the 429, a little after the server
    # answered it: the margin keeps the window inside it.
    window_end = refused_at + RETRY_AFTER - 0.1
    inside = [s.started for s in spans if refused_at < s.started < window_end]
    after = [s.started for s in spans if s.started > refused_at + RETRY_AFTER + 0.1]
    assert inside, "the account was paused, not narrowed"
    assert max(_in_flight_at(spans, moment) for moment in inside) == 1
    assert max(_in_flight_at(spans, moment) for moment in after) == 2
    assert max(created_names(fake).values()) == 1
    for worker in workers:
        assert len(worker.results) == scenario.jobs_per_process, worker.describe()


async def test_after_a_596_no_process_sends_another_clone_to_that_account(
    recording_fake: FakeMiniMax, redis_url: str, redis_namespace: str
) -> None:
    """Once the account answers 596, only clones already on the wire meet it: no process
    sends another clone there, its pinned jobs fail, the other account's jobs all finish."""
    fake = recording_fake
    other = ACCOUNTS[1]
    scenario = Scenario.coordinated(
        redis_url, redis_namespace, jobs_per_process=10, job_accounts=(ACCOUNT, other)
    )
    fleet = Fleet()
    try:
        workers = await fleet.start_at_closed_gate(scenario, fake)
        await fake.gate.wait_held(MAX_PARALLEL_CLONES_PER_ACCOUNT, account=ACCOUNT)
        fake.set_account_status(ACCOUNT, 596)
        sent_before = fake.record.requests_by_account[("clone-voice", ACCOUNT)]
        fake.gate.open()
        await fleet.wait_exit(timeout=60)
    finally:
        await fleet.aclose()
    sent_after = fake.record.requests_by_account[("clone-voice", ACCOUNT)] - sent_before
    # The two held clones end; the clones granted their slots may be on the wire together
    # when the first 596 comes back, and nothing is sent there after it.
    assert sent_after <= MAX_PARALLEL_CLONES_PER_ACCOUNT
    for worker in workers:
        for job in worker.config.jobs:
            if job.account == other:
                assert job.name in worker.results, worker.describe()
        # The clones on the wire meet the 596 itself; the jobs still queued learn it from Redis.
        met = ("AccountOnHoldError", "AccountUnavailableError")
        assert all(e.startswith(met) for e in worker.errors.values()), worker.describe()
    failed = sum(len(worker.errors) for worker in workers)
    assert failed == scenario.processes * scenario.jobs_per_process // 2 - 2


async def test_processes_racing_for_the_last_voice_slots_fill_exactly_those(
    redis_url: str, redis_namespace: str
) -> None:
    """4 processes x 3 jobs on an account with 2 free voice slots of 4: exactly 2 clones are
    sent (so never a 400), the other jobs fail with VoiceSlotsExhaustedError."""
    async with FakeMiniMax(
        accounts=(ACCOUNT,), max_voices_per_account=4, clone_latency=CLONE_LATENCY
    ) as fake:
        fake.add_voice(ACCOUNT, "made by hand 1")
        fake.add_voice(ACCOUNT, "made by hand 2")
        scenario = Scenario.coordinated(
            redis_url,
            redis_namespace,
            jobs_per_process=3,
            job_accounts=(ACCOUNT,),
            max_voices_per_account=4,
        )
        outcome = await run_scenario(fake, scenario)
        assert fake.record.requests["clone-voice"] == 2
        assert len(fake.record.voices_created) == 2
        results = [name for worker in outcome.workers for name in worker.results]
        errors = [e for worker in outcome.workers for e in worker.errors.values()]
        assert len(results) == 2
        assert len(errors) == 10
        assert all(e.startswith("VoiceSlotsExhaustedError") for e in errors), errors


async def test_jobs_start_in_queue_order_across_processes(
    recording_fake: FakeMiniMax, redis_client: Redis, redis_url: str, redis_namespace: str
) -> None:
    """Jobs queued in turn by 4 processes while the account is busy start in that order."""
    fake = recording_fake
    scenario = Scenario.coordinated(
        redis_url,
        redis_namespace,
        jobs_per_process=4,
        job_accounts=(ACCOUNT,),
        max_parallel_clones=1,  # one clone at a time: the start order is the grant order
        step_by_step=True,
    )
    seq_key = "{" + redis_namespace + "}:seq"
    fleet = Fleet()
    try:
        workers = await fleet.start_all(worker_configs(scenario, fake))
        fake.record.reset()
        fake.gate.close()
        await workers[0].send("p0-0")  # takes the account's slot and is held
        await fake.gate.wait_held(1)
        queued = ["p0-0"]
        for round_ in range(1, scenario.jobs_per_process):
            for k, worker in enumerate(workers):
                name = f"p{k}-{round_}"
                await worker.send(name)
                queued.append(name)
                count = len(queued)

                async def has_seq(count: int = count) -> bool:
                    value = await redis_client.get(seq_key)
                    return value is not None and int(value) >= count

                await _poll(has_seq)  # its seq is taken before the next process queues
        for worker in workers:
            await worker.send("end")
        fake.gate.open()
        await fleet.wait_exit(timeout=60)
    finally:
        await fleet.aclose()
    started = [str(body["voice_name"]) for body in fake.record.clone_bodies]
    assert started == queued
    for worker in workers:
        assert set(worker.results) == set(worker.started), worker.describe()
