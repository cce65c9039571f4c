"""The jobs bulk runs hold back, and the offers of room to them (``HeldBack.grow``).

``clone_many`` sizes its runner pools to the clone slots in use. When an account gets room
back that no runner takes (a pause ends, an account returns to rotation), the pool of jobs
for any account is asked for one more runner. The scheduler reaches the bulk runner only
through here and the :class:`~minimax_async._coordinator.HeldBack` protocol.

Raw asyncio here, for a reason: the offer waits one event-loop step (``call_soon``), so that
the runner that freed a slot, which usually takes it again at once, goes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._accounts import AccountState, Ticket, _Fifo
from ._coordinator import HeldBack

__all__ = ["RoomOffers"]


class RoomOffers:
    """Held-back jobs of bulk runs, by id, and the pending offer of room to them.

    Args:
        rotation: The accounts placed jobs may use.
        placeable: Whether placed jobs may use an account (in O(1): an offer follows
            nearly every slot's release, and a run may have thousands of accounts).
        unpinned: The scheduler's queue of jobs to place (no offer while it has any).
        now: The scheduler's clock.
    """

    def __init__(
        self,
        rotation: Callable[[], list[AccountState]],
        placeable: Callable[[AccountState], bool],
        unpinned: _Fifo[Ticket],
        now: Callable[[], float],
    ) -> None:
        self._rotation = rotation
        self._placeable = placeable
        self._unpinned = unpinned
        self._now = now
        #: Jobs for any account (counted as waiting for an account; offered room).
        self.held_back: dict[int, HeldBack] = {}
        #: Jobs pinned to an account (counted as waiting for it; never offered room).
        self.held_pinned: dict[int, HeldBack] = {}
        #: Where an offer is due at the next loop step (``None``: every account).
        self._offer_to: set[AccountState] | None = set()
        self._handle: asyncio.Handle | None = None

    def hold(self, jobs: HeldBack) -> None:
        """Register held-back jobs (see :meth:`CloneScheduler.hold`)."""
        held = self.held_back if jobs.account is None else self.held_pinned
        held[id(jobs)] = jobs

    def unhold(self, jobs: HeldBack) -> None:
        """Forget them (idempotent)."""
        held = self.held_back if jobs.account is None else self.held_pinned
        held.pop(id(jobs), None)

    def changed(self, only: AccountState | None) -> None:
        """An account's state changed (``None``: any may have): offer its room, if no
        waiting job takes it by the next loop step. Call only while jobs are held back."""
        if only is None:
            self._offer_to = None
        elif self._offer_to is not None:
            self._offer_to.add(only)
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self._offer)

    def cancel(self) -> None:
        """Drop the pending offer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._offer_to = set()

    def waiting(self) -> tuple[int, dict[str | None, int]]:
        """Held-back jobs for any account, and per account for pinned ones."""
        per_account: dict[str | None, int] = {}
        for pool in self.held_pinned.values():
            per_account[pool.account] = per_account.get(pool.account, 0) + len(pool)
        return sum(len(jobs) for jobs in self.held_back.values()), per_account

    def _offer(self) -> None:
        """Give a held-back job a runner if an account has a clone slot that no waiting job
        takes (the runner that freed it usually takes it again at once)."""
        states = self._rotation() if self._offer_to is None else self._offer_to
        self._handle = None
        self._offer_to = set()
        if self._unpinned.items:
            return
        now = self._now()
        placeable = self._placeable
        if any(
            s.has_room(False)  # a free clone slot
            and s.paused_until <= now  # a pause's end dispatches (and offers) again
            and placeable(s)
            and s.admissible(now)
            for s in states
        ):
            for held in self.held_back.values():
                if len(held):
                    held.grow()
                    return
