"""Benchmark 6: P processes sharing K accounts, coordinated on Redis against uncoordinated.

Each process is a real OS process (``tests.fleet.worker``) with its own ``Client``; they all
clone against one fake server in this process, whose cap is the API's real one (2 clones per
account), so every clone a process sends over the fleet-wide limit is a 429. The rows:

- **one process**: all P x N jobs in one process (the in-memory scheduler): the reference
  makespan / bound of the harness;
- **P processes, uncoordinated**: today's behaviour, each process keeping its own limits;
- **P processes, coordinated**: the same processes with a ``RedisCoordinator`` on one
  redis-server (a child process on a unix socket, started here).

Redis round trips per clone come from the server's own count of the commands clients sent
(``INFO commandstats``, reset before the run: script calls, BLPOP wake-ups, script loads and
connection set-up; the commands that run *inside* a script are left out). A pipeline would
count each of its commands, so this bounds the round trips from above. Client CPU is each
worker's ``time.process_time()`` over its clone phase.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import uuid
from collections.abc import Callable, Sequence
from typing import Final

import attrs
from redis.asyncio import Redis

from minimax_async import MAX_PARALLEL_CLONES_PER_ACCOUNT
from minimax_async.testing import CloneSpan, FakeMiniMax
from tests.fleet.harness import Outcome, Scenario, run_scenario
from tests.fleet.redis_support import INSTALL_HINT, RedisProcess

from ._makespan import lower_bound

__all__ = ["FleetResult", "FleetSpec", "fleet_headline", "fleet_section", "run_fleet"]

#: Coordinated makespan / bound may exceed the one-process figure by this much.
FLEET_MAKESPAN_MARGIN: Final = 0.05
#: Redis round trips per clone, on average.
FLEET_ROUND_TRIPS_TARGET: Final = 4.0


@attrs.frozen(kw_only=True)
class FleetSpec:
    """Sizes of benchmark 6."""

    processes: int = 4
    accounts: int = 5
    jobs_per_process: int = 500
    latency: tuple[float, float] = (0.02, 0.06)
    #: The coordinator's liveness TTL (nothing is killed here; it sets the heartbeat rate).
    liveness_ttl: float = 15.0


@attrs.frozen(kw_only=True)
class FleetResult:
    """One row of benchmark 6."""

    label: str
    processes: int
    jobs: int
    seconds: float
    bound: float
    rejected_429: int
    clone_requests: int
    max_in_flight_per_account: int
    failed_jobs: int
    duplicate_names: int
    cpu_micros_per_clone: float
    #: Commands clients sent to Redis per finished clone; ``None`` when uncoordinated.
    redis_commands_per_clone: float | None = None

    @property
    def ratio(self) -> float:
        """Makespan / bound."""
        return self.seconds / self.bound if self.bound else float("nan")


def _bound(spans: Sequence[CloneSpan]) -> float:
    """No schedule of the served clones, each pinned to its account, ends sooner."""
    by_account: dict[str, list[float]] = {}
    for span in spans:
        by_account.setdefault(span.account, []).append(span.seconds)
    return max(
        lower_bound(latencies, 1, MAX_PARALLEL_CLONES_PER_ACCOUNT)
        for latencies in by_account.values()
    )


#: Commands a client sends (``INFO commandstats`` names, without ``cmdstat_``); every other
#: command counted there ran inside a script (one round trip is the script call).
CLIENT_COMMANDS: Final = frozenset(
    {
        "evalsha", "evalsha_ro", "eval", "eval_ro", "fcall", "fcall_ro", "script|load",
        "script|exists", "blpop", "brpop", "blmove", "ping", "hello", "auth", "select",
        "client|setinfo", "client|setname",
    }
)  # fmt: skip


async def _redis_round_trips(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(
        int(entry["calls"])
        for name, entry in stats.items()
        if isinstance(entry, dict) and name.removeprefix("cmdstat_") in CLIENT_COMMANDS
    )


async def _row(label: str, spec: FleetSpec, scenario: Scenario, redis: Redis | None) -> FleetResult:
    accounts = tuple(f"{200001 + i}" for i in range(spec.accounts))
    async with FakeMiniMax(
        accounts=accounts,
        max_parallel_clones=MAX_PARALLEL_CLONES_PER_ACCOUNT,
        max_voices_per_account=scenario.processes * scenario.jobs_per_process,
        clone_latency=spec.latency,
        retry_after=1.0,
    ) as fake:
        if redis is not None:
            await redis.config_resetstat()
        outcome: Outcome = await run_scenario(fake, scenario)
        commands = await _redis_round_trips(redis) if redis is not None else None
        record = fake.record
        spans = record.clone_spans
        jobs = scenario.processes * scenario.jobs_per_process
        done = sum(len(worker.results) for worker in outcome.workers)
        names = [voice.voice_name for voice in record.voices_created]
        cpu = sum(float((w.done or {}).get("cpu_seconds", 0.0)) for w in outcome.workers)
        makespan = max(span.finished for span in spans) - outcome.started_at if spans else 0.0
        return FleetResult(
            label=label,
            processes=scenario.processes,
            jobs=jobs,
            seconds=makespan,
            bound=_bound(spans) if spans else 0.0,
            rejected_429=record.rejected_over_capacity,
            clone_requests=record.requests["clone-voice"],
            max_in_flight_per_account=max(record.max_clones_in_flight.values(), default=0),
            failed_jobs=jobs - done,
            duplicate_names=len(names) - len(set(names)),
            cpu_micros_per_clone=cpu / max(done, 1) * 1e6,
            redis_commands_per_clone=None if commands is None else commands / max(done, 1),
        )


def redis_unavailable() -> str | None:
    """Why benchmark 6 cannot run here, or ``None``."""
    if shutil.which("redis-server") is None:
        return f"redis-server is not installed ({INSTALL_HINT})"
    if importlib.util.find_spec("minimax_async.fleet") is None:
        return "minimax_async.fleet is not available"
    return None


def run_fleet(spec: FleetSpec, progress: Callable[[str], None]) -> list[FleetResult]:
    """Run the three rows of benchmark 6 (see the module docstring)."""
    return asyncio.run(_run_fleet(spec, progress))


async def _run_fleet(spec: FleetSpec, progress: Callable[[str], None]) -> list[FleetResult]:
    total = spec.processes * spec.jobs_per_process
    rows = [
        _row(
            "one process (in-memory limits)",
            spec,
            Scenario(processes=1, jobs_per_process=total, max_retry_after=1.0),
            None,
        ),
        _row(
            f"{spec.processes} processes, uncoordinated",
            spec,
            Scenario(
                processes=spec.processes,
                jobs_per_process=spec.jobs_per_process,
                max_retry_after=1.0,
            ),
            None,
        ),
    ]
    results = []
    for row in rows:
        results.append(result := await row)
        progress(
            f"  {result.label}: makespan / bound {result.ratio:.3f}, {result.rejected_429} 429s"
        )
    server = RedisProcess(shutil.which("redis-server") or "redis-server")
    server.start()
    redis = Redis.from_url(server.url)
    try:
        coordinated = Scenario(
            processes=spec.processes,
            jobs_per_process=spec.jobs_per_process,
            redis_url=server.url,
            namespace=f"bench:{uuid.uuid4().hex[:8]}",
            coordinator_options={"liveness_ttl": spec.liveness_ttl},
            max_retry_after=1.0,
        )
        result = await _row(f"{spec.processes} processes, coordinated", spec, coordinated, redis)
        results.append(result)
        progress(
            f"  {result.label}: makespan / bound {result.ratio:.3f}, {result.rejected_429} 429s, "
            f"{result.redis_commands_per_clone:.2f} Redis round trips per clone"
        )
    finally:
        await redis.aclose()
        server.close()
    return results


def fleet_headline(results: Sequence[FleetResult]) -> list[tuple[str, str, str, str]]:
    """The headline rows of benchmark 6: (measure, target, measured, met)."""
    single = next((r for r in results if r.processes == 1), None)
    coordinated = next((r for r in results if r.redis_commands_per_clone is not None), None)
    if single is None or coordinated is None:
        return []
    commands = coordinated.redis_commands_per_clone or 0.0
    return [
        (
            "6. fleet, coordinated: self-provoked 429s",
            "0",
            f"{coordinated.rejected_429}",
            "yes" if coordinated.rejected_429 == 0 else "**no**",
        ),
        (
            "6. fleet, coordinated: Redis round trips per clone (commands sent, an upper bound)",
            f"<= {FLEET_ROUND_TRIPS_TARGET:g}",
            f"{commands:.2f}",
            "yes" if commands <= FLEET_ROUND_TRIPS_TARGET else "**no**",
        ),
        (
            "6. fleet, coordinated makespan / bound, against one process",
            f"<= one process + {FLEET_MAKESPAN_MARGIN}",
            f"{coordinated.ratio:.3f} vs {single.ratio:.3f}",
            "yes" if coordinated.ratio <= single.ratio + FLEET_MAKESPAN_MARGIN else "**no**",
        ),
    ]


def fleet_section(
    spec: FleetSpec | None, results: Sequence[FleetResult], skipped: str | None
) -> list[str]:
    """The Markdown section of benchmark 6."""
    if spec is None:
        return []
    low, high = spec.latency
    lines = [
        "## 6. Several processes sharing accounts (fleet)",
        "",
        f"{spec.processes} OS processes x {spec.jobs_per_process} pinned clones on "
        f"{spec.accounts} accounts, clones of {low * 1000:.0f}-{high * 1000:.0f} ms, against one "
        "fake server with the real cap (2 clones per account; more answer 429 with "
        "Retry-After 1 s). Makespan from the start signal to the server's last finished clone; "
        "bound: each account's served latencies over its 2 slots. Redis round trips: the "
        "commands clients sent (script calls, BLPOP wake-ups, script loads, connection set-up), "
        "from the server's `INFO commandstats` reset before the run, over finished clones.",
        "",
    ]
    if skipped is not None:
        return [*lines, f"Not run: {skipped}.", ""]
    lines += [
        "| run | processes | jobs | makespan (s) | bound (s) | makespan / bound | 429s "
        "| clone requests | max in flight / account | failed jobs | duplicate names "
        "| client CPU per clone (us) | Redis round trips per clone |",
        "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    ]
    for r in results:
        commands = (
            "-" if r.redis_commands_per_clone is None else f"{r.redis_commands_per_clone:.2f}"
        )
        lines.append(
            f"| {r.label} | {r.processes} | {r.jobs} | {r.seconds:.3f} | {r.bound:.3f} "
            f"| **{r.ratio:.3f}** | {r.rejected_429} | {r.clone_requests} "
            f"| {r.max_in_flight_per_account} | {r.failed_jobs} | {r.duplicate_names} "
            f"| {r.cpu_micros_per_clone:.0f} | {commands} |"
        )
    return [*lines, ""]
