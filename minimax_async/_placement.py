"""Stage 1 of the clone queue: which waiting job is admitted where, and which fails at once.

A job is admitted at once when nobody waits and its account has room (the fast path: no
waiter at all); otherwise jobs are admitted oldest first across the jobs pinned to an
account and the jobs the client places; a placed job goes to the least-loaded account that
can take it; when no account will ever take a queue's jobs (every voice slot used for good,
or out of rotation), they fail at once instead of waiting. The scheduler
(:mod:`minimax_async._scheduler`) runs these after every change of state; the accounts' own
rules are in :mod:`minimax_async._accounts`. Synchronous throughout: a grant or a failure is
set on the waiter's future here.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._accounts import AccountState, ErrorFactory, Ticket, _Fifo, _Waiter
from ._exceptions import VoiceSlotsExhaustedError

__all__ = ["Placement"]


class Placement:
    """Admission decisions over a scheduler's accounts and its queue of jobs to place.

    Args:
        accounts: The scheduler's accounts, by name (shared: the scheduler adds to it).
        unpinned: The scheduler's queue of jobs to place (shared).
        fixed_accounts: Placed jobs may use every account (``False``: single-account mode,
            where they use the ``None`` account only).
        max_voices: Voice slots per account, for the error when none is left.
    """

    def __init__(
        self,
        accounts: dict[str | None, AccountState],
        unpinned: _Fifo[Ticket],
        *,
        fixed_accounts: bool,
        max_voices: int | None,
    ) -> None:
        self._accounts = accounts
        self._unpinned = unpinned
        self._fixed_accounts = fixed_accounts
        self._max_voices = max_voices
        self._rr = 0

    def rotation(self) -> list[AccountState]:
        """The accounts placed jobs may use (in rotation now or not)."""
        if self._fixed_accounts:
            return list(self._accounts.values())
        return [self._accounts[None]]

    def placeable(self, state: AccountState) -> bool:
        """Whether placed jobs may use ``state`` (it is in :meth:`rotation`), in O(1)."""
        return self._fixed_accounts or state.name is None

    def at_once(
        self,
        state: AccountState | None,
        account: str | None,
        name: str | None,
        ahead: bool,
        now: float,
        seq: int,
        *,
        counted: bool,
    ) -> Ticket | None:
        """The fast path of admission: nobody waits and there is room, so the job needs no
        waiter. ``state``: a pinned job's account (``None`` for a job to place, with
        ``account`` its preference); ``counted``: every account in rotation is counted."""
        if self._unpinned.items:
            return None
        if state is None:
            if account is None or not self._fixed_accounts:
                return None
            # A bulk runner takes the slot its last job freed again, without a waiter or a
            # look at every account: with nobody waiting, any account with room will do,
            # and this one is found at once (the voice slots still decide, via admissible).
            state = self._accounts.get(account)
            if (
                state is None
                or not counted
                or state.paused_until > now
                or (name is not None and name in state.names)
            ):
                return None
        if state.pinned.items or not state.admissible(now) or not state.has_room(ahead):
            return None
        state.claim_name(name)
        return state.admit(name, seq)

    @staticmethod
    def serve_pinned(states: Iterable[AccountState], now: float) -> None:
        """Only pinned waiters: the accounts are independent, each serves its own FIFO."""
        for state in states:
            pinned = state.pinned
            while pinned.items and state.admissible(now):
                head = pinned.head()
                if head is None or not state.has_room(head.ahead):
                    break
                pinned.pop()
                _grant(state, head)

    def admit_oldest_first(
        self, now: float, candidates: Iterable[AccountState], *, counting: bool
    ) -> None:
        """With jobs to place waiting: serve the oldest waiter of all while one fits.

        ``counting``: voice counts are under way; placed jobs wait until every account is
        counted, so that the first account counted does not take them all.
        """
        while True:
            open_accounts = [s for s in candidates if s.admissible(now)]
            if not open_accounts:
                return
            best: _Waiter[Ticket] | None = None
            best_state: AccountState | None = None
            for state in open_accounts:
                head = state.pinned.head()
                if (
                    head is not None
                    and (best is None or head.seq < best.seq)
                    and state.has_room(head.ahead)
                ):
                    best, best_state = head, state
            head = self._unpinned.head() if not counting else None
            if head is not None and (best is None or head.seq < best.seq):
                fitting = [s for s in open_accounts if s.has_room(head.ahead)]
                target = self.least_loaded(fitting, head.name, now) if fitting else None
                if target is not None:
                    best, best_state = head, target
            if best is None or best_state is None:
                return
            if best_state.pinned.head() is best:
                best_state.pinned.pop()
            else:
                self._unpinned.pop()
                best_state.claim_name(best.name)
            _grant(best_state, best)

    def least_loaded(
        self, candidates: list[AccountState], name: str | None, now: float
    ) -> AccountState | None:
        """The placement rule: the least-loaded candidate (not paused, if any is not) where
        ``name`` is not live, taking turns among equals; ``None`` if there is none."""
        if self._fixed_accounts:
            rotation = [s for s in candidates if s.paused_until <= now] or candidates
        else:
            rotation = [s for s in candidates if s.name is None]
        if name is not None:
            rotation = [s for s in rotation if name not in s.names]
        if not rotation:
            return None
        self._rr += 1
        n = len(rotation)
        return min((rotation[(self._rr + i) % n] for i in range(n)), key=AccountState.load)

    def fail_hopeless(
        self, now: float, states: Iterable[AccountState], only: AccountState | None = None
    ) -> None:
        """Fail the waiters no account will take as things stand (see the module docstring);
        ``only``: the account whose state changed, if just one."""
        for state in states:
            if not state.pinned.items:
                continue
            error = state.unavailable(now)
            if error is None and state.hopeless():
                error = self.slots_error([state])
            if error is not None:
                # Names are forgotten by each failed admit() itself.
                for waiter in state.pinned.drain():
                    waiter.set_exception(error())
        if not self._unpinned.items:
            return
        if only is not None and only.out_until <= now and not only.hopeless():
            return  # an account in rotation can still take them: not every one is hopeless
        rotation = self.rotation()
        in_rotation = [s for s in rotation if s.out_until <= now]
        if not in_rotation:
            out_error = min(rotation, key=lambda s: s.out_until).out_error
            if out_error is not None:
                for waiter in self._unpinned.drain():
                    waiter.set_exception(out_error())
        elif all(s.hopeless() for s in in_rotation):
            error = self.slots_error(in_rotation)
            for waiter in self._unpinned.drain():
                waiter.set_exception(error())

    def slots_error(self, states: list[AccountState]) -> ErrorFactory:
        """The :class:`VoiceSlotsExhaustedError` for jobs that no account can take."""
        counts = {s.name: (s.voices or 0) + s.admitted for s in states}
        limit = self._max_voices or 0
        return lambda: VoiceSlotsExhaustedError(counts, limit)


def _grant(state: AccountState, waiter: _Waiter[Ticket]) -> None:
    waiter.set_result(state.admit(waiter.name, waiter.seq))
