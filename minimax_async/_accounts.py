"""One account's clone state, and the values the scheduler hands out about it.

What one account can take now and how it changes: voices, reservations, admitted jobs, clone
slots in use, the cap, pauses, rotation. The scheduler (:mod:`minimax_async._scheduler`)
decides who waits and who goes; the state it decides on lives here.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final, Generic, TypeVar

import attrs

from ._exceptions import AccountUnavailableError

__all__ = [
    "MAX_PARALLEL_CLONES_PER_ACCOUNT",
    "MAX_VOICES_PER_ACCOUNT",
    "PREFETCH_PER_ACCOUNT",
    "RATE_LIMIT_STRIKE_WINDOW",
    "AccountRules",
    "AccountState",
    "AccountStatistics",
    "CloneStatistics",
    "ErrorFactory",
    "Phase",
    "Ticket",
    "out_of_rotation_error",
]

#: The API runs "one or two parallel [clone] tasks maximum" per account (contract §4.4).
MAX_PARALLEL_CLONES_PER_ACCOUNT: Final = 2
#: "A single account can have up to 4 cloned voices" (contract §4.4, 2025-01-24).
MAX_VOICES_PER_ACCOUNT: Final = 4
#: Jobs admitted to an account beyond its clone slots (their uploads overlap its clones).
PREFETCH_PER_ACCOUNT: Final = 1
#: 429s at full cap within this many seconds that make an account's cap drop to 1.
RATE_LIMIT_STRIKE_WINDOW: Final = 60.0

T = TypeVar("T")
#: Makes the error a queued job fails with (one fresh exception per job).
ErrorFactory = Callable[[], BaseException]


class _Waiter(asyncio.Future[T]):
    """A queued job: the future its task awaits, with its place in line.

    A future itself rather than an object holding one: a big gather queues thousands of
    these, and one object less per queued job is less memory and less for the GC to scan.
    Made by :func:`_waiter` (the future's own C initialiser, then three attributes: a
    Python ``__init__`` would cost twice as much).
    """

    __slots__ = ("ahead", "name", "seq")
    seq: int
    name: str | None
    ahead: bool  # may be admitted before a clone slot frees (it uploads first)


def _waiter(seq: int, name: str | None, ahead: bool, loop: asyncio.AbstractEventLoop) -> _Waiter[T]:
    waiter: _Waiter[T] = _Waiter(loop=loop)
    waiter.seq = seq
    waiter.name = name
    waiter.ahead = ahead
    return waiter


@attrs.define(eq=False, slots=True)
class _Fifo(Generic[T]):
    """A FIFO of waiters where cancelled ones are skipped lazily (O(1) cancellation)."""

    items: deque[_Waiter[T]] = attrs.field(factory=deque)
    dead: int = 0

    def __len__(self) -> int:
        return len(self.items) - self.dead

    def push(self, waiter: _Waiter[T], *, front: bool = False) -> None:
        if front:
            self.items.appendleft(waiter)
        else:
            self.items.append(waiter)

    def head(self) -> _Waiter[T] | None:
        items = self.items
        while items and items[0].done():
            items.popleft()
            self.dead -= 1
        return items[0] if items else None

    def pop(self) -> _Waiter[T] | None:
        head = self.head()
        if head is not None:
            self.items.popleft()
        return head

    def drain(self) -> list[_Waiter[T]]:
        live = [w for w in self.items if not w.done()]
        self.items.clear()
        self.dead = 0
        return live


class Phase(enum.Enum):
    """Where an account stands, by what limits it most (:meth:`AccountState.phase`).

    A pause and a narrowed cap can overlap, and both can overlap a time out of rotation;
    the phase names the strongest limit now in force.
    """

    #: Takes jobs and clones at its full cap.
    IN_ROTATION = "in rotation"
    #: Takes clones one at a time until ``cap_until``: a 429 came beside another clone
    #: (``cap_lowering_strikes`` of them in a minute keep it there for ``cap_lowered_for``).
    NARROWED = "narrowed"
    #: Sends no clone until ``paused_until``: a 429 came to a clone running alone. It
    #: still admits jobs (their uploads go ahead).
    PAUSED = "paused"
    #: Takes no job until ``out_until``: a 596 or 412 (jobs pinned to it fail).
    OUT_OF_ROTATION = "out of rotation"


@attrs.frozen
class AccountRules:
    """The limits every account of a scheduler shares."""

    #: Clone slots at the full cap (1 or 2).
    max_parallel: int
    #: Voice slots, or ``None`` not to track them.
    max_voices: int | None
    #: Jobs admitted beyond the clone slots (their uploads overlap clones).
    prefetch: int = PREFETCH_PER_ACCOUNT
    #: 429s beside another clone within :data:`RATE_LIMIT_STRIKE_WINDOW` that lower the cap.
    strikes_needed: int = 3
    #: Seconds the lowered cap lasts.
    lowered_for: float = 300.0


@attrs.define(eq=False)
class AccountState:
    """One account's clone state, and every transition of it (h11's rule: all here).

    Pure: no event loop, no clock of its own. A transition that starts a timed state takes
    ``now`` and returns the deadline to wake at (or ``None`` when no new wake-up is
    needed); the scheduler keeps the only timers, and at the deadline calls the matching
    transition again or just re-reads the state (deadlines are compared with ``now``).

    ``pinned`` and ``clone_queue`` are the scheduler's waiting lines for this account, kept
    here so that a dispatch finds them in one step; nothing in this module changes them.
    """

    name: str | None
    rules: AccountRules = attrs.field(repr=False)
    #: Clone slots now: ``rules.max_parallel``, or 1 while narrowed.
    cap: int = attrs.field()
    #: Cloned voices known (listed once, then counted as they are made and deleted).
    voices: int | None = None
    #: Jobs admitted, each holding one voice-slot reservation until it finishes.
    admitted: int = 0
    #: Temporary voices whose deletion is promised (jobs wait rather than fail for them).
    leased: int = 0
    #: Clone slots in use.
    cloning: int = 0
    paused_until: float = 0.0
    cap_until: float = 0.0
    out_until: float = 0.0
    out_error: ErrorFactory | None = None
    #: When the recent 429s beside another clone came (within the strike window).
    strikes: deque[float] = attrs.field(factory=deque)
    #: Live jobs per voice name (a plain dict: Counter's __missing__ costs a Python call).
    names: dict[str, int] = attrs.field(factory=dict)
    pinned: _Fifo[Ticket] = attrs.field(factory=lambda: _Fifo(), repr=False)
    clone_queue: _Fifo[None] = attrs.field(factory=lambda: _Fifo(), repr=False)

    @cap.default
    def _full_cap(self) -> int:
        return self.rules.max_parallel

    # ------------------------------------------------------------------ reading

    @property
    def reserved(self) -> int:
        """Voice slots reserved: one per admitted job (the two counts are one)."""
        return self.admitted

    def phase(self, now: float) -> Phase:
        """The strongest limit in force at ``now``."""
        if self.out_until > now:
            return Phase.OUT_OF_ROTATION
        if self.paused_until > now:
            return Phase.PAUSED
        if self.cap < self.rules.max_parallel:
            return Phase.NARROWED
        return Phase.IN_ROTATION

    def has_room(self, ahead: bool) -> bool:
        """The one room predicate: one more job fits in a clone slot, or for a job that
        uploads first (``ahead``) in a prefetch place."""
        return self.admitted < self.cap + (self.rules.prefetch if ahead else 0)

    def has_voice_room(self) -> bool:
        """A voice slot is free (never before the voices are counted, when tracked)."""
        limit = self.rules.max_voices
        return limit is None or (self.voices is not None and self.voices + self.admitted < limit)

    def admissible(self, now: float) -> bool:
        """In rotation, with a voice slot and room for at least a job uploading ahead."""
        return self.out_until <= now and self.has_room(True) and self.has_voice_room()

    def may_send(self, now: float) -> bool:
        """A clone slot is free and no 429 pause holds the account."""
        return self.cloning < self.cap and self.paused_until <= now

    def hopeless(self) -> bool:
        """Full, with no admitted job that might fail and no temporary voice to be deleted:
        no job will ever be admitted here as things stand."""
        limit = self.rules.max_voices
        return (
            limit is not None
            and self.voices is not None
            and self.voices >= limit
            and self.admitted == 0
            and self.leased == 0
        )

    def unavailable(self, now: float) -> ErrorFactory | None:
        """The error for jobs pinned here while out of rotation, else ``None``."""
        return self.out_error if self.out_until > now else None

    def load(self) -> tuple[float, int]:
        """How busy the account is, for placement: share of its slots, then voices."""
        return (self.admitted / self.cap, (self.voices or 0) + self.admitted)

    def statistics(self, now: float, waiting: int) -> AccountStatistics:
        """The account at a glance (``waiting``: the jobs the scheduler holds for it)."""
        return AccountStatistics(
            in_flight=self.cloning,
            waiting=waiting,
            admitted=self.admitted,
            cap=self.cap,
            voices=self.voices,
            reserved=self.admitted,
            paused_for=max(0.0, self.paused_until - now),
            out_of_rotation_for=max(0.0, self.out_until - now),
        )

    # ------------------------------------------------------------------ transitions

    def claim_name(self, name: str | None) -> None:
        """One more live job of this name here."""
        if name is not None:
            self.names[name] = self.names.get(name, 0) + 1

    def forget_name(self, name: str) -> None:
        """One live job of this name less."""
        left = self.names.get(name, 0) - 1
        if left > 0:
            self.names[name] = left
        else:
            self.names.pop(name, None)

    def admit(self, name: str | None, seq: int) -> Ticket:
        """Admit a job: it holds one voice slot here until :meth:`finish`."""
        self.admitted += 1
        return Ticket(self.name, name, seq, self)

    def take_slot(self) -> None:
        """An admitted job takes a clone slot."""
        self.cloning += 1

    def release_slot(self) -> None:
        """A clone slot is given back."""
        self.cloning -= 1

    def finish(self, name: str | None, *, created: bool, lease: bool) -> None:
        """An admitted job ends: its reservation is freed; its voice counted if created."""
        self.admitted -= 1
        if created and self.voices is not None:
            self.voices += 1
        if created and lease:
            self.leased += 1
        if name is not None:
            self.forget_name(name)

    def counted(self, voices: int) -> None:
        """The voices were listed (the first count wins; later changes are tracked)."""
        if self.voices is None:
            self.voices = voices

    def voice_deleted(self) -> bool:
        """A voice was deleted; whether that freed a known slot."""
        if self.voices is not None and self.voices > 0:
            self.voices -= 1
            return True
        return False

    def end_lease(self) -> bool:
        """A temporary voice's lease ended; whether one was open."""
        if self.leased > 0:
            self.leased -= 1
            return True
        return False

    def pause(self, now: float, seconds: float) -> float | None:
        """A 429 to a clone alone: send no clone for ``seconds``. The pause's end, if it
        moved (a shorter pause inside a longer one changes nothing)."""
        until = now + seconds
        if until > self.paused_until:
            self.paused_until = until
            return until
        return None

    def narrow(self, now: float, seconds: float) -> float | None:
        """A 429 beside another clone: run one clone at a time for ``seconds``.

        Each such 429 is a strike; ``rules.strikes_needed`` within the strike window keep
        the cap at one for ``rules.lowered_for``. Returns when to :meth:`restore_cap`, if
        that moved.
        """
        self.strikes.append(now)
        while self.strikes and self.strikes[0] < now - RATE_LIMIT_STRIKE_WINDOW:
            self.strikes.popleft()
        if len(self.strikes) >= self.rules.strikes_needed:
            self.strikes.clear()
            seconds = max(seconds, self.rules.lowered_for)
        self.cap = 1
        until = now + seconds
        if until > self.cap_until:
            self.cap_until = until
            return until
        return None

    def restore_cap(self, now: float) -> bool:
        """Back to the full cap, unless narrowed again since; whether it was restored."""
        if now >= self.cap_until and self.cap != self.rules.max_parallel:
            self.cap = self.rules.max_parallel
            return True
        return False

    def take_out(self, now: float, seconds: float, error: ErrorFactory) -> float:
        """A 596/412: out of rotation for ``seconds`` (jobs pinned here fail with
        ``error()``). Returns when it comes back."""
        self.out_until = max(self.out_until, now + seconds)
        self.out_error = error
        return now + seconds


#: The old name of :class:`AccountState`.
_Account = AccountState


@attrs.define(eq=False)
class Ticket:
    """An admitted job: it holds one voice-slot reservation on ``account`` until finished."""

    account: str | None
    name: str | None
    seq: int
    #: The account's state (for the scheduler that admitted it).
    state: AccountState = attrs.field(repr=False)
    holds_clone_slot: bool = False
    finished: bool = False


@attrs.frozen
class AccountStatistics:
    """One account's clone queue at a glance.

    Attributes:
        in_flight: Clone requests on the wire now.
        waiting: Jobs waiting for this account (to be admitted or for a clone slot).
        admitted: Jobs admitted here (uploading, waiting for a slot, or cloning).
        cap: Clone slots now (2, or 1 while lowered after repeated 429s).
        voices: Cloned voices the client knows of (``None`` until learned).
        reserved: Voice slots held by admitted jobs.
        paused_for: Seconds left of a 429 pause (0 when not paused).
        out_of_rotation_for: Seconds left out of rotation after a 596/412 (0 when in).
    """

    in_flight: int
    waiting: int
    admitted: int
    cap: int
    voices: int | None
    reserved: int
    paused_for: float
    out_of_rotation_for: float


@attrs.frozen
class CloneStatistics:
    """The whole clone queue: per account, plus jobs not yet given an account."""

    accounts: Mapping[str | None, AccountStatistics]
    unassigned_waiting: int

    @property
    def in_flight(self) -> int:
        """Clone requests on the wire now, all accounts together."""
        return sum(a.in_flight for a in self.accounts.values())

    @property
    def waiting(self) -> int:
        """Jobs waiting, all accounts together (unassigned ones included)."""
        return self.unassigned_waiting + sum(a.waiting for a in self.accounts.values())


def out_of_rotation_error(
    account: str | None, until: float, status: int, detail: str
) -> ErrorFactory:
    """An :data:`ErrorFactory` for :meth:`CloneScheduler.take_out_of_rotation`."""
    return lambda: AccountUnavailableError(account, until, status, detail)
