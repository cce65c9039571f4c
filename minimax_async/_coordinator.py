"""The ``Coordinator`` seam: who may clone where, and the events that change it.

A clone passes two decisions (see :mod:`minimax_async._scheduler`):

1. **admission** (:meth:`Coordinator.admit`): may this job be admitted on this account (or,
   for a job the client places, on which account)? An admitted job holds one voice-slot
   reservation on its account until :meth:`Coordinator.finish`;
2. **clone slot** (:meth:`Coordinator.acquire_clone`): may this admitted job, its samples
   uploaded, take one of its account's clone slots now?

Both are coroutines: the job waits until the answer is yes (or fails with the reason it will
never be). Everything else is an *event* that the client reports as it happens (sending,
releasing a slot, finishing, a 429, a 596/412, a deleted voice, the end of a temporary voice's
lease) and a few read-only queries. Events are synchronous and never wait: they are called
from cancellation and clean-up paths, where an ``await`` could be interrupted. An
implementation that must talk to another process (Redis) queues them in an outbox that a task
of its own flushes, and relies on lease expiry for whatever a crash leaves unflushed.

Implementations:

- :class:`~minimax_async._scheduler.CloneScheduler` (also named ``LocalCoordinator``): the
  in-memory default, one process. Its decisions take the synchronous fast path (no task, no
  waiter future) whenever nobody waits ahead and the account has room.
- ``minimax_async.fleet.RedisCoordinator``'s scheduler: the same decisions and events made
  fleet-wide through Redis scripts (``fleet-design.md`` §5).

Mapping to the fleet design's list (§9): admit = :meth:`~Coordinator.admit`, acquire =
:meth:`~Coordinator.acquire_clone`, send = :meth:`~Coordinator.sending`, finish =
:meth:`~Coordinator.release_clone` + :meth:`~Coordinator.finish`, rate_limited =
:meth:`~Coordinator.rate_limited`, take_out = :meth:`~Coordinator.take_out_of_rotation`,
deleted = :meth:`~Coordinator.voice_deleted` (+ :meth:`~Coordinator.end_lease`), recount =
:meth:`~Coordinator.count_ahead` (the counting itself is the ``count_voices`` callback each
implementation is built with), statistics = :meth:`~Coordinator.statistics`.

The bulk runner (``clone_many``) reaches the coordinator only through :class:`HeldBack`,
:meth:`~Coordinator.hold` and :meth:`~Coordinator.unhold`; sizes its runner pools from
:attr:`~Coordinator.capacity` and :meth:`~Coordinator.account_capacity`.

Every method is called on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from ._accounts import CloneStatistics, ErrorFactory
from ._models import Voice

__all__ = [
    "Clock",
    "Coordinator",
    "CoordinatorFactory",
    "ErrorFactory",
    "HeldBack",
    "NoRoomNow",
    "TicketT",
    "Timer",
]

#: The ticket type of an implementation (:class:`~minimax_async._accounts.Ticket` for the
#: local one). The client reads only ``ticket.account``.
TicketT = TypeVar("TicketT")


class NoRoomNow(Exception):
    """``admit(give_up=True)``: the job would have to wait for admission."""


class Timer(Protocol):
    """A callback scheduled with :meth:`Clock.call_at` (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None:
        """Do not run the callback."""

    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""

    def when(self) -> float:
        """When the callback runs, on its clock."""


class Clock(Protocol):
    """What the scheduler reads the time from and schedules its wake-ups with.

    The running event loop is one (its ``time()`` and ``call_at()``), and the default;
    tests pass a clock they advance by hand, so timed behaviour needs no real sleep.
    """

    def time(self) -> float:
        """Now, in seconds (monotonic)."""

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` once, at ``when`` or soon after."""


class HeldBack(Protocol):
    """Jobs that a bulk run holds back until one of its runners is free."""

    #: The account of every job, or ``None``: jobs for any account.
    account: str | None

    def __len__(self) -> int:
        """How many jobs are held back."""

    def grow(self) -> None:
        """Start one more runner, if the run has fewer than its limit: an account has a
        free clone slot that no waiting job is about to take."""


class Coordinator(Protocol[TicketT]):
    """Admission and clone slots per account, behind one narrow interface.

    ``TicketT`` is the implementation's ticket; it must have an ``account`` attribute
    (``str | None``): the account the job was admitted on.
    """

    # ------------------------------------------------------------------ the two decisions

    async def admit(
        self,
        account: str | None,
        *,
        pinned: bool,
        name: str | None,
        ahead: bool = False,
        give_up: bool = False,
    ) -> TicketT:
        """Wait until the job is admitted (one voice slot reserved); return its ticket.

        Jobs are admitted in the order they asked, per account, across pinned and placed
        jobs; a placed job (``pinned`` false) goes to the least-loaded account that can take
        it, ``account`` being only a preference (the caller's previous account). ``ahead``:
        the job uploads first, so it may be admitted up to ``prefetch`` jobs ahead of a free
        clone slot. ``give_up``: raise ``NoRoomNow`` instead of waiting (placed jobs only).

        Raises:
            NoRoomNow: ``give_up`` and the job would have to wait.
            DuplicateVoiceNameError: A live job clones ``name`` on this account.
            VoiceSlotsExhaustedError: No account will ever have room for it.
            AccountUnavailableError: Its account (or every account) is out of rotation.
            ClientClosedError, or the error given to :meth:`fail_all`.
        """
        ...

    async def acquire_clone(self, ticket: TicketT, *, front: bool = False) -> None:
        """Wait for one of the ticket's account's clone slots (FIFO; ``front`` for a retry,
        which goes ahead of the jobs that never had one). Never while the account is paused
        by a 429; fails if the account is taken out of rotation meanwhile."""
        ...

    # ------------------------------------------------------------------ events (sync)

    def sending(self, ticket: TicketT) -> None:
        """The ticket's clone request goes on the wire now (after :meth:`acquire_clone`,
        before each attempt). A fleet implementation records the intent (for adoption after a
        crash) and holds the slot for the server's longest clone."""
        ...

    def rate_limited(self, ticket: TicketT, seconds: float) -> None:
        """The ticket's clone got a 429 (``seconds``: Retry-After, or the policy's delay).

        Called while the ticket still holds its clone slot, before :meth:`release_clone`.
        Beside another clone of the account in flight, the account runs at one clone for
        ``seconds`` (repeated strikes lower it for longer); alone, the account pauses for
        ``seconds``. The decision and the change are one step.
        """
        ...

    def release_clone(self, ticket: TicketT) -> None:
        """Give back the ticket's clone slot (safe to call when it holds none)."""
        ...

    def finish(
        self,
        ticket: TicketT,
        *,
        created: bool,
        lease: bool = False,
        voice_id: str | None = None,
    ) -> None:
        """End the ticket: release its slot and its reservation (idempotent).

        ``created``: a voice was cloned or adopted (``voice_id``, when known, names it);
        ``lease``: the voice is temporary, and :meth:`end_lease` follows its deletion.
        """
        ...

    def take_out_of_rotation(
        self, account: str | None, seconds: float, error: ErrorFactory
    ) -> None:
        """A 596/412: no clone goes to ``account`` for ``seconds``. Jobs pinned to it and
        admitted jobs waiting for its clone slots fail with ``error()``; placed jobs go to
        the other accounts."""
        ...

    def voice_deleted(self, account: str | None, voice_id: str | None = None) -> None:
        """A cloned voice of ``account`` was deleted: its slot is free for waiting jobs."""
        ...

    def end_lease(self, account: str | None) -> None:
        """A temporary voice's lease ended (deleted, or the delete failed)."""
        ...

    def count_ahead(self, accounts: Iterable[str | None]) -> None:
        """Start counting the voices of these accounts now (a bulk run is about to use
        them), unless counted, being counted, unknown or out of rotation."""
        ...

    def fail_all(self, error: ErrorFactory) -> None:
        """Fail every waiting job with ``error()``, and every later admission (401,
        closing)."""
        ...

    # ------------------------------------------------------------------ bulk runs

    def hold(self, jobs: HeldBack) -> None:
        """Count a bulk run's held-back jobs as waiting; offer room to jobs for any account
        (``jobs.grow()``) when an account has a clone slot that no waiting job takes."""
        ...

    def unhold(self, jobs: HeldBack) -> None:
        """Forget jobs registered with :meth:`hold` (idempotent)."""
        ...

    # ------------------------------------------------------------------ queries

    def statistics(self) -> CloneStatistics:
        """In-flight and waiting counts, per account and overall (a fleet implementation
        may answer from a snapshot up to about a second old)."""
        ...

    @property
    def accounts(self) -> tuple[str | None, ...]:
        """Every account known, in rotation or not."""
        ...

    @property
    def capacity(self) -> int:
        """The most jobs the accounts in rotation can have admitted at once."""
        ...

    def account_capacity(self, *, prefetch: bool) -> int:
        """The most jobs one account can have admitted at once (clone slots at full cap,
        plus the prefetch places if the jobs upload)."""
        ...

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Fail what still waits (``ClientClosedError`` unless :meth:`fail_all` ran), stop
        every task and timer started, and wait until they have ended. Idempotent."""
        ...


class CoordinatorFactory(Protocol):
    """What ``Client(coordinator=...)`` takes: it makes each client's :class:`Coordinator`
    (``minimax_async.fleet.RedisCoordinator`` is one). Each call is one process of the fleet.
    """

    def scheduler(
        self,
        *,
        accounts: tuple[str, ...] | None,
        max_parallel: int,
        max_voices: int | None,
        list_voices: Callable[[str | None], Awaitable[list[Voice]]],
        cap_lowering_strikes: int,
        cap_lowered_for: float,
        account_cooldown: float,
        clone_timeout: float,
        recheck_delay: float,
    ) -> Coordinator[Any]:
        """The coordinator of one client, with the client's limits (which a shared
        coordinator checks against the other processes' limits)."""
        ...
