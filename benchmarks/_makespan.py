"""Benchmarks 1 and 5: makespan of N clones over K accounts against its lower bound.

Every contender does the same work against a fresh fake server started with the same seed:
one sample uploaded per account beforehand (untimed), then N clone requests, each to the
account it is assigned. The fake server draws each admitted clone's latency from
``random.Random(seed).uniform(low, high)`` in admission order, and a 429 draws nothing, so
every contender is drawn the same N latencies: the first N draws of that generator
(:func:`served_latencies` repeats the draw).

What the server actually serves is a little longer: its sleep ends on the event loop's next
timer tick (epoll waits in whole milliseconds), about 1 ms late per clone. The server records
each admitted clone's in-flight span (``record.clone_spans``: admission to finish, by its
monotonic clock), and the bound of a run is computed from those: the latencies actually
served. Each run is checked to have admitted exactly N clones, N voices created. The bound
of the drawn latencies is reported beside it.

The lower bound of the makespan with ``c`` clone slots per account is
``max(sum(latencies) / (c * K), max(latencies))``.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import aiometer
import attrs

import minimax_async
from minimax_async import Client, CloneVoiceRequest, RetryPolicy, VoiceJob
from minimax_async.testing import CloneSpan, make_wav

from ._common import (
    LANGUAGE,
    SAMPLE_SECONDS,
    Fixture,
    clone_body,
    raw_clone,
    upload_samples,
    voice_name,
)
from ._server import ServerConfig, ServerProcess, ServerSnapshot

__all__ = [
    "CONTENDERS",
    "Contender",
    "MakespanResult",
    "MakespanSpec",
    "lower_bound",
    "run_makespan",
    "served_latencies",
    "simulate",
]

#: Clone slots per account on the real API.
SLOTS_PER_ACCOUNT: Final = minimax_async.MAX_PARALLEL_CLONES_PER_ACCOUNT
#: First account id of the benchmark accounts.
_FIRST_ACCOUNT: Final = 100_001


@attrs.frozen(kw_only=True)
class MakespanSpec:
    """One makespan experiment.

    Attributes:
        jobs: N, the clone requests.
        accounts: K, the accounts.
        latency: The ``(low, high)`` seconds of the seeded uniform clone latency.
        seed: The fake server's seed.
        server_slots: Clones the server runs at once per account (more answer 429).
        retry_after: The ``Retry-After`` seconds of the server's 429.
        repeats: Runs per contender (the median is reported).
    """

    jobs: int
    accounts: int
    latency: tuple[float, float]
    seed: int = 2025
    server_slots: int = SLOTS_PER_ACCOUNT
    retry_after: float = 1.0
    repeats: int = 1

    @property
    def account_ids(self) -> tuple[str, ...]:
        """The fake accounts."""
        return tuple(str(_FIRST_ACCOUNT + i) for i in range(self.accounts))

    def server_config(self) -> ServerConfig:
        """The fake server of this experiment (voice slots raised to N)."""
        return ServerConfig(
            accounts=self.account_ids,
            clone_latency=self.latency,
            max_voices_per_account=self.jobs,
            max_parallel_clones=self.server_slots,
            seed=self.seed,
            retry_after=self.retry_after,
        )


def served_latencies(spec: MakespanSpec) -> list[float]:
    """The N clone latencies the fake server serves, drawn the way it draws them
    (``ServerState.clone_delay``: one ``uniform(low, high)`` per admitted clone)."""
    rng = random.Random(spec.seed)
    low, high = spec.latency
    return [rng.uniform(low, high) for _ in range(spec.jobs)]


def lower_bound(latencies: Sequence[float], accounts: int, slots: int) -> float:
    """No schedule of these clones on ``accounts`` x ``slots`` runners ends sooner."""
    return max(sum(latencies) / (slots * accounts), max(latencies))


def simulate(latencies: Sequence[float], accounts: int, slots: int, *, static: bool) -> float:
    """The makespan of a zero-overhead client, clones served in the server's draw order.

    ``static``: job ``i`` belongs to account ``i % K`` and each account runs its own jobs
    (round-robin placement, what pinned clone requests get); otherwise every freed slot takes
    the next job, whatever its account (list scheduling, what a shared queue gets). Each
    admitted clone takes the next latency of the sequence, as the fake server draws them.
    """
    draws = iter(latencies)
    jobs = len(latencies)
    left = [len(range(a, jobs, accounts)) for a in range(accounts)] if static else [jobs]
    running: list[tuple[float, int]] = []
    for account in range(accounts):
        for _ in range(slots):
            queue = account if static else 0
            if left[queue]:
                left[queue] -= 1
                heapq.heappush(running, (next(draws), account))
    end = 0.0
    while running:
        end, account = heapq.heappop(running)
        queue = account if static else 0
        if left[queue]:
            left[queue] -= 1
            heapq.heappush(running, (end + next(draws), account))
    return end


#: A contender: runs all N clones of a spec against a fixture.
Run = Callable[[MakespanSpec, Fixture], Awaitable[None]]


@attrs.frozen
class Contender:
    """One way to run the N clones.

    Attributes:
        key: Short id (``--only`` and the results table).
        label: What the table calls it.
        run: The coroutine function.
        library: Whether it is minimax_async (as opposed to a hand-written peer).
        note: What differs in its work or its handling, if anything.
        same_work: Whether it does exactly the peers' work (one upload per account, then
            N clones); the headline compares only these.
        in_issue: For a peer: whether the issue names it ((a)-(c)).
        floor: Not a client anyone would use, but a measure of the harness: what a client
            that does almost no work reaches on this machine and this fake server.
    """

    key: str
    label: str
    run: Run
    library: bool
    note: str = ""
    same_work: bool = True
    in_issue: bool = True
    floor: bool = False


@attrs.frozen(kw_only=True)
class MakespanResult:
    """The median run (by makespan / bound) of one contender.

    Attributes:
        bound: The lower bound from the latencies the server served in that run, as it
            measured them (each clone's in-flight span, timer overshoot included).
        drawn_bound: The lower bound from the latencies drawn (the same for every run).
        runs: Makespan / bound of every run, sorted.
        head_seconds: From the client's start to the first clone admitted (median run).
        handoff_seconds: Mean idle time of a clone slot between clones (median run).
    """

    contender: Contender
    jobs: int
    seconds: float
    bound: float
    drawn_bound: float
    runs: tuple[float, ...]
    head_seconds: float
    handoff_seconds: float
    clone_requests: int
    rejected_429: int
    max_in_flight_per_account: int
    client_cpu_seconds: float

    @property
    def ratio(self) -> float:
        """Makespan / lower bound (of the latencies served)."""
        return self.seconds / self.bound

    @property
    def drawn_ratio(self) -> float:
        """Makespan / lower bound of the latencies drawn."""
        return self.seconds / self.drawn_bound


# --------------------------------------------------------------------------- minimax_async


def _client(spec: MakespanSpec, fixture: Fixture, **options: Any) -> Client:
    return Client(
        token=fixture.token,
        base_url=fixture.base_url,
        accounts=fixture.accounts,
        max_voices_per_account=spec.jobs,
        retry=RetryPolicy(attempts=100),
        **options,
    )


def _requests(spec: MakespanSpec, fixture: Fixture) -> list[CloneVoiceRequest]:
    return [
        CloneVoiceRequest(voice_name(i), LANGUAGE, [fixture.file_ids[fixture.account_of(i)]])
        for i in range(spec.jobs)
    ]


async def minimax_gather(spec: MakespanSpec, fixture: Fixture) -> None:
    """``asyncio.gather`` of one ``clone_voice`` per job (each pinned by its file id)."""
    requests = _requests(spec, fixture)
    async with _client(spec, fixture) as client:
        await asyncio.gather(*(client.clone_voice(r) for r in requests))


async def minimax_gather_cap1(spec: MakespanSpec, fixture: Fixture) -> None:
    """As :func:`minimax_gather`, with ``Client(max_parallel_clones=1)``."""
    requests = _requests(spec, fixture)
    async with _client(spec, fixture, max_parallel_clones=1) as client:
        await asyncio.gather(*(client.clone_voice(r) for r in requests))


async def minimax_gather_lower_cap_at_once(spec: MakespanSpec, fixture: Fixture) -> None:
    """As :func:`minimax_gather`, with ``Client(lower_cap_after=1)``: the first 429 at two
    clones in flight lowers the account's cap to one."""
    requests = _requests(spec, fixture)
    async with _client(spec, fixture, lower_cap_after=1) as client:
        await asyncio.gather(*(client.clone_voice(r) for r in requests))


async def _drain_clone_many(client: Client, jobs: list[VoiceJob]) -> None:
    async with client.clone_many(jobs) as results:
        async for result in results:
            if result.error is not None:
                raise result.error


async def minimax_clone_many(spec: MakespanSpec, fixture: Fixture) -> None:
    """``clone_many`` of jobs naming the uploaded file id of their round-robin account."""
    jobs = [
        VoiceJob(voice_name(i), LANGUAGE, [fixture.file_ids[fixture.account_of(i)]])
        for i in range(spec.jobs)
    ]
    async with _client(spec, fixture) as client:
        await _drain_clone_many(client, jobs)


async def minimax_clone_many_reuse(spec: MakespanSpec, fixture: Fixture) -> None:
    """``clone_many`` of jobs holding the sample's bytes, ``Client(reuse_uploads=True)``: the
    client places each job on the least-loaded account and uploads the sample there only the
    first time (one upload per account, inside the timed run)."""
    sample = make_wav(SAMPLE_SECONDS)
    jobs = [VoiceJob(voice_name(i), LANGUAGE, sample) for i in range(spec.jobs)]
    async with _client(spec, fixture, reuse_uploads=True) as client:
        await _drain_clone_many(client, jobs)


async def minimax_clone_many_unpinned(spec: MakespanSpec, fixture: Fixture) -> None:
    """``clone_many`` of jobs holding the sample's bytes: the client places each job on the
    least-loaded account and uploads it there (one extra upload per job)."""
    sample = make_wav(SAMPLE_SECONDS)
    jobs = [VoiceJob(voice_name(i), LANGUAGE, sample) for i in range(spec.jobs)]
    async with _client(spec, fixture) as client:
        await _drain_clone_many(client, jobs)


# --------------------------------------------------------------------------- the peers


def _session(fixture: Fixture) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers=fixture.headers, connector=aiohttp.TCPConnector(limit=100))


async def global_semaphore(spec: MakespanSpec, fixture: Fixture) -> None:
    """(a) One ``asyncio.Semaphore(2)`` around every clone; accounts round-robin."""
    semaphore = asyncio.Semaphore(SLOTS_PER_ACCOUNT)
    async with _session(fixture) as session:

        async def one(job: int) -> None:
            async with semaphore:
                await raw_clone(session, fixture.clone_url, clone_body(fixture, job))

        await asyncio.gather(*(one(i) for i in range(spec.jobs)))


async def round_robin_semaphores(spec: MakespanSpec, fixture: Fixture) -> None:
    """(b) Jobs dealt round-robin to accounts; an ``asyncio.Semaphore(2)`` per account."""
    semaphores = {a: asyncio.Semaphore(SLOTS_PER_ACCOUNT) for a in fixture.accounts}
    async with _session(fixture) as session:

        async def one(job: int) -> None:
            async with semaphores[fixture.account_of(job)]:
                await raw_clone(session, fixture.clone_url, clone_body(fixture, job))

        await asyncio.gather(*(one(i) for i in range(spec.jobs)))


async def aiometer_round_robin(spec: MakespanSpec, fixture: Fixture) -> None:
    """(c) ``aiometer.run_all(max_at_once=2K)``; jobs dealt round-robin to accounts.
    A 429 is slept off (``Retry-After``) and sent again, holding its aiometer slot."""
    async with _session(fixture) as session:

        async def one(job: int) -> None:
            await raw_clone(session, fixture.clone_url, clone_body(fixture, job))

        await aiometer.run_all(
            [functools.partial(one, i) for i in range(spec.jobs)],
            max_at_once=SLOTS_PER_ACCOUNT * len(fixture.accounts),
        )


async def worker_pool(spec: MakespanSpec, fixture: Fixture) -> None:
    """(d) Two workers per account pull jobs from one shared queue (dynamic placement)."""
    pending = iter(range(spec.jobs))
    async with _session(fixture) as session:

        async def worker(account: str) -> None:
            for job in pending:
                await raw_clone(session, fixture.clone_url, clone_body(fixture, job, account))

        await asyncio.gather(
            *(worker(a) for a in fixture.accounts for _ in range(SLOTS_PER_ACCOUNT))
        )


async def raw_sockets(spec: MakespanSpec, fixture: Fixture) -> None:
    """(e) The harness floor: (d)'s shared queue on bare asyncio streams.

    Each worker keeps one HTTP/1.1 connection, writes the request bytes it formats itself
    and reads the answer by its Content-Length, with no HTTP library at all: no TLS, no
    timeouts, no error handling, nothing a real client needs. What it loses to the bound is
    what this machine, loopback and the fake server's own request handling cost.
    """
    url = urlsplit(fixture.clone_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: {fixture.headers['Authorization']}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    pending = iter(range(spec.jobs))

    async def worker(account: str) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for job in pending:
                body = clone_body(fixture, job, account)
                writer.write(b"%s%d\r\n\r\n%s" % (head, len(body), body))
                answer_head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in answer_head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                answer = await reader.readexactly(length)
                if answer_head[9:12] != b"200":
                    raise RuntimeError(f"HTTP {answer_head[9:12].decode()}: {answer[:200]!r}")
                json.loads(answer)
        finally:
            writer.close()

    await asyncio.gather(*(worker(a) for a in fixture.accounts for _ in range(SLOTS_PER_ACCOUNT)))


CONTENDERS: Final = (
    Contender("gather", "minimax_async: gather(clone_voice)", minimax_gather, True),
    Contender("clone_many", "minimax_async: clone_many (file ids)", minimax_clone_many, True),
    Contender(
        "clone_many_reuse",
        "minimax_async: clone_many (sample bytes), Client(reuse_uploads=True)",
        minimax_clone_many_reuse,
        True,
        "the client picks each job's account; K uploads inside the timed run",
    ),
    Contender(
        "clone_many_unpinned",
        "minimax_async: clone_many (sample bytes)",
        minimax_clone_many_unpinned,
        True,
        "+1 upload per job; the client picks each job's account",
        same_work=False,
    ),
    Contender("global_semaphore", "(a) global Semaphore(2)", global_semaphore, False),
    Contender(
        "round_robin", "(b) round-robin, Semaphore(2) per account", round_robin_semaphores, False
    ),
    Contender(
        "aiometer",
        "(c) aiometer.run_all(max_at_once=2K)",
        aiometer_round_robin,
        False,
        "429s slept off (Retry-After) and resent",
    ),
    Contender(
        "worker_pool",
        "(d) shared queue, 2 workers per account",
        worker_pool,
        False,
        "not in the issue: the strongest hand-written peer",
        in_issue=False,
    ),
    Contender(
        "raw_sockets",
        "(e) floor: (d) on bare asyncio streams, no HTTP library",
        raw_sockets,
        False,
        "not a usable client (no TLS, timeouts or errors): what the harness allows",
        in_issue=False,
        floor=True,
    ),
)

BACKPRESSURE_CONTENDERS: Final = (
    Contender(
        "gather", "minimax_async: gather(clone_voice), cap 2 (default)", minimax_gather, True
    ),
    Contender(
        "gather_lower_cap_after_1",
        "minimax_async: gather(clone_voice), Client(lower_cap_after=1)",
        minimax_gather_lower_cap_at_once,
        True,
        "cap lowered to 1 at the first 429 (default: the third)",
    ),
    Contender(
        "gather_cap1",
        "minimax_async: gather(clone_voice), Client(max_parallel_clones=1)",
        minimax_gather_cap1,
        True,
        "told the account's real limit",
    ),
    Contender(
        "round_robin",
        "(b) round-robin, Semaphore(2) per account",
        round_robin_semaphores,
        False,
        "429s slept off (Retry-After) and resent",
    ),
)


@attrs.frozen
class TimedRun:
    """One timed run.

    Attributes:
        seconds: The makespan, as the client measured it.
        snapshot: The server's record.
        cpu_seconds: The client process's CPU time.
        started: ``time.monotonic()`` when the client started (the server's clone spans
            are on the same clock: one machine, one monotonic clock).
    """

    seconds: float
    snapshot: ServerSnapshot
    cpu_seconds: float
    started: float


async def _timed(
    spec: MakespanSpec, server: ServerProcess, contender: Contender
) -> tuple[float, float]:
    file_ids = await upload_samples(server.base_url, server.token, server.accounts)
    fixture = Fixture(server.base_url, server.token, tuple(server.accounts), file_ids)
    started, clock = time.monotonic(), time.perf_counter()
    await contender.run(spec, fixture)
    return started, time.perf_counter() - clock


def run_once(spec: MakespanSpec, contender: Contender) -> TimedRun:
    """One run on a fresh server."""
    with ServerProcess(spec.server_config()) as server:
        cpu = time.process_time()
        started, seconds = asyncio.run(_timed(spec, server, contender))
        cpu = time.process_time() - cpu
        snapshot = server.snapshot()
    if snapshot.voices_created != spec.jobs or len(snapshot.clone_spans) != spec.jobs:
        raise RuntimeError(
            f"{contender.key}: the server created {snapshot.voices_created} voices in "
            f"{len(snapshot.clone_spans)} admitted clones, not {spec.jobs}; the served "
            "latencies are not the first N draws"
        )
    return TimedRun(seconds, snapshot, cpu, started)


def measured_bound(run: TimedRun, spec: MakespanSpec) -> float:
    """The lower bound of the latencies the server served, as it measured them."""
    spans = run.snapshot.clone_spans
    return lower_bound([span.seconds for span in spans], spec.accounts, spec.server_slots)


def handoff_seconds(run: TimedRun, spec: MakespanSpec) -> float:
    """Mean time a clone slot stood empty between one clone and the next on its account,
    as the server saw it: client overhead, both directions of loopback, and the server's own
    request handling. (The sum of each account's admissions after its first ``c``, less the
    sum of its finishes before its last ``c``: exact whatever the pairing.)"""
    by_account: dict[str, list[CloneSpan]] = {}
    for span in run.snapshot.clone_spans:
        by_account.setdefault(span.account, []).append(span)
    slots = spec.server_slots
    total, count = 0.0, 0
    for spans in by_account.values():
        starts = sorted(span.started for span in spans)[slots:]
        finishes = sorted(span.finished for span in spans)[: len(starts)]
        total += sum(starts) - sum(finishes)
        count += len(starts)
    return total / count if count else 0.0


def head_seconds(run: TimedRun) -> float:
    """From the client's start to the first clone the server admitted."""
    first = min((span.started for span in run.snapshot.clone_spans), default=run.started)
    return first - run.started


def run_makespan(
    spec: MakespanSpec,
    contenders: Sequence[Contender],
    progress: Callable[[str], None] = print,
    job_limits: dict[str, int] | None = None,
    repeat_limits: dict[str, int] | None = None,
) -> list[MakespanResult]:
    """Run every contender ``spec.repeats`` times; return the median runs.

    Args:
        spec: The experiment.
        contenders: Who runs it.
        progress: Where to report each run.
        job_limits: Run these contenders (by key) on fewer jobs (the bound follows N).
        repeat_limits: Run these contenders (by key) fewer times.
    """
    results: list[MakespanResult] = []
    for contender in contenders:
        limit = (job_limits or {}).get(contender.key, spec.jobs)
        repeats = (repeat_limits or {}).get(contender.key, spec.repeats)
        own = attrs.evolve(spec, jobs=min(limit, spec.jobs), repeats=min(repeats, spec.repeats))
        drawn = lower_bound(served_latencies(own), own.accounts, own.server_slots)
        runs = [run_once(own, contender) for _ in range(own.repeats)]
        runs.sort(key=lambda run: run.seconds / measured_bound(run, own))
        median = runs[len(runs) // 2]
        seconds, snapshot, cpu = median.seconds, median.snapshot, median.cpu_seconds
        bound = measured_bound(median, own)
        result = MakespanResult(
            contender=contender,
            jobs=own.jobs,
            seconds=seconds,
            bound=bound,
            drawn_bound=drawn,
            runs=tuple(run.seconds / measured_bound(run, own) for run in runs),
            head_seconds=head_seconds(median),
            handoff_seconds=handoff_seconds(median, own),
            clone_requests=snapshot.requests.get("clone-voice", 0),
            rejected_429=snapshot.rejected_over_capacity,
            max_in_flight_per_account=max(snapshot.max_clones_in_flight.values(), default=0),
            client_cpu_seconds=cpu,
        )
        progress(
            f"  {contender.label}: {seconds:.3f} s / bound {bound:.3f} s = {result.ratio:.3f}"
            f" (drawn-latency bound: {result.drawn_ratio:.3f}; 429s: {result.rejected_429}; "
            f"runs: {', '.join(f'{r:.3f}' for r in result.runs)})"
        )
        results.append(result)
    return results
