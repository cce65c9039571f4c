"""Benchmark 3: resident memory per clone job queued behind a held server.

Each contender runs in a fresh spawned process, so that its RSS and peak RSS are its own.
The fake server (another process) holds every clone at its gate. The contender first warms
up (one clone per account, gate open: connections made, voice counts learned), builds its
N requests (the input data: its cost is reported apart), takes the baseline RSS, then starts
all N jobs and waits until every job is queued (2K in flight at the gate, N - 2K waiting). The
RSS then, less the baseline, divided by N, is the memory per queued job. Then every job is
cancelled and the contender checks that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Final

import aiohttp
import attrs

from minimax_async import MAX_PARALLEL_CLONES_PER_ACCOUNT, Client, CloneVoiceRequest, VoiceJob

from ._common import (
    LANGUAGE,
    Fixture,
    clone_body,
    peak_rss_bytes,
    raw_clone,
    rss_bytes,
    upload_samples,
    voice_name,
)
from ._server import CLIENT_CPU, ServerConfig, ServerProcess, pin_to_cpu, run_driven_child

__all__ = ["MemoryResult", "run_memory"]

_FIRST_ACCOUNT: Final = 100_001
_SLOTS: Final = MAX_PARALLEL_CLONES_PER_ACCOUNT
_POLL: Final = 0.05
_TIMEOUT: Final = 600.0


@attrs.frozen(kw_only=True)
class MemoryResult:
    """One contender's memory with ``jobs`` queued."""

    key: str
    label: str
    jobs: int
    input_bytes_per_job: float
    bytes_per_queued_job: float
    baseline_rss: int
    queued_rss: int
    peak_rss: int
    queue_seconds: float
    released: bool


def _client(fixture: Fixture, jobs: int) -> Client:
    return Client(
        token=fixture.token,
        base_url=fixture.base_url,
        accounts=fixture.accounts,
        max_voices_per_account=jobs + 10 * len(fixture.accounts),
    )


async def _warm_client(client: Client, fixture: Fixture) -> None:
    await asyncio.gather(
        *(
            client.clone_voice(CloneVoiceRequest(f"warm {a}", LANGUAGE, [fixture.file_ids[a]]))
            for a in fixture.accounts
        )
    )


class _Gather:
    """minimax_async: ``asyncio.gather`` of N ``clone_voice``."""

    key = "gather"
    label = "minimax_async: gather(clone_voice)"

    def __init__(self, fixture: Fixture, jobs: int) -> None:
        self.fixture = fixture
        self.client = _client(fixture, jobs)
        self.inputs: list[Any] = []

    async def warm(self) -> None:
        await _warm_client(self.client, self.fixture)

    def build(self, jobs: int) -> None:
        f = self.fixture
        self.inputs = [
            CloneVoiceRequest(voice_name(i), LANGUAGE, [f.file_ids[f.account_of(i)]])
            for i in range(jobs)
        ]

    def start(self) -> asyncio.Future[Any]:
        return asyncio.gather(*(self.client.clone_voice(r) for r in self.inputs))

    def queued(self) -> int:
        stats = self.client.clone_statistics()
        return stats.waiting + stats.in_flight

    async def close(self) -> None:
        await self.client.aclose()


class _CloneMany(_Gather):
    """minimax_async: ``clone_many`` of N jobs naming an uploaded file id."""

    key = "clone_many"
    label = "minimax_async: clone_many (file ids)"

    def build(self, jobs: int) -> None:
        f = self.fixture
        self.inputs = [
            VoiceJob(voice_name(i), LANGUAGE, [f.file_ids[f.account_of(i)]]) for i in range(jobs)
        ]

    def start(self) -> asyncio.Future[Any]:
        run = self.client.clone_many(self.inputs)

        async def drain() -> None:
            async with run as results:
                async for _ in results:
                    pass

        return asyncio.ensure_future(drain())


class _Semaphores:
    """(b) raw aiohttp, round-robin, a Semaphore(2) per account."""

    key = "round_robin"
    label = "(b) raw aiohttp, Semaphore(2) per account"

    def __init__(self, fixture: Fixture, jobs: int) -> None:
        self.fixture = fixture
        self.session: aiohttp.ClientSession | None = None
        self.inputs: list[Any] = []
        self.started = 0
        self.semaphores = {a: asyncio.Semaphore(_SLOTS) for a in fixture.accounts}

    async def warm(self) -> None:
        f = self.fixture
        self.session = aiohttp.ClientSession(headers=f.headers)
        await asyncio.gather(
            *(
                raw_clone(self.session, f.clone_url, clone_body(f, -1 - i, a))
                for i, a in enumerate(f.accounts)
            )
        )

    def build(self, jobs: int) -> None:
        # A user of this pattern needs no request objects; the job number is the input.
        self.inputs = list(range(jobs))

    async def _one(self, job: int) -> None:
        assert self.session is not None
        self.started += 1
        f = self.fixture
        async with self.semaphores[f.account_of(job)]:
            await raw_clone(self.session, f.clone_url, clone_body(f, job))

    def start(self) -> asyncio.Future[Any]:
        return asyncio.gather(*(self._one(job) for job in self.inputs))

    def queued(self) -> int:
        return self.started

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


_CONTENDERS: Final = {c.key: c for c in (_Gather, _CloneMany, _Semaphores)}


async def _measure(conn: Connection, fixture: Fixture, key: str, jobs: int) -> MemoryResult:
    contender = _CONTENDERS[key](fixture, jobs)
    await contender.warm()
    gc.collect()
    before_inputs = rss_bytes()
    contender.build(jobs)
    gc.collect()
    baseline = rss_bytes()
    conn.send("close gate")
    await asyncio.to_thread(conn.recv)
    started = time.perf_counter()
    task = contender.start()
    deadline = started + _TIMEOUT
    while contender.queued() < jobs:
        if task.done():
            task.result()
            raise RuntimeError("the jobs ended while the gate was closed")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {contender.queued()} of {jobs} jobs queued")
        await asyncio.sleep(_POLL)
    queue_seconds = time.perf_counter() - started
    conn.send("wait held")
    await asyncio.to_thread(conn.recv)  # the loop must run on: the held clones are ours
    await asyncio.sleep(_POLL)  # let the last callbacks run
    queued = rss_bytes()
    peak = peak_rss_bytes()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    released = not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    await contender.close()
    return MemoryResult(
        key=key,
        label=contender.label,
        jobs=jobs,
        input_bytes_per_job=(baseline - before_inputs) / jobs,
        bytes_per_queued_job=(queued - baseline) / jobs,
        baseline_rss=baseline,
        queued_rss=queued,
        peak_rss=peak,
        queue_seconds=queue_seconds,
        released=released,
    )


def _child(conn: Connection, fixture: Fixture, key: str, jobs: int) -> None:
    pin_to_cpu(CLIENT_CPU)
    try:
        conn.send(asyncio.run(_measure(conn, fixture, key, jobs)))
    except BaseException as exc:  # report it to the parent rather than die silently
        conn.send(RuntimeError(f"{key}: {type(exc).__name__}: {exc}"))


def run_one(key: str, jobs: int, accounts: int) -> MemoryResult:
    """One contender in a fresh process, against a fresh server holding every clone."""
    account_ids = tuple(str(_FIRST_ACCOUNT + i) for i in range(accounts))
    config = ServerConfig(
        accounts=account_ids, clone_latency=0.0, max_voices_per_account=jobs + 10 * accounts
    )
    with ServerProcess(config) as server:
        file_ids = asyncio.run(upload_samples(server.base_url, server.token, account_ids))
        fixture = Fixture(server.base_url, server.token, account_ids, file_ids)
        return run_driven_child(
            server,
            _child,
            (fixture, key, jobs),
            MemoryResult,
            label=f"memory {key}",
            held=_SLOTS * accounts,
        )


def run_memory(
    jobs: int, accounts: int, progress: Callable[[str], None] = print
) -> list[MemoryResult]:
    """Every contender with ``jobs`` queued over ``accounts`` accounts."""
    results = []
    for key in _CONTENDERS:
        result = run_one(key, jobs, accounts)
        progress(
            f"  {result.label}: {result.bytes_per_queued_job:,.0f} B per queued job, "
            f"peak RSS {result.peak_rss / 2**20:,.1f} MiB, queued in {result.queue_seconds:.1f} s"
        )
        results.append(result)
    return results
