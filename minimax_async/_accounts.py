"""One account's clone state, and the values the scheduler hands out about it.

What one account can take now and how it changes: voices, reservations, admitted jobs, clone
slots in use, the cap, pauses, rotation. The scheduler (:mod:`minimax_async._scheduler`)
decides who waits and who goes; the state it decides on lives here.
"""

from __future__ import annotations

import asyncio
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
    "AccountStatistics",
    "CloneStatistics",
    "ErrorFactory",
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


@attrs.define(eq=False)
class _Account:
    name: str | None
    cap: int
    voices: int | None = None
    reserved: int = 0
    leased: int = 0
    admitted: int = 0
    cloning: int = 0
    paused_until: float = 0.0
    out_until: float = 0.0
    out_error: Callable[[], BaseException] | None = None
    #: Live jobs per voice name (a plain dict: Counter's __missing__ costs a Python call).
    names: dict[str, int] = attrs.field(factory=dict)
    pinned: _Fifo[Ticket] = attrs.field(factory=_Fifo)
    clone_queue: _Fifo[None] = attrs.field(factory=_Fifo)
    strikes: deque[float] = attrs.field(factory=deque)
    cap_until: float = 0.0


@attrs.define(eq=False)
class Ticket:
    """An admitted job: it holds one voice-slot reservation on ``account`` until finished."""

    account: str | None
    name: str | None
    seq: int
    _state: _Account = attrs.field(repr=False, alias="state")
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


def _count_name(state: _Account, name: str | None) -> None:
    """One more live job of this name on the account."""
    if name is not None:
        state.names[name] = state.names.get(name, 0) + 1


def _ticket(state: _Account, name: str | None, seq: int) -> Ticket:
    """Admit a job to the account: it holds one of its voice slots until finished."""
    state.admitted += 1
    state.reserved += 1
    return Ticket(state.name, name, seq, state)


def out_of_rotation_error(
    account: str | None, until: float, status: int, detail: str
) -> ErrorFactory:
    """An :data:`ErrorFactory` for :meth:`CloneScheduler.take_out_of_rotation`."""
    return lambda: AccountUnavailableError(account, until, status, detail)
