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

One server serves every contender, each over its own session. Each contender first runs one
untimed batch of N requests (connections open, client and server in their steady state), then
the contenders take turns, one timed batch of N each per round, so that load from elsewhere on
the machine falls on all of them alike; the median batch is reported.
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
    #: Median over the rounds of this contender's CPU per request over the baseline's in the
    #: same round (``None`` if the baseline did not run).
    ratio_to_baseline: float | None = None


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


async def _rounds(
    server: ServerProcess,
    spec: OverheadSpec,
    contenders: Sequence[tuple[str, str, Opener]],
    sizes: dict[str, int],
) -> dict[str, list[tuple[float, float]]]:
    """Open every contender on one server, warm each with one untimed batch, then time
    ``spec.repeats`` rounds of one batch each, in turn: (CPU s, wall s) per batch."""
    file_ids = await upload_samples(server.base_url, server.token, server.accounts)
    fixture = Fixture(server.base_url, server.token, tuple(server.accounts), file_ids)
    opened: dict[str, tuple[Batch, Callable[[], Awaitable[None]]]] = {}
    runs: dict[str, list[tuple[float, float]]] = {key: [] for key, _, _ in contenders}
    job = 0  # every batch clones new voice names
    try:
        for key, _, opener in contenders:
            opened[key] = await opener(fixture, _voice_room(spec, sizes))
        for key, (batch, _) in opened.items():
            await batch(job, sizes[key])
            job += sizes[key]
        for _ in range(spec.repeats):
            for key, (batch, _) in opened.items():
                cpu, wall = time.process_time(), time.perf_counter()
                await batch(job, sizes[key])
                runs[key].append((time.process_time() - cpu, time.perf_counter() - wall))
                job += sizes[key]
    finally:
        for _, close in opened.values():
            await close()
    return runs


def _voice_room(spec: OverheadSpec, sizes: dict[str, int]) -> int:
    """Voices per account for every batch of every contender (server and clients)."""
    return (spec.repeats + 1) * sum(sizes.values()) + 100


def run_overhead(
    spec: OverheadSpec,
    progress: Callable[[str], None] = print,
    *,
    only: Sequence[str] | None = None,
    httpx_requests: int | None = None,
) -> list[OverheadResult]:
    """Time every contender in ``spec.repeats`` rounds, in turn; report the median batches.

    One fake server serves every contender (each with its own session), and each first runs
    one untimed batch of its size: connections open, and the client and the server in their
    steady state. The first batches of fresh processes cost every contender about 50 % more
    CPU per request, which would blur the ratios.

    Args:
        spec: The experiment.
        progress: Where to report.
        only: Keys of the contenders to run (default all).
        httpx_requests: Fewer requests for httpx, whose pool costs milliseconds each.
    """
    contenders = [c for c in CONTENDERS if only is None or c[0] in only]
    sizes = {key: spec.requests for key, _, _ in contenders}
    if httpx_requests is not None and "httpx" in sizes:
        sizes["httpx"] = min(spec.requests, httpx_requests)
    config = ServerConfig(
        accounts=spec.account_ids,
        clone_latency=0.0,
        max_voices_per_account=_voice_room(spec, sizes),
    )
    with ServerProcess(config) as server:
        runs = asyncio.run(_rounds(server, spec, contenders, sizes))
    per_request = {
        key: [cpu / sizes[key] * 1e6 for cpu, _ in batches] for key, batches in runs.items()
    }
    baseline = per_request.get(CONTENDERS[0][0])
    results = []
    for key, label, _ in contenders:
        mine = per_request[key]
        # Each round's batches ran back to back: their ratio cancels the machine's drift.
        ratio = (
            median([m / b for m, b in zip(mine, baseline, strict=True)])
            if baseline is not None
            else None
        )
        results.append(
            OverheadResult(
                key=key,
                label=label,
                accounts=spec.accounts,
                requests=sizes[key],
                micros_per_request=median(mine),
                runs=tuple(sorted(mine)),
                wall_seconds=median([wall for _, wall in runs[key]]),
                ratio_to_baseline=ratio,
            )
        )
        progress(
            f"  K={spec.accounts} {label}: {median(mine):.0f} us CPU per request"
            + (f", {ratio:.2f}x raw aiohttp" if ratio is not None else "")
            + f" (runs: {', '.join(f'{r:.0f}' for r in mine)})"
        )
    return results
