"""Benchmark 7: real scale in virtual time.

The harness's short fake clones (20-80 ms) say little about a real run, where a clone takes
10-60 s and only placement and hand-off order matter. Here the real client runs against the
real fake server with real clone times, on a virtual clock: a `looptime`_ event loop whose
time jumps to the next timer whenever nothing is ready to run, so hours of server time pass
in seconds. Client and server share that loop (one process), so both see the same clock;
every byte still crosses a real loopback socket through aiohttp on both sides.

Two things keep virtual time honest:

- Socket I/O takes no virtual time, and looptime polls for ready sockets before it moves
  the clock. On loopback a write is in the peer's receive queue when it returns, so no
  answer is ever "in flight" while the clock jumps.
- The one real-time delay loopback can add is a dropped SYN when the listen backlog
  overflows (the kernel retries after one real second, during which the virtual clock would
  run to the next timeout). The server here listens with a backlog of 4,096 (the kernel's
  ``somaxconn`` caps it), enough for every connection the largest scale opens at once.

Checked against the zero-overhead simulation: at 200 accounts x 10,000 jobs the library's
virtual makespan equals the simulated list schedule of the same draws to 0.01 %.

Each contender runs in a spawned process of its own, so its CPU time and peak memory are
its own (client and fake server together: they share the process and the loop).

.. _looptime: https://pypi.org/project/looptime/
"""

from __future__ import annotations

import asyncio
import heapq
import multiprocessing
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import aiohttp
import attrs
from aiohttp import web

from minimax_async import Client, RetryPolicy, VoiceJob
from minimax_async.testing import CloneSpan, FakeMiniMax, make_wav

from ._common import (
    LANGUAGE,
    SAMPLE_SECONDS,
    Fixture,
    RawCloneError,
    clone_body,
    peak_rss_bytes,
    raw_clone,
    upload_samples,
    voice_name,
)
from ._makespan import SLOTS_PER_ACCOUNT, lower_bound, simulate

__all__ = ["FULL_SCALES", "QUICK_SCALES", "ScaleResult", "ScaleSpec", "run_realscale"]

#: Listen backlog of the in-process server (see the module docstring).
_BACKLOG: Final = 4096
#: First account id.
_FIRST_ACCOUNT: Final = 200_001
#: Loop cycles with nothing to do before looptime moves the clock (its default is 42; the
#: results are the same at 5 and at 1,000, checked at 200 x 10,000, and 5 is faster).
_NOOP_CYCLES: Final = 5


@attrs.frozen(kw_only=True)
class ScaleSpec:
    """One real-scale experiment.

    Attributes:
        key: Short id.
        title: What the results call it.
        accounts: K.
        jobs: N.
        voices_per_account: The server's voice slots per account.
        latency: ``(low, high)`` seconds of the seeded uniform clone latency.
        seed: The fake server's seed.
        sick: Accounts that go on hold (596 to every request) part-way through.
        sick_after: Virtual seconds after the start at which they do.
        single: Accounts whose upstream runs one clone at a time (a second one gets 429).
        contenders: The keys of who runs it.
    """

    key: str
    title: str
    accounts: int
    jobs: int
    voices_per_account: int
    latency: tuple[float, float] = (10.0, 60.0)
    seed: int = 2026
    sick: int = 0
    sick_after: float = 0.0
    single: int = 0
    contenders: tuple[str, ...] = ("clone_many_reuse", "round_robin", "worker_pool")

    @property
    def account_ids(self) -> tuple[str, ...]:
        """The fake accounts: the sick ones first, then the single-clone ones."""
        return tuple(str(_FIRST_ACCOUNT + i) for i in range(self.accounts))

    @property
    def sick_accounts(self) -> tuple[str, ...]:
        """The accounts that go on hold."""
        return self.account_ids[: self.sick]

    @property
    def single_accounts(self) -> tuple[str, ...]:
        """The accounts that run one clone at a time."""
        return self.account_ids[self.sick : self.sick + self.single]

    def healthy_bound(self, latencies: Sequence[float]) -> float:
        """No schedule ends sooner, given what the healthy capacity allows.

        The sick accounts' slots are counted as busy until they go on hold, the single-clone
        accounts as one slot each, the rest as two.
        """
        healthy = self.accounts - self.sick - self.single
        slots = healthy * SLOTS_PER_ACCOUNT + self.single
        before = self.sick * SLOTS_PER_ACCOUNT * self.sick_after
        return max(max(latencies), (sum(latencies) - before) / slots)


def simulate_within_limits(spec: ScaleSpec, latencies: Sequence[float]) -> float:
    """The makespan of a zero-overhead client that knows nothing ahead (no clairvoyance)
    and keeps to the experiment's limits: a shared queue whose freed slot takes the next job
    at once, the clones served in the server's draw order, but an account takes at most
    ``voices_per_account`` clones, a single-clone account has one slot, and a sick account
    takes none once it is on hold (clones already running there finish, as on the fake
    server, which checks an account's status when a request arrives).

    No client that learns a clone's time only when it ends can do better in expectation:
    every freed slot is filled at once, and before a clone starts its time is unknown, so
    which job goes where cannot be chosen by length. Where the limits bind (4 voices per
    account), every account takes exactly its 4 clones and this is the figure any such
    client meets, ahead of the bound, which assumes the work can be spread evenly.
    """
    draws = iter(latencies)
    left = spec.jobs
    sick = set(range(spec.sick))
    single = set(range(spec.sick, spec.sick + spec.single))
    started = [0] * spec.accounts
    free: list[tuple[float, int]] = [
        (0.0, account)
        for account in range(spec.accounts)
        for _ in range(1 if account in single else SLOTS_PER_ACCOUNT)
    ]
    heapq.heapify(free)
    end = 0.0
    while free:
        at, account = heapq.heappop(free)
        end = max(end, at)
        if not left or started[account] >= spec.voices_per_account:
            continue
        if account in sick and at >= spec.sick_after:
            continue
        left -= 1
        started[account] += 1
        heapq.heappush(free, (at + next(draws), account))
    return end


FULL_SCALES: Final = (
    ScaleSpec(
        key="slots",
        title="250 accounts x 4 voice slots = 1,000 voices, 1,000 jobs",
        accounts=250,
        jobs=1000,
        voices_per_account=4,
        contenders=("clone_many_reuse", "clone_many", "round_robin", "worker_pool"),
    ),
    ScaleSpec(
        key="large",
        title="2,000 accounts, voice slots raised, 100,000 jobs",
        accounts=2000,
        jobs=100_000,
        voices_per_account=100_000,
    ),
    ScaleSpec(
        key="degraded",
        title="20 accounts: 3 go on hold (596) part-way, 2 run one clone at a time; 800 jobs",
        accounts=20,
        jobs=800,
        voices_per_account=800,
        sick=3,
        sick_after=300.0,
        single=2,
    ),
)
QUICK_SCALES: Final = (
    attrs.evolve(
        FULL_SCALES[0], title="25 accounts x 4 voice slots, 100 jobs", accounts=25, jobs=100
    ),
    attrs.evolve(
        FULL_SCALES[1],
        title="200 accounts, voice slots raised, 4,000 jobs",
        accounts=200,
        jobs=4000,
        voices_per_account=4000,
    ),
    attrs.evolve(
        FULL_SCALES[2],
        title="20 accounts: 3 on hold part-way, 2 single; 200 jobs",
        jobs=200,
        sick_after=100.0,
    ),
)


@attrs.frozen(kw_only=True)
class ScaleResult:
    """One contender's run of one experiment.

    Attributes:
        seconds: Virtual seconds from the start to the last job's end.
        bound: The lower bound of the latencies served (for ``degraded``: of what the
            healthy capacity allows, :meth:`ScaleSpec.healthy_bound`).
        list_schedule: A zero-overhead shared queue on the same draws (no voice limits,
            no faults): what any client placing jobs as slots free could reach.
        limited_schedule: The same within the experiment's voice limits and faults
            (:func:`simulate_within_limits`): the best a client without clairvoyance meets.
        static_schedule: Zero-overhead round-robin placement on the same draws.
        done: Jobs that ended with a voice.
        failed: Jobs that ended with an error.
        rejected_429: Clone requests the server refused for capacity.
        cpu_seconds: CPU time of the process (client and fake server together).
        wall_seconds: Real time of the timed part.
        peak_rss: Peak resident memory of the process (bytes).
    """

    spec_key: str
    contender: str
    label: str
    seconds: float
    bound: float
    list_schedule: float
    static_schedule: float
    limited_schedule: float
    done: int
    failed: int
    rejected_429: int
    cpu_seconds: float
    wall_seconds: float
    peak_rss: int

    @property
    def ratio(self) -> float:
        """Makespan / bound."""
        return self.seconds / self.bound

    @property
    def cpu_per_job_ms(self) -> float:
        """CPU milliseconds per job, client and server together."""
        return 1000 * self.cpu_seconds / (self.done + self.failed)


# --------------------------------------------------------------------------- contenders

#: A contender: runs every job of a spec against a fixture; returns (done, failed).
Run = Callable[[ScaleSpec, Fixture], Awaitable[tuple[int, int]]]


async def _library(spec: ScaleSpec, fixture: Fixture, *, reuse: bool) -> tuple[int, int]:
    sample = make_wav(SAMPLE_SECONDS)
    jobs = [VoiceJob(voice_name(i), LANGUAGE, sample) for i in range(spec.jobs)]
    done = failed = 0
    client = Client(
        token=fixture.token,
        base_url=fixture.base_url,
        accounts=fixture.accounts,
        max_voices_per_account=spec.voices_per_account,
        retry=RetryPolicy(attempts=100),
        reuse_uploads=reuse,
    )
    async with client, client.clone_many(jobs) as results:
        async for result in results:
            if result.error is None:
                done += 1
            else:
                failed += 1
    return done, failed


async def clone_many_reuse(spec: ScaleSpec, fixture: Fixture) -> tuple[int, int]:
    """``clone_many`` of jobs holding the sample's bytes, ``reuse_uploads=True``."""
    return await _library(spec, fixture, reuse=True)


async def clone_many(spec: ScaleSpec, fixture: Fixture) -> tuple[int, int]:
    """``clone_many`` of jobs holding the sample's bytes (one upload per job)."""
    return await _library(spec, fixture, reuse=False)


def _session(fixture: Fixture) -> aiohttp.ClientSession:
    # No connection limit: every account's two clones may be in flight at once.
    return aiohttp.ClientSession(headers=fixture.headers, connector=aiohttp.TCPConnector(limit=0))


async def round_robin(spec: ScaleSpec, fixture: Fixture) -> tuple[int, int]:
    """(b) Jobs dealt round-robin to accounts; an ``asyncio.Semaphore(2)`` per account;
    a 429 slept off and resent; any other error fails the job."""
    semaphores = {a: asyncio.Semaphore(SLOTS_PER_ACCOUNT) for a in fixture.accounts}
    outcome = [0, 0]
    async with _session(fixture) as session:

        async def one(job: int) -> None:
            async with semaphores[fixture.account_of(job)]:
                try:
                    await raw_clone(session, fixture.clone_url, clone_body(fixture, job))
                except RawCloneError:
                    outcome[1] += 1
                else:
                    outcome[0] += 1

        await asyncio.gather(*(one(i) for i in range(spec.jobs)))
    return outcome[0], outcome[1]


async def worker_pool(spec: ScaleSpec, fixture: Fixture) -> tuple[int, int]:
    """(d) Two workers per account pull jobs from one shared queue; a 429 is slept off and
    resent; a worker whose clone fails otherwise stops (its job fails), so a dead account
    does not burn through the queue."""
    pending = iter(range(spec.jobs))
    outcome = [0, 0]
    async with _session(fixture) as session:

        async def worker(account: str) -> None:
            for job in pending:
                body = clone_body(fixture, job, account)
                try:
                    await raw_clone(session, fixture.clone_url, body)
                except RawCloneError:
                    outcome[1] += 1
                    return
                outcome[0] += 1

        await asyncio.gather(
            *(worker(a) for a in fixture.accounts for _ in range(SLOTS_PER_ACCOUNT))
        )
    # Jobs no worker was left to take.
    outcome[1] += sum(1 for _ in pending)
    return outcome[0], outcome[1]


CONTENDERS: Final[dict[str, tuple[str, Run]]] = {
    "clone_many_reuse": (
        "minimax_async: clone_many (sample bytes), reuse_uploads=True",
        clone_many_reuse,
    ),
    "clone_many": ("minimax_async: clone_many (sample bytes)", clone_many),
    "round_robin": ("(b) round-robin, Semaphore(2) per account", round_robin),
    "worker_pool": ("(d) shared queue, 2 workers per account", worker_pool),
}


# --------------------------------------------------------------------------- one run


async def _serve(spec: ScaleSpec, contender: str) -> dict[str, Any]:
    fake = FakeMiniMax(
        accounts=spec.account_ids,
        clone_latency=spec.latency,
        max_voices_per_account=spec.voices_per_account,
        seed=spec.seed,
    )
    for account in spec.single_accounts:
        fake.set_clone_limit(account, 1)
    runner = web.AppRunner(fake.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=_BACKLOG)
        await site.start()
        base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/minimax"
        accounts = spec.account_ids
        # The peers upload one sample per account beforehand (untimed); the library's jobs
        # carry the sample's bytes and upload inside the timed run.
        peer = contender not in ("clone_many", "clone_many_reuse")
        file_ids = await upload_samples(base_url, fake.token, accounts) if peer else {}
        fixture = Fixture(base_url, fake.token, accounts, file_ids)
        loop = asyncio.get_running_loop()
        for account in spec.sick_accounts:
            loop.call_later(spec.sick_after, fake.set_account_status, account, 596)
        _, run = CONTENDERS[contender]
        started, wall, cpu = loop.time(), time.perf_counter(), time.process_time()
        done, failed = await run(spec, fixture)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        seconds = loop.time() - started
        spans: list[CloneSpan] = fake.record.clone_spans
        return {
            "seconds": seconds,
            "latencies": [span.seconds for span in spans],
            "done": done,
            "failed": failed,
            "rejected_429": fake.record.rejected_over_capacity,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
        }
    finally:
        await runner.cleanup()


def _child(spec: ScaleSpec, contender: str) -> dict[str, Any]:
    import looptime  # the bench group's; imported here so the module loads without it

    loop = looptime.new_event_loop(start=0, noop_cycles=_NOOP_CYCLES)
    try:
        outcome = loop.run_until_complete(_serve(spec, contender))
    finally:
        loop.close()
    outcome["peak_rss"] = peak_rss_bytes()
    return outcome


def run_one(spec: ScaleSpec, contender: str) -> ScaleResult:
    """Run one contender on one experiment, in a spawned process of its own."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        outcome: dict[str, Any] = pool.apply(_child, (spec, contender))
    latencies: list[float] = outcome.pop("latencies")
    rng = random.Random(spec.seed)
    drawn = [rng.uniform(*spec.latency) for _ in range(spec.jobs)]
    if spec.sick or spec.single:
        bound = spec.healthy_bound(latencies)
    else:
        bound = lower_bound(latencies, spec.accounts, SLOTS_PER_ACCOUNT)
    return ScaleResult(
        spec_key=spec.key,
        contender=contender,
        label=CONTENDERS[contender][0],
        bound=bound,
        list_schedule=simulate(drawn, spec.accounts, SLOTS_PER_ACCOUNT, static=False),
        static_schedule=simulate(drawn, spec.accounts, SLOTS_PER_ACCOUNT, static=True),
        limited_schedule=simulate_within_limits(spec, drawn),
        **outcome,
    )


def run_realscale(
    specs: Sequence[ScaleSpec], progress: Callable[[str], None] = print
) -> list[ScaleResult]:
    """Run every contender of every experiment once (virtual time is deterministic up to
    the order in which ready sockets are served; the spread is reported by repeating the
    whole benchmark)."""
    results: list[ScaleResult] = []
    for spec in specs:
        progress(f"  {spec.title}")
        for contender in spec.contenders:
            result = run_one(spec, contender)
            progress(
                f"    {result.label}: {result.seconds:,.0f} s virtual / bound "
                f"{result.bound:,.0f} s = {result.ratio:.3f}; done {result.done}, failed "
                f"{result.failed}, 429s {result.rejected_429}; CPU "
                f"{result.cpu_per_job_ms:.2f} ms/job, {result.wall_seconds:.1f} s real, "
                f"peak RSS {result.peak_rss / 2**20:.0f} MiB"
            )
            results.append(result)
    return results


def render_realscale(specs: Sequence[ScaleSpec], results: Sequence[ScaleResult]) -> list[str]:
    """The results section of benchmark 7."""
    lines = [
        "## 7. Real scale in virtual time",
        "",
        "The real client against the real fake server, clone times drawn 10-60 s, on a "
        "virtual clock (looptime): hours of server time in seconds. Makespan is virtual "
        "seconds; CPU and memory are real, of one process holding client and fake server "
        "together (so compare them between rows, not with benchmark 2). 'zero-overhead "
        "shared queue' and 'round-robin' simulate clients with no overhead at all on the "
        "same draws, without voice limits or faults; 'zero-overhead within the limits' is "
        "the shared queue kept to the experiment's voice slots, single-clone accounts and "
        "holds: the best that a client which learns a clone's time only when it ends can "
        "expect (a clone's time is unknown before it runs, so no placement can choose jobs "
        "by length).",
        "",
    ]
    for spec in specs:
        rows = [r for r in results if r.spec_key == spec.key]
        if not rows:
            continue
        sim = rows[0]
        lines += [
            f"### {spec.title}",
            "",
            f"Bound {sim.bound:,.1f} s"
            + (" (what the healthy capacity allows)" if spec.sick or spec.single else "")
            + f"; zero-overhead shared queue {sim.list_schedule:,.1f} s "
            f"({sim.list_schedule / sim.bound:.3f}), zero-overhead round-robin "
            f"{sim.static_schedule:,.1f} s ({sim.static_schedule / sim.bound:.3f}), "
            f"zero-overhead within the limits {sim.limited_schedule:,.1f} s "
            f"({sim.limited_schedule / sim.bound:.3f}).",
            "",
            "| contender | makespan (virtual s) | / bound | done | failed | 429s "
            "| CPU ms/job | real s | peak RSS MiB |",
            "| --- | --: | --: | --: | --: | --: | --: | --: | --: |",
        ]
        lines += [
            f"| {r.label} | {r.seconds:,.1f} | {r.ratio:.3f} | {r.done:,} | {r.failed:,} "
            f"| {r.rejected_429:,} | {r.cpu_per_job_ms:.2f} | {r.wall_seconds:.1f} "
            f"| {r.peak_rss / 2**20:.0f} |"
            for r in rows
        ]
        lines.append("")
    return lines
