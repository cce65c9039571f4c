"""One process of a fleet test: ``python -m tests.fleet.worker '<json WorkerConfig>'``.

It builds a ``Client`` (coordinated on Redis when the config names a coordinator), uploads one
sample per account, prints ``{"event": "ready"}``, waits for a line on stdin when told to
(so that the parent can start every process's jobs at once), then clones its jobs with
``asyncio.gather`` over ``clone_voice`` and prints one JSON line per job as it ends:
``{"event": "result", "name", "voice_id", "account"}`` or ``{"event": "error", "name",
"error"}``. It ends with ``{"event": "done", "cpu_seconds", "coordinator"}``. With
``step_by_step`` it starts one job per stdin line naming it (answering ``{"event":
"started", "name"}``) until a line ``end``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from typing import Any

import attrs
import cattrs

from minimax_async import Client, CloneVoiceRequest, MiniMaxError, RetryPolicy
from minimax_async.testing import make_wav

__all__ = ["Job", "WorkerConfig", "main"]

#: The language tag of every clone.
LANGUAGE = "English"


@attrs.frozen(kw_only=True)
class Job:
    """One clone: its voice name and the account it is pinned to."""

    name: str
    account: str


@attrs.frozen(kw_only=True)
class WorkerConfig:
    """What one worker process does (sent as JSON on its command line)."""

    base_url: str
    token: str
    accounts: tuple[str, ...]
    jobs: tuple[Job, ...]
    #: The Redis URL; ``None`` runs uncoordinated (each process keeps its own limits).
    coordinator: str | None = None
    namespace: str = ""
    #: Extra keyword arguments of ``RedisCoordinator``.
    coordinator_options: dict[str, float] = attrs.Factory(dict)
    max_voices_per_account: int = 1000
    clone_timeout: float = 120.0
    #: Retry-After values above this are cut short (keeps uncoordinated baselines finite).
    max_retry_after: float = 120.0
    retry_attempts: int = 5
    max_parallel_clones: int = 2
    #: Wait for one line on stdin after "ready" before cloning.
    wait_for_go: bool = False
    #: Instead of cloning every job at once, start one job per stdin line naming it,
    #: until a line "end" (so the parent decides the order jobs are queued across processes).
    step_by_step: bool = False

    def to_json(self) -> str:
        """The config as the one command-line argument of the worker."""
        return json.dumps(cattrs.unstructure(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        """Parse the command-line argument."""
        return cattrs.structure(json.loads(text), cls)


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _make_coordinator(config: WorkerConfig) -> Any:
    if config.coordinator is None:
        return None
    # Imported by name: only coordinated runs need the redis extra.
    fleet = importlib.import_module("minimax_async.fleet")
    return fleet.RedisCoordinator(
        config.coordinator, namespace=config.namespace, **config.coordinator_options
    )


async def _read_line() -> str:
    loop = asyncio.get_running_loop()
    line: str = await loop.run_in_executor(None, sys.stdin.readline)
    return line.strip()


async def run(config: WorkerConfig) -> None:
    """Run the worker's jobs against the fake server and report on stdout."""
    coordinator = _make_coordinator(config)
    options: dict[str, Any] = {} if coordinator is None else {"coordinator": coordinator}
    retry = RetryPolicy(
        attempts=config.retry_attempts,
        initial_delay=0.01,
        max_delay=0.2,
        max_retry_after=config.max_retry_after,
    )
    async with Client(
        token=config.token,
        base_url=config.base_url,
        accounts=config.accounts,
        max_voices_per_account=config.max_voices_per_account,
        max_parallel_clones=config.max_parallel_clones,
        clone_timeout=config.clone_timeout,
        retry=retry,
        **options,
    ) as client:
        sample = make_wav(seconds=12.0)
        files = {
            account: (await client.upload_sample(sample, account=account)).file_id
            for account in sorted({job.account for job in config.jobs})
        }
        _emit("ready")
        if config.wait_for_go:
            await _read_line()
        cpu_start = time.process_time()

        async def clone(job: Job) -> None:
            request = CloneVoiceRequest(
                voice_name=job.name,
                language_tag=LANGUAGE,
                files=(files[job.account],),
                account=job.account,
            )
            try:
                voice = await client.clone_voice(request)
            except MiniMaxError as exc:
                _emit("error", name=job.name, error=f"{type(exc).__name__}: {exc}")
            else:
                _emit("result", name=job.name, voice_id=voice.voice_id, account=voice.account)

        if config.step_by_step:
            jobs = {job.name: job for job in config.jobs}
            tasks = []
            while (name := await _read_line()) not in ("end", ""):
                tasks.append(asyncio.create_task(clone(jobs[name])))
                _emit("started", name=name)
            await asyncio.gather(*tasks)
        else:
            await asyncio.gather(*(clone(job) for job in config.jobs))
        cpu = time.process_time() - cpu_start
        statistics = _coordinator_statistics(coordinator)
    _emit("done", cpu_seconds=cpu, coordinator=statistics)


def _coordinator_statistics(coordinator: Any) -> dict[str, Any] | None:
    if coordinator is None:
        return None
    statistics = getattr(coordinator, "statistics", None)
    if statistics is None:
        return None
    value = statistics() if callable(statistics) else statistics
    if attrs.has(type(value)):
        result: dict[str, Any] = attrs.asdict(value)
        return result
    return dict(value) if isinstance(value, dict) else {"repr": repr(value)}


def main(argv: list[str]) -> None:
    """Entry point: ``argv[1]`` is the JSON ``WorkerConfig``."""
    asyncio.run(run(WorkerConfig.from_json(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
