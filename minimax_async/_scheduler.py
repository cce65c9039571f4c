"""Per-account admission of clone jobs: the reason ``asyncio.gather`` of 1,000 clones is safe.

The API runs at most two clones at once per account and keeps at most four cloned voices per
account. Every clone, from :meth:`Client.clone_voice` or from a bulk job, passes two stages:

1. **Admission** (a :class:`Ticket`): the job gets its account and reserves one voice slot
   there. A pinned job waits for its own account; an unpinned one takes the least-loaded
   account that can take it. An account admits a job only while it has a free voice slot
   (known cloned voices + reservations < limit), is in rotation, and holds fewer than
   ``cap + prefetch`` admitted jobs, so uploads of the next jobs overlap running clones.
2. **Clone slot**: an admitted job, samples uploaded, waits for one of the account's ``cap``
   clone slots (1 or 2), FIFO, and only while the account is not paused by a 429.

Waiters are served oldest first across both kinds; a busy account never holds up a free one
(there is no global gate). All bookkeeping is synchronous, run on every state change
(:meth:`CloneScheduler._dispatch`), so a freed slot is handed on before the event loop goes
idle, and releasing never needs an ``await`` (nothing to shield from cancellation). A cancelled
waiter takes nothing: it is skipped, and a grant that raced its cancellation is given back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import partial

from ._accounts import (
    MAX_PARALLEL_CLONES_PER_ACCOUNT,
    MAX_VOICES_PER_ACCOUNT,
    PREFETCH_PER_ACCOUNT,
    AccountRules,
    AccountState,
    AccountStatistics,
    CloneStatistics,
    ErrorFactory,
    Phase,
    Ticket,
    _Fifo,
    _Waiter,
    _waiter,
)
from ._accounts import (
    out_of_rotation_error as out_of_rotation_error,  # the client imports it from here
)
from ._coordinator import Clock, Coordinator, HeldBack, Timer
from ._coordinator import NoRoomNow as NoRoomNow  # the client imports it from here
from ._counting import VoiceCounter, VoiceCounts
from ._exceptions import (
    ClientClosedError,
    DuplicateVoiceNameError,
)
from ._offers import RoomOffers
from ._placement import Placement

__all__ = [
    "MAX_PARALLEL_CLONES_PER_ACCOUNT",
    "MAX_VOICES_PER_ACCOUNT",
    "AccountStatistics",
    "CloneScheduler",
    "CloneStatistics",
    "LocalCoordinator",
    "Ticket",
]


class CloneScheduler:
    """Admission control for clones across accounts (see the module docstring).

    Args:
        accounts: The accounts unpinned jobs may use; ``None`` for single-account mode,
            where unpinned jobs use the ``None`` account (the API's default account).
        max_parallel: Clone slots per account (1 or 2).
        max_voices: Voice slots per account, or ``None`` not to track them.
        count_voices: Coroutine giving an account's current cloned-voice count (called once
            per account, on first need).
        prefetch: Jobs admitted beyond the clone slots, so their uploads overlap clones.
            One per account: more would tie more unpinned jobs to an account early, and
            leave other accounts idle at the end of a run.
        cap_lowering_strikes: 429s at full cap within a minute that lower the cap to 1.
        cap_lowered_for: Seconds the lowered cap lasts.
        clock: Where pauses, narrowed caps and rotation read the time and schedule their
            ends; ``None`` (the default) for the running event loop.
    """

    def __init__(
        self,
        *,
        accounts: Iterable[str] | None,
        max_parallel: int,
        max_voices: int | None,
        count_voices: VoiceCounter,
        prefetch: int = PREFETCH_PER_ACCOUNT,
        cap_lowering_strikes: int = 3,
        cap_lowered_for: float = 300.0,
        clock: Clock | None = None,
    ) -> None:
        self._rules = rules = AccountRules(
            max_parallel, max_voices, prefetch, cap_lowering_strikes, cap_lowered_for
        )
        names: list[str | None] = list(accounts) if accounts is not None else [None]
        self._accounts: dict[str | None, AccountState] = {
            name: AccountState(name, rules) for name in names
        }
        self._unpinned: _Fifo[Ticket] = _Fifo()
        self._placement = Placement(
            self._accounts,
            self._unpinned,
            fixed_accounts=accounts is not None,
            max_voices=max_voices,
        )
        self._counts = VoiceCounts(
            count_voices, tracked=max_voices is not None, counted=self._learned
        )
        self._seq = 0
        self._offers = RoomOffers(
            self._placement.rotation, self._placement.placeable, self._unpinned, self._now
        )
        self._fatal: ErrorFactory | None = None
        self._timers: set[Timer] = set()
        self._clock = clock

    # ------------------------------------------------------------------ public

    def hold(self, jobs: HeldBack) -> None:
        """Register jobs a bulk run holds back until one of its runners is free.

        They count as waiting in :meth:`statistics` (for their account, or unassigned when
        ``jobs.account`` is ``None``). Jobs for any account are also offered room: when an
        account has a clone slot that no waiting job takes, ``jobs.grow()`` is called. Call
        :meth:`unhold` when the run ends.
        """
        self._offers.hold(jobs)

    def unhold(self, jobs: HeldBack) -> None:
        """Forget jobs registered with :meth:`hold` (safe to call twice)."""
        self._offers.unhold(jobs)

    async def aclose(self) -> None:
        """Stop every task and timer the scheduler started, and wait until they have ended.

        Waiters still queued fail as with :meth:`fail_all` (a :class:`ClientClosedError`
        unless ``fail_all`` already gave them their error). Voice counts under way are
        cancelled and awaited; pending pause, cap and room-offer timers are cancelled.
        Safe to call more than once.
        """
        if self._fatal is None:
            self.fail_all(lambda: ClientClosedError("the client was closed"))
        else:
            self._cancel_timers()
        await self._counts.aclose()

    async def admit(
        self,
        account: str | None,
        *,
        pinned: bool,
        name: str | None,
        ahead: bool = False,
        give_up: bool = False,
    ) -> Ticket:
        """Wait until the job is admitted; return its ticket.

        Args:
            account: The pinned account. For a job the scheduler places (``pinned`` false),
                an account to prefer if it can take the job at once, nobody waiting: the
                account of the caller's previous job, whose slot has just come free.
            pinned: Whether the job must run on ``account``.
            name: The voice name, to keep one live job per name and account.
            ahead: The job uploads samples after admission, so it may be admitted up to
                ``prefetch`` jobs ahead of a free clone slot. A job with nothing to upload is
                admitted only into a free slot: admitting it early would tie it to an
                account while another account may free a slot first.
            give_up: For a job the scheduler places: raise :class:`NoRoomNow` rather than
                wait (a bulk runner with more runners than room stops instead).

        Raises:
            NoRoomNow: ``give_up`` was asked and the job would have to wait.
            DuplicateVoiceNameError: A live job clones the same name on this account.
            VoiceSlotsExhaustedError: No account will ever have room for it.
            AccountUnavailableError: Its account (or every account) is out of rotation.
        """
        self._raise_if_fatal()
        loop = asyncio.get_running_loop()
        now = (self._clock or loop).time()
        state: AccountState | None = None
        if pinned:
            state = self._pinned_state(account, name, now)
        elif not self._counts.rotation_counted:
            self._counts.rotation(self._placement.rotation(), now)
        self._seq += 1
        ticket = self._placement.at_once(
            state, account, name, ahead, now, self._seq, counted=self._counts.rotation_counted
        )
        if ticket is not None:
            return ticket
        # The wait is awaited here, not in a helper coroutine: a second coroutine frame per
        # queued job would cost ~290 B each (tests/functional/test_memory.py).
        waiter = self._enqueue(state, name, ahead, give_up, loop)
        try:
            return await waiter
        except asyncio.CancelledError:
            self._abandon(waiter, state)
            raise
        except BaseException:
            if state is not None and name is not None:
                state.forget_name(name)
            raise

    def _pinned_state(self, account: str | None, name: str | None, now: float) -> AccountState:
        """A pinned job's account, after the checks that refuse it at once."""
        state = self._account(account)
        if state.out_error is not None:
            unavailable = state.unavailable(now)
            if unavailable is not None:
                raise unavailable()
        if state.voices is None:
            self._counts.start(state)
        if name is not None and name in state.names:
            raise DuplicateVoiceNameError(
                "voice_name",
                f"{name!r} is already being cloned on account {state.name}; "
                "one live job per name and account (see the README)",
            )
        return state

    def _enqueue(
        self,
        state: AccountState | None,
        name: str | None,
        ahead: bool,
        give_up: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> _Waiter[Ticket]:
        """The slow path: queue a waiter (pinned to ``state``, or to place) for admit()."""
        waiter: _Waiter[Ticket] = _waiter(self._seq, name, ahead, loop)
        queue = state.pinned if state is not None else self._unpinned
        # After every dispatch, no waiter at the head of a queue can be admitted (or failed)
        # yet; one more waiter behind a live head changes nothing, so only a waiter that
        # becomes a head needs a dispatch (the common case in a big gather is the other).
        behind = queue.head() is not None
        if give_up and state is None and behind:
            raise NoRoomNow
        if state is not None:
            state.claim_name(name)
        queue.push(waiter)
        if not behind:
            self._dispatch(state)
        if give_up and state is None and not waiter.done():
            queue.items.pop()  # still the last one: only a grant or a failure removes it
            raise NoRoomNow
        return waiter

    async def acquire_clone(self, ticket: Ticket, *, front: bool = False) -> None:
        """Wait for one of the ticket's account clone slots (FIFO; ``front`` for a retry)."""
        self._raise_if_fatal()
        state = ticket.state
        loop = asyncio.get_running_loop()
        if not state.clone_queue.items and state.may_send((self._clock or loop).time()):
            state.take_slot()  # a free slot and nobody ahead: take it
            ticket.holds_clone_slot = True
            return
        self._seq += 1
        waiter: _Waiter[None] = _waiter(self._seq, None, False, loop)
        state.clone_queue.push(waiter, front=front)
        self._dispatch(state)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                if waiter.exception() is None:  # granted as we were cancelled
                    state.release_slot()
                    self._dispatch(state)
            else:
                state.clone_queue.dead += 1
            raise
        ticket.holds_clone_slot = True

    def sending(self, ticket: Ticket) -> None:
        """The ticket's clone request goes on the wire (nothing to record in one process)."""

    def rate_limited(self, ticket: Ticket, seconds: float) -> None:
        """A 429 on the ticket's clone, which still holds its slot: beside another clone of
        the account, run it at one clone (:meth:`narrow`); alone, pause it (:meth:`pause`)."""
        if self.beside_others(ticket):
            self.narrow(ticket.account, seconds)
        else:
            self.pause(ticket.account, seconds)

    def beside_others(self, ticket: Ticket) -> bool:
        """Whether another clone of the ticket's account is in flight besides its own."""
        return ticket.state.cloning > 1

    def release_clone(self, ticket: Ticket) -> None:
        """Give back the ticket's clone slot (safe to call when it holds none)."""
        if ticket.holds_clone_slot:
            ticket.holds_clone_slot = False
            state = ticket.state
            state.release_slot()
            if state.clone_queue.items:  # admission does not depend on clone slots
                self._dispatch(state)

    def finish(
        self,
        ticket: Ticket,
        *,
        created: bool,
        lease: bool = False,
        voice_id: str | None = None,
    ) -> None:
        """End the ticket: free its reservation; count the voice if one was created
        (``voice_id``, its id when known, is for coordinators that track ids).

        With ``lease`` the new voice is temporary: the caller promises to delete it and to
        call :meth:`end_lease`, so jobs waiting for a slot keep waiting rather than fail.
        """
        if ticket.finished:
            return
        self.release_clone(ticket)
        ticket.finished = True
        state = ticket.state
        state.finish(ticket.name, created=created, lease=lease)
        self._dispatch(state)

    def voice_deleted(self, account: str | None, voice_id: str | None = None) -> None:
        """A cloned voice of ``account`` was deleted: its slot is free for waiting jobs
        (``voice_id``, its id when known, is for coordinators that track ids)."""
        state = self._accounts.get(account)
        if state is not None and state.voice_deleted():
            self._dispatch(state)

    def end_lease(self, account: str | None) -> None:
        """A temporary voice's lease ended (deleted, or the delete failed)."""
        state = self._accounts.get(account)
        if state is not None and state.end_lease():
            self._dispatch(state)

    def pause(self, account: str | None, seconds: float) -> None:
        """Pause ``account``'s clone slots for ``seconds`` (a 429 at one clone in flight)."""
        until = self._account(account).pause(self._now(), seconds)
        if until is not None:
            self._call_at(until)

    def narrow(self, account: str | None, seconds: float) -> None:
        """Run ``account`` at one clone for ``seconds``: a 429 came while it ran at full cap.

        The server has just shown that it takes one clone now, so the account keeps working
        at one instead of pausing. Each such 429 is a strike; ``cap_lowering_strikes`` of
        them within a minute keep the account at one for ``cap_lowered_for``.
        """
        state = self._account(account)
        until = state.narrow(self._now(), seconds)
        if until is not None:
            self._timers.add(self._time().call_at(until, partial(self._restore_cap, state)))

    def take_out_of_rotation(
        self, account: str | None, seconds: float, error: ErrorFactory
    ) -> None:
        """Take ``account`` out of rotation for ``seconds``.

        Jobs pinned to it and admitted jobs waiting for its clone slots fail with
        ``error()``; unpinned jobs go to the other accounts.
        """
        state = self._account(account)
        self._call_at(state.take_out(self._now(), seconds, error))
        # Admitted jobs waiting for a clone slot here learn it now, so unpinned ones can
        # move to another account instead of sending into a known 596/412.
        for waiter in state.clone_queue.drain():
            waiter.set_exception(error())
        self._dispatch()

    def is_out_of_rotation(self, account: str | None) -> bool:
        """Whether ``account`` is out of rotation now."""
        state = self._accounts.get(account)
        return state is not None and state.phase(self._now()) is Phase.OUT_OF_ROTATION

    def unavailable_error(self, account: str | None) -> BaseException | None:
        """The error for a job pinned to ``account`` if it is out of rotation, else None."""
        state = self._accounts.get(account)
        error = state.unavailable(self._now()) if state is not None else None
        return error() if error is not None else None

    def fail_all(self, error: ErrorFactory) -> None:
        """Fail every waiter with ``error()``, and every later admission too (401, closing)."""
        self._fatal = error
        waiters: list[_Waiter[Ticket]] | list[_Waiter[None]]
        for state in self._accounts.values():
            for waiters in (state.pinned.drain(), state.clone_queue.drain()):
                for waiter in waiters:
                    waiter.set_exception(error())
            state.names.clear()
        for waiter in self._unpinned.drain():
            waiter.set_exception(error())
        self._cancel_timers()

    def _cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._offers.cancel()

    def statistics(self) -> CloneStatistics:
        """In-flight and waiting counts, per account and overall."""
        now = self._now() if self._clock is not None or self._has_loop() else 0.0
        held, held_for = self._offers.waiting()
        accounts = {
            name: s.statistics(now, len(s.pinned) + len(s.clone_queue) + held_for.get(name, 0))
            for name, s in self._accounts.items()
        }
        return CloneStatistics(accounts, len(self._unpinned) + held)

    @property
    def capacity(self) -> int:
        """The most jobs the accounts in rotation can have admitted at once (clone slots
        plus prefetch, at the full cap)."""
        return len(self._placement.rotation()) * self.account_capacity(prefetch=True)

    def account_capacity(self, *, prefetch: bool) -> int:
        """The most jobs one account can have admitted at once: its clone slots at the full
        cap, plus ``prefetch`` jobs uploading ahead if the jobs upload."""
        return self._rules.max_parallel + (self._rules.prefetch if prefetch else 0)

    @property
    def accounts(self) -> tuple[str | None, ...]:
        """Every account the scheduler knows, in rotation or not."""
        return tuple(self._accounts)

    # ------------------------------------------------------------------ internals

    def _account(self, name: str | None) -> AccountState:
        state = self._accounts.get(name)
        if state is None:
            # Single-account mode: a caller may still name accounts explicitly.
            state = self._accounts[name] = AccountState(name, self._rules)
        return state

    def count_ahead(self, accounts: Iterable[str | None]) -> None:
        """Start counting the voices of the accounts a bulk run is about to use, now.

        Each job would start its account's count as it asks for admission, but a bulk run
        starts its runners first, and the counts would then wait behind them. Accounts that
        are unknown or out of rotation are left to ``admit``, which reports them.
        """
        self._counts.ahead((self._accounts.get(name) for name in accounts), self._now())

    def _learned(self, state: AccountState, counting: asyncio.Future[int]) -> None:
        error = counting.exception()  # retrieved even when unused: no "never retrieved"
        if self._fatal is not None:
            return  # its waiters have already failed
        if error is None:
            state.counted(counting.result())
            # Unpinned jobs wait until every account is counted, then may go to any.
            self._dispatch(state if self._counts.loading else None)
            return
        # The jobs waiting for this account fail with the reason it could not be counted
        # (names are forgotten by each failed admit()). Unpinned jobs do without an account
        # that has just gone out of rotation (the client does that on a 596/412); any other
        # failure is theirs too, as no count means no safe placement.
        for waiter in state.pinned.drain():
            waiter.set_exception(error)
        if not self.is_out_of_rotation(state.name):
            for waiter in self._unpinned.drain():
                waiter.set_exception(error)
        self._dispatch()

    def _has_loop(self) -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal()

    def _abandon(self, waiter: _Waiter[Ticket], state: AccountState | None) -> None:
        if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            self.finish(waiter.result(), created=False)  # granted as we were cancelled
            return
        if not waiter.done() or waiter.cancelled():
            (state.pinned if state is not None else self._unpinned).dead += 1
        if state is not None and waiter.name is not None:
            state.forget_name(waiter.name)
        self._dispatch(state)

    def _time(self) -> Clock:
        return self._clock or asyncio.get_running_loop()

    def _now(self) -> float:
        return (self._clock or asyncio.get_running_loop()).time()

    def _call_at(self, when: float) -> None:
        self._timers.add(self._time().call_at(when, self._timer_fired))

    def _timer_fired(self) -> None:
        now = self._now()
        self._timers = {h for h in self._timers if h.when() > now and not h.cancelled()}
        self._dispatch()

    def _restore_cap(self, state: AccountState) -> None:
        if state.restore_cap(self._now()):  # not narrowed again since
            self._dispatch(state)

    def _dispatch(self, only: AccountState | None = None) -> None:
        """Hand out every slot that can be handed out now, oldest waiter first.

        After every dispatch no waiter can be admitted anywhere, so when one account's state
        changes, only that account can take a waiter (pinned to it, or unpinned): a
        dispatch costs the same with 2 accounts or 200.

        Args:
            only: The account whose state changed; ``None`` when any may have (timers,
                rotation, the last voice count learned, a new unpinned head).
        """
        if self._fatal is not None:
            return
        now = (self._clock or asyncio.get_running_loop()).time()
        states = self._accounts.values() if only is None else (only,)
        for state in states:  # stage 2: clone slots
            queue = state.clone_queue
            if queue.items:
                while state.may_send(now):
                    waiter = queue.pop()
                    if waiter is None:
                        break
                    state.take_slot()
                    waiter.set_result(None)
        if self._offers.held_back and not self._unpinned.items:
            # Bulk runs size their runner pools to the slots in use (see HeldBack): a slot
            # that nobody takes by the next loop iteration gets one more runner.
            self._offers.changed(only)
        # Deques are checked directly (cheaper than len()): cancelled entries only cost a
        # pass through the slow path.
        placement = self._placement
        if self._unpinned.items:
            placement.admit_oldest_first(now, states, counting=bool(self._counts.loading))
        elif only.pinned.items if only is not None else any(s.pinned.items for s in states):
            placement.serve_pinned(states, now)
        else:
            return  # nobody waits for admission: nothing to admit, nothing to fail
        placement.fail_hopeless(now, states, only)


#: The in-memory :class:`~minimax_async._coordinator.Coordinator`: the default.
LocalCoordinator = CloneScheduler


def _is_a_coordinator(scheduler: CloneScheduler) -> Coordinator[Ticket]:
    return scheduler  # mypy checks that CloneScheduler implements the protocol
