"""The parent side of the fleet tests: start worker processes, follow their reports, kill one.

Each worker is ``python -m tests.fleet.worker`` (see ``tests.fleet.worker``), a real OS
process with its own event loop and its own ``Client``, talking to the one ``FakeMiniMax``
that runs in the parent's event loop and, when coordinated, to one real redis-server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from minimax_async.testing import FakeMiniMax
from tests.fleet.worker import Job, WorkerConfig

__all__ = [
    "ACCOUNTS",
    "CLONE_LATENCY",
    "INFLIGHT_HOLD",
    "LIVENESS_TTL",
    "RECORDING_CAP",
    "REPO_ROOT",
    "Fleet",
    "Outcome",
    "Scenario",
    "WorkerProcess",
    "created_names",
    "pinned_jobs",
    "run_scenario",
    "worker_configs",
]

#: The repository root: the workers run ``-m tests.fleet.worker`` from there.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Longest a worker may take to upload its samples and report "ready".
READY_TIMEOUT_S = 60.0
#: The accounts of the fleet tests' fake server.
ACCOUNTS = tuple(f"10000{i}" for i in range(1, 6))
#: The fake server's cap in the fleet tests: high enough that an overshoot of the API's
#: limit is recorded (``record.max_clones_in_flight``), never refused.
RECORDING_CAP = 64
#: Short clones keep thousands of them within seconds.
CLONE_LATENCY = (0.02, 0.06)
#: The liveness TTL and in-flight hold of coordinated fleet tests (short, for a test).
LIVENESS_TTL = 1.5
INFLIGHT_HOLD = 2.0


def created_names(fake: FakeMiniMax) -> collections.Counter[str]:
    """How often the server created each voice name."""
    return collections.Counter(voice.voice_name for voice in fake.record.voices_created)


def pinned_jobs(prefix: str, count: int, accounts: Sequence[str]) -> tuple[Job, ...]:
    """``count`` jobs named ``<prefix>-<i>``, pinned round-robin over ``accounts``."""
    return tuple(
        Job(name=f"{prefix}-{i}", account=accounts[i % len(accounts)]) for i in range(count)
    )


@attrs.define(eq=False)
class WorkerProcess:
    """One running worker and what it reported so far."""

    label: str
    config: WorkerConfig
    process: asyncio.subprocess.Process
    results: dict[str, dict[str, Any]] = attrs.Factory(dict)
    errors: dict[str, str] = attrs.Factory(dict)
    done: dict[str, Any] | None = None
    ready: asyncio.Event = attrs.Factory(asyncio.Event)
    stderr: bytearray = attrs.Factory(bytearray)
    killed: bool = False
    #: The jobs a ``step_by_step`` worker started, in order.
    started: list[str] = attrs.Factory(list)
    #: Its stdout ended (it exited, or is about to).
    eof: bool = False
    _tasks: list[asyncio.Task[None]] = attrs.Factory(list)

    @property
    def finished(self) -> int:
        """Jobs that ended so far, either way."""
        return len(self.results) + len(self.errors)

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def owns(self, name: str) -> bool:
        """Whether ``name`` is one of this worker's jobs."""
        return any(job.name == name for job in self.config.jobs)

    async def go(self) -> None:
        """Let a worker started with ``wait_for_go`` begin its jobs."""
        await self.send("go")

    async def send(self, line: str) -> None:
        """Write one line to the worker's stdin (``go``, a job name, ``end``)."""
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    def kill(self) -> None:
        """SIGKILL the worker (no clean-up of any kind runs in it)."""
        self.killed = True
        self.process.send_signal(signal.SIGKILL)

    def describe(self) -> str:
        """A summary for assertion messages: counts, first errors and the stderr tail."""
        errors = list(self.errors.items())[:5]
        tail = self.stderr.decode(errors="replace")[-3000:]
        return (
            f"{self.label}: {len(self.results)} ok, {len(self.errors)} errors {errors}, "
            f"done={self.done is not None}, rc={self.process.returncode}\n{tail}"
        )


class Fleet:
    """Worker processes started together, whose reports the parent follows live."""

    def __init__(self) -> None:
        self.workers: list[WorkerProcess] = []
        self._changed = asyncio.Condition()

    async def start(self, label: str, config: WorkerConfig) -> WorkerProcess:
        """Start one worker process running ``config``."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fleet.worker",
            config.to_json(),
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        worker = WorkerProcess(label, config, process)
        worker._tasks = [
            asyncio.create_task(self._follow(worker)),
            asyncio.create_task(self._drain_stderr(worker)),
        ]
        self.workers.append(worker)
        return worker

    async def start_all(self, configs: Iterable[tuple[str, WorkerConfig]]) -> list[WorkerProcess]:
        """Start several workers and wait until each has reported "ready"."""
        started = [await self.start(label, config) for label, config in configs]
        await self.wait_ready(started)
        return started

    async def start_at_closed_gate(
        self, scenario: Scenario, fake: FakeMiniMax
    ) -> list[WorkerProcess]:
        """Start the scenario's workers, clear the server's record, close its clone gate and
        let every worker go: their clones pile up at the gate, in the order they come."""
        workers = await self.start_all(worker_configs(scenario, fake))
        fake.record.reset()
        fake.gate.close()
        for worker in workers:
            await worker.go()
        return workers

    async def wait_ready(self, workers: Sequence[WorkerProcess]) -> None:
        """Wait until every one of ``workers`` has uploaded its samples."""

        async def ready(worker: WorkerProcess) -> None:
            waiter = asyncio.ensure_future(worker.ready.wait())
            exited = asyncio.ensure_future(worker.process.wait())
            _, pending = await asyncio.wait(
                {waiter, exited}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            if not worker.ready.is_set():
                await self._finish_reading(worker)
                raise AssertionError(f"worker never got ready: {worker.describe()}")

        await asyncio.gather(*(ready(worker) for worker in workers))

    @property
    def finished(self) -> int:
        """Jobs ended so far over every worker."""
        return sum(worker.finished for worker in self.workers)

    async def wait_finished(self, count: int) -> None:
        """Wait until at least ``count`` jobs have ended over the whole fleet."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self.finished >= count or all(w.eof or w.killed for w in self.workers)
            )

    async def wait_exit(self, timeout: float) -> None:
        """Wait for every worker to exit and every report to be read.

        Raises:
            AssertionError: A worker still runs after ``timeout`` seconds (it is killed).
        """
        with contextlib.suppress(asyncio.TimeoutError):
            waits = asyncio.gather(*(w.process.wait() for w in self.workers))
            await asyncio.wait_for(waits, timeout)
        stuck = [w for w in self.workers if w.process.returncode is None]
        for worker in stuck:
            worker.kill()
        for worker in self.workers:
            await self._finish_reading(worker)
        if stuck:
            raise AssertionError("workers still running: " + "; ".join(map(_describe, stuck)))

    async def aclose(self) -> None:
        """Kill whatever still runs and reap every process (for teardown)."""
        for worker in self.workers:
            if worker.process.returncode is None:
                worker.kill()
        for worker in self.workers:
            await self._finish_reading(worker)

    async def _finish_reading(self, worker: WorkerProcess) -> None:
        await worker.process.wait()
        await asyncio.gather(*worker._tasks)

    async def _follow(self, worker: WorkerProcess) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        async for line in stdout:
            event = json.loads(line)
            kind = event.pop("event")
            if kind == "ready":
                worker.ready.set()
            elif kind == "result":
                worker.results[event["name"]] = event
            elif kind == "error":
                worker.errors[event["name"]] = event["error"]
            elif kind == "done":
                worker.done = event
            elif kind == "started":
                worker.started.append(event["name"])
            async with self._changed:
                self._changed.notify_all()
        worker.eof = True
        async with self._changed:
            self._changed.notify_all()

    async def _drain_stderr(self, worker: WorkerProcess) -> None:
        stderr = worker.process.stderr
        assert stderr is not None
        while chunk := await stderr.read(65536):
            worker.stderr.extend(chunk)


def _describe(worker: WorkerProcess) -> str:
    return worker.describe()


@attrs.frozen(kw_only=True)
class Scenario:
    """A fleet run: P processes, each with its own jobs, pinned round-robin over the accounts."""

    processes: int = 4
    jobs_per_process: int = 500
    #: The Redis URL, or ``None`` for today's uncoordinated processes.
    redis_url: str | None = None
    namespace: str = ""
    coordinator_options: dict[str, float] = attrs.Factory(dict)
    #: SIGKILL one process once this share of all jobs has ended (``None``: no kill).
    kill_at: float | None = None
    clone_timeout: float = 120.0
    max_retry_after: float = 120.0
    retry_attempts: int = 5
    max_parallel_clones: int = 2
    max_voices_per_account: int = 1000
    #: The accounts the jobs are pinned to, round-robin (``None``: all the server's).
    job_accounts: tuple[str, ...] | None = None
    #: Workers start their jobs one stdin line at a time (``WorkerProcess.send``).
    step_by_step: bool = False
    #: Longest the whole run may take once started.
    timeout: float = 120.0

    @classmethod
    def coordinated(cls, redis_url: str, namespace: str, **options: Any) -> Scenario:
        """A scenario coordinated on ``redis_url`` with the tests' short TTL and hold."""
        settings: dict[str, Any] = {
            "redis_url": redis_url,
            "namespace": namespace,
            "coordinator_options": {"liveness_ttl": LIVENESS_TTL, "inflight_hold": INFLIGHT_HOLD},
            "clone_timeout": INFLIGHT_HOLD,
            "timeout": 90.0,
        }
        settings.update(options)
        return cls(**settings)


@attrs.define(kw_only=True)
class Outcome:
    """What a scenario produced: the workers' reports and the kill, if any."""

    workers: list[WorkerProcess]
    #: Seconds from "go" to the last worker's exit.
    seconds: float
    #: ``time.monotonic()`` when the workers were told to go (the clock of ``clone_spans``).
    started_at: float = 0.0
    victim: WorkerProcess | None = None
    #: The voice name of the victim's clone that was held at the gate when it died.
    held_name: str | None = None
    #: ``time.monotonic()`` right after the victim was reaped.
    killed_at: float | None = None

    @property
    def survivors(self) -> list[WorkerProcess]:
        """The workers that were not killed."""
        return [worker for worker in self.workers if not worker.killed]


def worker_configs(scenario: Scenario, fake: FakeMiniMax) -> list[tuple[str, WorkerConfig]]:
    """One config per process of ``scenario``, labelled ``p0``, ``p1``, ..."""
    configs = []
    for k in range(scenario.processes):
        label = f"p{k}"
        config = WorkerConfig(
            base_url=fake.base_url,
            token=fake.token,
            accounts=fake.accounts,
            jobs=pinned_jobs(
                label, scenario.jobs_per_process, scenario.job_accounts or fake.accounts
            ),
            coordinator=scenario.redis_url,
            namespace=scenario.namespace,
            coordinator_options=dict(scenario.coordinator_options),
            clone_timeout=scenario.clone_timeout,
            max_retry_after=scenario.max_retry_after,
            retry_attempts=scenario.retry_attempts,
            max_parallel_clones=scenario.max_parallel_clones,
            max_voices_per_account=scenario.max_voices_per_account,
            wait_for_go=not scenario.step_by_step,
            step_by_step=scenario.step_by_step,
        )
        configs.append((label, config))
    return configs


async def run_scenario(
    fake: FakeMiniMax,
    scenario: Scenario,
    *,
    after_kill: Callable[[WorkerProcess, str], Awaitable[object]] | None = None,
) -> Outcome:
    """Run ``scenario`` against ``fake``; the record is reset when the jobs start.

    With ``kill_at``, once that share of the jobs has ended the gate closes, the first held
    clone names its process, that process is SIGKILLed and reaped, ``after_kill(victim,
    held_name)`` starts as a task (while the held clone is still held), and the gate opens:
    the server then finishes the dead process's clone. ``after_kill`` is awaited at the end.
    """
    fleet = Fleet()
    try:
        workers = await fleet.start_all(worker_configs(scenario, fake))
        fake.record.reset()
        started = time.monotonic()
        await asyncio.gather(*(worker.go() for worker in workers))
        outcome = Outcome(workers=workers, seconds=0.0, started_at=started)
        follow_up: asyncio.Task[object] | None = None
        if scenario.kill_at is not None:
            total = scenario.processes * scenario.jobs_per_process
            await fleet.wait_finished(int(total * scenario.kill_at))
            fake.gate.close()
            await fake.gate.wait_held(1)
            held_name = fake.gate.held_voice_names()[0]
            victim = next(worker for worker in workers if worker.owns(held_name))
            victim.kill()
            await victim.process.wait()
            outcome.victim, outcome.held_name = victim, held_name
            outcome.killed_at = time.monotonic()
            if after_kill is not None:
                follow_up = asyncio.ensure_future(after_kill(victim, held_name))
            fake.gate.open()
        await fleet.wait_exit(scenario.timeout)
        outcome.seconds = time.monotonic() - started
        if follow_up is not None:
            await follow_up
        return outcome
    finally:
        await fleet.aclose()
