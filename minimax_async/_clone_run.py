"""``clone_many``: :class:`CloneRun` (the iterator of results) and its runner pools.

A run drives its jobs through a :class:`JobRunner` (the client's job placement loop,
``Cloner.run_job`` behind the client's account checks) and reaches the scheduler only
through its bulk-run API (room per account, ``count_ahead``, and the registry of the jobs
a run holds back). It knows nothing of the client.

Raw asyncio here, for a reason: one future per wait of ``__anext__`` (set by the next result
or by the runner's end, shared by concurrent readers) instead of a task and an
``asyncio.wait()`` per result; the runners themselves run in an anyio task group.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from ._bulk import CloneProgress, CloneResult, JobState, JobTracker, VoiceJob
from ._coordinator import Coordinator
from ._models import Voice
from ._scheduler import NoRoomNow

__all__ = ["CloneRun", "JobRunner"]


class JobRunner(Protocol):
    """Runs one bulk job to its voice (the client's ``clone_from_samples`` path)."""

    async def __call__(
        self, job: VoiceJob, tracker: JobTracker, /, *, prefer: str | None, give_up: bool
    ) -> Voice:
        """Place, upload and clone ``job``.

        Args:
            prefer: An account to try first (the runner's last one).
            give_up: Raise :class:`NoRoomNow` rather than wait for admission.
        """


class _RunnerPool:
    """The runners of a bulk run's jobs of one kind: each takes the next job, in order,
    runs it, and takes another. No task per queued job: little memory and CPU for a big run.

    A run has one pool of the jobs the client places (``account`` None) and one pool per
    account for the jobs pinned to it, so that jobs waiting for a busy account never hold
    up those of an idle one.

    A pinned pool keeps ``limit`` runners: as many as its account can admit at once. The
    pool of placed jobs starts with as many runners as the accounts can admit at once
    (clone slots plus prefetch), so that uploads overlap clones, and then keeps only the
    runners that find room: after its first job, a runner whose next job would have to
    wait puts it back and stops (the last one stays), as the room goes to the jobs already
    waiting. So a runner whose clone ends usually takes the freed slot again itself
    (``admit`` prefers its last account) and sends its next clone in the same event-loop
    step; a waiting runner would send it one step later. If an account gets room back that
    no runner takes (a pause ends, an account returns to rotation), the scheduler asks for
    one more runner (``grow``, the scheduler's ``HeldBack`` protocol).
    """

    def __init__(
        self,
        run: CloneRun,
        jobs: collections.deque[VoiceJob],
        queued_at: float,
        *,
        job_runner: JobRunner,
        deliver: Callable[[CloneResult], None],
        limit: int,
        account: str | None = None,
    ) -> None:
        self.run = run
        self.job_runner = job_runner
        #: Hands a job's result to the run (its ``__anext__``).
        self.deliver = deliver
        self.jobs = jobs
        self.queued_at = queued_at
        #: The account of every job (``None``: jobs the client places).
        self.account = account
        #: The most runners at once.
        self.limit = limit
        self.group: TaskGroup | None = None
        self.runners = 0

    def __len__(self) -> int:
        return len(self.jobs)

    def grow(self) -> None:
        """Start one more runner, if the pool has jobs and fewer runners than its limit."""
        group = self.group
        # Never into a cancelled group: a task started there after the cancellation was
        # delivered is never cancelled, and spins in anyio's cancellation checkpoints.
        if group is None or group.cancel_scope.cancel_called or not self.jobs:
            return
        if self.runners < self.limit:
            self.runners += 1
            group.start_soon(self._runner)

    async def _runner(self) -> None:
        run, jobs = self.run, self.jobs
        placed = self.account is None
        ran = False
        last: str | None = None  # the account of this runner's last job
        try:
            while jobs:
                job = jobs.popleft()
                tracker = JobTracker(run.progress, job, queued_at=self.queued_at, announced=True)
                # After its first job, a runner of placed jobs that would wait stops (one
                # always stays): there are more runners than room, and the room goes to
                # those waiting.
                give_up = placed and ran and self.runners > 1
                if not await self._run_one(tracker, prefer=last, give_up=give_up):
                    jobs.appendleft(job)
                    return
                ran, last = True, tracker.account
        finally:
            self.runners -= 1

    async def _run_one(self, tracker: JobTracker, *, prefer: str | None, give_up: bool) -> bool:
        """Run one job to its result; False if ``give_up`` and it would have to wait."""
        voice: Voice | None = None
        error: Exception | None = None
        try:
            voice = await self.job_runner(tracker.job, tracker, prefer=prefer, give_up=give_up)
        except NoRoomNow:
            return False
        except Exception as exc:  # one job's failure is its result, never the run's
            error = exc
        tracker.move(JobState.DONE if error is None else JobState.FAILED)
        self.deliver(
            CloneResult(
                tracker.job, voice, error, tracker.account, tracker.queued_at,
                tracker.started_at, time.time(),
            )
        )  # fmt: skip
        return True


class CloneRun:
    """The results of :meth:`Client.clone_many`, as an async iterator and context manager.

    Made by :meth:`Client.clone_many` only: its constructor is internal (its arguments are
    the client's internals and may change in any release); use the iterator and ``progress``.

    Attributes:
        progress: Live counts of the run.
        total: The number of jobs (and of results it will yield).
    """

    def __init__(
        self,
        job_runner: JobRunner,
        scheduler: Coordinator[Any],
        jobs: list[VoiceJob],
        progress: CloneProgress,
    ) -> None:
        self._job_runner = job_runner
        self._scheduler = scheduler
        self._jobs = jobs
        self.progress = progress
        self.total = len(jobs)
        self._results: collections.deque[CloneResult] = collections.deque()
        #: What an idle ``__anext__`` awaits: set by the next result, or by the runner's end.
        self._wakeup: asyncio.Future[None] | None = None
        self._yielded = 0
        self._runner: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"CloneRun(total={self.total}, yielded={self._yielded})"

    def _start(self) -> None:
        if self._runner is None:
            # Every job counts as queued from the start; a job's tracker is made when a
            # runner takes it, so a big run allocates little before its first request.
            queued_at = time.time()
            placed: collections.deque[VoiceJob] = collections.deque()
            pinned: dict[str, collections.deque[VoiceJob]] = {}
            for job in self._jobs:
                account = job.pinned_account
                if account is None:
                    placed.append(job)
                else:
                    pinned.setdefault(account, collections.deque()).append(job)
            JobTracker.queue_all(self.progress, self._jobs)
            # The voice counts first, so that they are not sent after the runners start;
            # only for jobs with nothing local to check: a bad sample sends nothing at all.
            self._scheduler.count_ahead(
                account
                for account, queue in pinned.items()
                if any(not job.local_samples for job in queue)
            )
            self._runner = asyncio.ensure_future(self._run(placed, pinned, queued_at))
            self._runner.add_done_callback(lambda _: self._wake())

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _run(
        self,
        placed: collections.deque[VoiceJob],
        pinned: dict[str, collections.deque[VoiceJob]],
        queued_at: float,
    ) -> None:
        scheduler = self._scheduler
        pools = [
            _RunnerPool(
                self,
                jobs,
                queued_at,
                job_runner=self._job_runner,
                deliver=self._deliver,
                account=account,
                # Jobs with nothing to upload are admitted only into a free clone slot:
                # more runners than slots would only wait.
                limit=scheduler.account_capacity(prefetch=any(job.local_samples for job in jobs)),
            )
            for account, jobs in pinned.items()
        ]
        held = (
            _RunnerPool(
                self,
                placed,
                queued_at,
                job_runner=self._job_runner,
                deliver=self._deliver,
                limit=scheduler.capacity,
            )
            if placed
            else None
        )
        # Jobs not yet taken by a runner count as waiting (``statistics()``); the pool of
        # placed jobs may also be asked for one more runner (``HeldBack.grow``). Only a run
        # with placed jobs registers one: each dispatch then looks for room to offer it.
        if held is not None:
            scheduler.hold(held)
        for pool in pools:
            scheduler.hold(pool)
        try:
            async with anyio.create_task_group() as group:
                for pool in [*pools, held] if held is not None else pools:
                    pool.group = group
                    for _ in range(min(len(pool), pool.limit)):
                        pool.grow()
        finally:
            if held is not None:
                held.group = None
                scheduler.unhold(held)
            for pool in pools:
                pool.group = None
                scheduler.unhold(pool)

    def _deliver(self, result: CloneResult) -> None:
        self._results.append(result)
        self._wake()

    def __aiter__(self) -> CloneRun:
        return self

    async def __anext__(self) -> CloneResult:
        if self._yielded >= self.total:
            raise StopAsyncIteration
        self._start()
        runner = self._runner
        assert runner is not None
        results = self._results
        while not results:
            if self._yielded >= self.total:  # another reader took the last one
                raise StopAsyncIteration
            if runner.done():  # it ended without a result for every job
                runner.result()  # raises what stopped it
                raise RuntimeError("clone_many ended before every job had a result")
            # One future per wait (shared by concurrent readers), set by the next result or
            # by the runner's end: no task and no asyncio.wait() per result.
            wakeup = self._wakeup
            if wakeup is None:
                wakeup = self._wakeup = asyncio.get_running_loop().create_future()
            try:
                await wakeup
            except asyncio.CancelledError:
                await self.aclose()
                raise
            finally:
                if self._wakeup is wakeup:
                    self._wakeup = None
        self._yielded += 1
        return results.popleft()

    async def __aenter__(self) -> CloneRun:
        self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel the jobs still running and wait until they have unwound."""
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
