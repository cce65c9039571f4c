"""Benchmark 2: client CPU time per clone request, at zero server latency.

The fake server runs in its own process (on its own core), so ``time.process_time()`` of
this process is the client's CPU alone. Every contender sends the same requests (the JSON
body minimax_async sends, to the same accounts) with the same concurrency (two requests in
flight per account) over one reused connection pool, and parses each JSON answer:

* raw aiohttp: two worker loops per account, one ``aiohttp.ClientSession``;
* httpx: the same loops on one ``httpx.AsyncClient``;
* minimax_async, ``gather``: ``asyncio.gather`` of one ``clone_voice`` per request, the
  library's intended use (its queue holds the requests not yet sent);
* minimax_async, loops: the raw loops calling ``clone_voice`` instead, which leaves out the
  cost of holding every request in the queue at once;
* minimax_async, ``clone_many``: jobs naming the account's uploaded file id.

Each run starts a fresh server, warms every connection and the client's voice counts up with
one untimed round, then times N requests. Runs of the contenders alternate, so that load from
elsewhere on the machine falls on all of them alike; the median run is reported.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import aiohttp
import attrs
import httpx

from minimax_async import MAX_PARALLEL_CLONES_PER_ACCOUNT, Client, CloneVoiceRequest, VoiceJob

from ._common import LANGUAGE, Fixture, clone_body, median, raw_clone, upload_samples, voice_name
from ._server import ServerConfig, ServerProcess

__all__ = ["CONTENDERS", "OverheadResult", "OverheadSpec", "run_overhead"]

_FIRST_ACCOUNT: Final = 100_001
_SLOTS: Final = MAX_PARALLEL_CLONES_PER_ACCOUNT
_JSON_TYPE: Final = {"Content-Type": "application/json"}


@attrs.frozen(kw_only=True)
class OverheadSpec:
    """One overhead experiment: ``requests`` timed clones over ``accounts`` accounts."""

    requests: int
    accounts: int
    repeats: int

    @property
    def account_ids(self) -> tuple[str, ...]:
        """The fake accounts."""
        return tuple(str(_FIRST_ACCOUNT + i) for i in range(self.accounts))


@attrs.frozen(kw_only=True)
class OverheadResult:
    """CPU microseconds per request of one contender (median run)."""

    key: str
    label: str
    accounts: int
    requests: int
    micros_per_request: float
    runs: tuple[float, ...]
    wall_seconds: float


#: Runs ``count`` clones numbered from ``first``; the first call of a session is the warm-up.
Batch = Callable[[int, int], Awaitable[None]]
#: Opens the contender's session on a fixture and returns its batch runner and its closer.
Opener = Callable[[Fixture, int], Awaitable[tuple[Batch, Callable[[], Awaitable[None]]]]]


def _loops(
    fixture: Fixture, first: int, count: int, one: Callable[[int, str], Awaitable[Any]]
) -> Awaitable[list[None]]:
    """Two worker loops per account over jobs ``first .. first+count`` (dealt round-robin)."""
    accounts = fixture.accounts

    async def worker(account_index: int, lane: int) -> None:
        stride = len(accounts) * _SLOTS
        start = account_index + lane * len(accounts)
        for job in range(first + start, first + count, stride):
            await one(job, accounts[account_index])

    return asyncio.gather(
        *(worker(a, lane) for a in range(len(accounts)) for lane in range(_SLOTS))
    )


async def _open_aiohttp(fixture: Fixture, n: int) -> tuple[Batch, Callable[[], Awaitable[None]]]:
    session = aiohttp.ClientSession(
        headers=fixture.headers, connector=aiohttp.TCPConnector(limit=100)
    )
    url = fixture.clone_url

    async def one(job: int, account: str) -> None:
        await raw_clone(session, url, clone_body(fixture, job, account))

    async def batch(first: int, count: int) -> None:
        await _loops(fixture, first, count, one)

    return batch, session.close


async def _open_httpx(fixture: Fixture, n: int) -> tuple[Batch, Callable[[], Awaitable[None]]]:
    client = httpx.AsyncClient(
        headers=fixture.headers,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )
    url = fixture.clone_url

    async def one(job: int, account: str) -> None:
        response = await client.post(
            url, content=clone_body(fixture, job, account), headers=_JSON_TYPE
        )
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        json.loads(response.content)

    async def batch(first: int, count: int) -> None:
        await _loops(fixture, first, count, one)

    return batch, client.aclose


def _client(fixture: Fixture, n: int) -> Client:
    return Client(
        token=fixture.token,
        base_url=fixture.base_url,
        accounts=fixture.accounts,
        max_voices_per_account=n,
    )


def _request(fixture: Fixture, job: int, account: str) -> CloneVoiceRequest:
    return CloneVoiceRequest(voice_name(job), LANGUAGE, [fixture.file_ids[account]])


async def _open_gather(fixture: Fixture, n: int) -> tuple[Batch, Callable[[], Awaitable[None]]]:
    client = _client(fixture, n)

    async def batch(first: int, count: int) -> None:
        await asyncio.gather(
            *(
                client.clone_voice(_request(fixture, job, fixture.account_of(job)))
                for job in range(first, first + count)
            )
        )

    return batch, client.aclose


async def _open_loops(fixture: Fixture, n: int) -> tuple[Batch, Callable[[], Awaitable[None]]]:
    client = _client(fixture, n)

    async def one(job: int, account: str) -> None:
        await client.clone_voice(_request(fixture, job, account))

    async def batch(first: int, count: int) -> None:
        await _loops(fixture, first, count, one)

    return batch, client.aclose


async def _open_clone_many(fixture: Fixture, n: int) -> tuple[Batch, Callable[[], Awaitable[None]]]:
    client = _client(fixture, n)

    async def batch(first: int, count: int) -> None:
        jobs = [
            VoiceJob(voice_name(job), LANGUAGE, [fixture.file_ids[fixture.account_of(job)]])
            for job in range(first, first + count)
        ]
        async with client.clone_many(jobs) as results:
            async for result in results:
                if result.error is not None:
                    raise result.error

    return batch, client.aclose


#: (key, label, opener); the first is the baseline of the ratios.
CONTENDERS: Final[tuple[tuple[str, str, Opener], ...]] = (
    ("aiohttp", "raw aiohttp loop (baseline)", _open_aiohttp),
    ("httpx", "httpx.AsyncClient loop", _open_httpx),
    ("gather", "minimax_async: gather(clone_voice)", _open_gather),
    ("loops", "minimax_async: clone_voice in the same loops", _open_loops),
    ("clone_many", "minimax_async: clone_many (file ids)", _open_clone_many),
)


async def _measure(
    server: ServerProcess, spec: OverheadSpec, opener: Opener
) -> tuple[float, float]:
    file_ids = await upload_samples(server.base_url, server.token, server.accounts)
    fixture = Fixture(server.base_url, server.token, tuple(server.accounts), file_ids)
    warm_up = 4 * _SLOTS * spec.accounts
    batch, close = await opener(fixture, warm_up + spec.requests)
    try:
        await batch(0, warm_up)
        cpu, wall = time.process_time(), time.perf_counter()
        await batch(warm_up, spec.requests)
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await close()


def run_overhead(
    spec: OverheadSpec,
    progress: Callable[[str], None] = print,
    *,
    only: Sequence[str] | None = None,
    httpx_requests: int | None = None,
) -> list[OverheadResult]:
    """Run every contender ``spec.repeats`` times, alternating; report the median runs.

    Args:
        spec: The experiment.
        progress: Where to report.
        only: Keys of the contenders to run (default all).
        httpx_requests: Fewer requests for httpx, whose pool costs milliseconds each.
    """
    contenders = [c for c in CONTENDERS if only is None or c[0] in only]
    runs: dict[str, list[tuple[float, float]]] = {key: [] for key, _, _ in contenders}
    sizes = {key: spec.requests for key, _, _ in contenders}
    if httpx_requests is not None:
        sizes["httpx"] = min(spec.requests, httpx_requests)
    for _ in range(spec.repeats):
        for key, _, opener in contenders:
            own = attrs.evolve(spec, requests=sizes[key])
            config = ServerConfig(
                accounts=spec.account_ids,
                clone_latency=0.0,
                max_voices_per_account=own.requests + 4 * _SLOTS * spec.accounts,
            )
            with ServerProcess(config) as server:
                runs[key].append(asyncio.run(_measure(server, own, opener)))
    results = []
    for key, label, _ in contenders:
        n = sizes[key]
        cpu_runs = sorted(cpu for cpu, _ in runs[key])
        wall = median([w for _, w in runs[key]])
        per_request = median(cpu_runs) / n * 1e6
        results.append(
            OverheadResult(
                key=key,
                label=label,
                accounts=spec.accounts,
                requests=n,
                micros_per_request=per_request,
                runs=tuple(c / n * 1e6 for c in cpu_runs),
                wall_seconds=wall,
            )
        )
        progress(
            f"  K={spec.accounts} {label}: {per_request:.0f} us CPU per request"
            f" (runs: {', '.join(f'{r / n * 1e6:.0f}' for r in cpu_runs)})"
        )
    return results
