"""One account's state machine (``_accounts.AccountState``): no event loop, no clock, no sleep.

Every transition takes ``now`` (a plain number here) and says when to wake, if at all.
"""

from __future__ import annotations

import pytest

from minimax_async import AccountUnavailableError
from minimax_async._accounts import (
    RATE_LIMIT_STRIKE_WINDOW,
    AccountRules,
    AccountState,
    Phase,
    Ticket,
)

NOW = 1000.0


def account(
    *,
    max_voices: int | None = 4,
    voices: int | None = 0,
    prefetch: int = 1,
    strikes_needed: int = 3,
    lowered_for: float = 300.0,
) -> AccountState:
    rules = AccountRules(2, max_voices, prefetch, strikes_needed, lowered_for)
    state = AccountState("a", rules)
    if voices is not None:
        state.counted(voices)
    return state


def out_error() -> AccountUnavailableError:
    return AccountUnavailableError("a", NOW + 60, 596, "on hold")


def test_a_new_account_is_in_rotation_at_full_cap_and_waits_for_its_count() -> None:
    """Until its voices are counted a tracked account admits nobody; then it does."""
    state = account(voices=None)
    assert (state.phase(NOW), state.cap, state.voices) == (Phase.IN_ROTATION, 2, None)
    assert not state.admissible(NOW)
    state.counted(1)
    assert state.admissible(NOW)
    state.counted(3)  # the first count stands; later changes are tracked, not re-listed
    assert state.voices == 1
    assert account(max_voices=None, voices=None).admissible(NOW)  # untracked: no count needed


def test_admit_and_finish_hold_and_free_one_voice_slot() -> None:
    """admit reserves a voice slot (admitted == reserved); finish frees it, counting the
    voice if one was created, and a lease if the voice is temporary."""
    state = account(voices=2)
    ticket = state.admit("Alice", seq=7)
    assert isinstance(ticket, Ticket)
    assert (ticket.account, ticket.name, ticket.seq) == ("a", "Alice", 7)
    assert (state.admitted, state.reserved) == (1, 1)
    state.finish("Alice", created=True, lease=False)
    assert (state.admitted, state.voices, state.leased) == (0, 3, 0)
    state.admit(None, seq=8)
    state.finish(None, created=True, lease=True)
    assert (state.voices, state.leased) == (4, 1)
    state.admit(None, seq=9)
    state.finish(None, created=False, lease=True)  # nothing created: no lease
    assert (state.voices, state.leased) == (4, 1)


def test_names_are_counted_per_live_job() -> None:
    """claim_name / forget_name count live jobs per name; finish forgets the name."""
    state = account()
    state.claim_name("Alice")
    state.claim_name("Alice")
    state.claim_name(None)  # nameless jobs are not counted
    assert state.names == {"Alice": 2}
    state.forget_name("Alice")
    assert state.names == {"Alice": 1}
    state.admit("Alice", seq=1)
    state.finish("Alice", created=False, lease=False)
    assert state.names == {}
    state.forget_name("Bob")  # forgetting an unknown name is harmless
    assert state.names == {}


def test_room_is_one_predicate_for_free_slots_and_prefetch_places() -> None:
    """has_room(ahead) is the room rule; admissible adds rotation and voice slots."""
    state = account(max_voices=None, prefetch=1)
    state.admit(None, seq=1)
    state.admit(None, seq=2)
    assert not state.has_room(False)  # both clone slots' worth admitted
    assert state.has_room(True)  # an uploading job may go one ahead
    assert state.admissible(NOW)
    state.admit(None, seq=3)
    assert not state.has_room(True)
    assert not state.admissible(NOW)


def test_voice_slots_fill_then_hopeless_unless_a_reservation_or_lease_may_free_one() -> None:
    """A full account is hopeless only with no admitted job and no open lease."""
    state = account(voices=3)
    ticket = state.admit("x", seq=1)
    assert not state.has_voice_room()  # 3 voices + 1 reservation = 4
    assert not state.hopeless()  # the admitted job may still fail
    state.finish(ticket.name, created=True, lease=True)
    assert not state.hopeless()  # its temporary voice will be deleted
    assert state.end_lease() is True
    assert state.hopeless()
    assert state.end_lease() is False  # no lease left to end
    assert state.voice_deleted() is True
    assert (state.voices, state.hopeless(), state.has_voice_room()) == (3, False, True)
    empty = account(voices=0)
    assert empty.voice_deleted() is False  # nothing to delete
    assert account(voices=None).voice_deleted() is False  # not counted yet
    assert not account(max_voices=None).hopeless()


def test_clone_slots_taken_and_released() -> None:
    """may_send: a free clone slot and no pause."""
    state = account()
    state.take_slot()
    state.take_slot()
    assert (state.cloning, state.may_send(NOW)) == (2, False)
    state.release_slot()
    assert state.may_send(NOW)


def test_pause_stops_sending_until_its_deadline_and_only_a_longer_one_moves_it() -> None:
    """pause returns the deadline to wake at; a shorter pause within it returns None."""
    state = account()
    assert state.pause(NOW, 30.0) == NOW + 30
    assert state.phase(NOW) is Phase.PAUSED
    assert not state.may_send(NOW + 29.9)
    assert state.admissible(NOW)  # a pause stops clones, not admissions (uploads go ahead)
    assert state.pause(NOW + 10, 5.0) is None  # ends before the current pause
    assert state.pause(NOW + 10, 30.0) == NOW + 40
    assert state.phase(NOW + 40) is Phase.IN_ROTATION
    assert state.may_send(NOW + 40)


def test_narrow_runs_one_clone_until_its_deadline_then_restore_cap() -> None:
    """narrow sets the cap to 1 and returns when to restore it; restore_cap refuses early
    and after a later narrowing, and restores at the deadline."""
    state = account(strikes_needed=5)
    assert state.narrow(NOW, 20.0) == NOW + 20
    assert (state.cap, state.phase(NOW)) == (1, Phase.NARROWED)
    assert state.restore_cap(NOW + 19) is False
    assert state.narrow(NOW + 5, 5.0) is None  # inside the current narrowing
    assert state.narrow(NOW + 10, 20.0) == NOW + 30  # later: the deadline moves
    assert state.restore_cap(NOW + 20) is False  # narrowed again since
    assert state.restore_cap(NOW + 30) is True
    assert (state.cap, state.phase(NOW + 30)) == (2, Phase.IN_ROTATION)
    assert state.restore_cap(NOW + 31) is False  # already at the full cap


def test_strikes_within_the_window_lower_the_cap_for_longer() -> None:
    """cap_lowering_strikes narrowings within the window hold the cap for lowered_for;
    strikes older than the window do not count."""
    state = account(strikes_needed=3, lowered_for=300.0)
    state.narrow(NOW, 1.0)
    state.narrow(NOW + RATE_LIMIT_STRIKE_WINDOW + 1, 1.0)  # the first strike has expired
    assert state.narrow(NOW + RATE_LIMIT_STRIKE_WINDOW + 2, 1.0) == pytest.approx(
        NOW + RATE_LIMIT_STRIKE_WINDOW + 3
    )  # two live strikes: still the Retry-After time
    at = NOW + RATE_LIMIT_STRIKE_WINDOW + 4
    assert state.narrow(at, 1.0) == at + 300.0  # the third live strike
    assert len(state.strikes) == 0  # counted afresh after a lowering


def test_take_out_of_rotation_until_its_deadline() -> None:
    """take_out returns when the account comes back; meanwhile it admits nobody and pinned
    jobs get its error; a later, shorter take-out does not shorten it."""
    state = account()
    assert state.take_out(NOW, 60.0, out_error) == NOW + 60
    assert state.phase(NOW + 59) is Phase.OUT_OF_ROTATION
    assert not state.admissible(NOW + 59)
    error = state.unavailable(NOW + 59)
    assert error is not None
    assert isinstance(error(), AccountUnavailableError)
    assert state.take_out(NOW + 1, 10.0, out_error) == NOW + 11  # the wake-up asked for
    assert state.out_until == NOW + 60  # but the longer time stands
    assert state.unavailable(NOW + 60) is None
    assert (state.phase(NOW + 60), state.admissible(NOW + 60)) == (Phase.IN_ROTATION, True)


def test_phase_names_the_strongest_limit() -> None:
    """Out of rotation over paused over narrowed over in rotation."""
    state = account()
    state.narrow(NOW, 100.0)
    state.pause(NOW, 50.0)
    state.take_out(NOW, 10.0, out_error)
    assert [state.phase(NOW + t) for t in (0, 10, 50, 100)] == [
        Phase.OUT_OF_ROTATION,
        Phase.PAUSED,
        Phase.NARROWED,
        Phase.NARROWED,  # the cap comes back through restore_cap, not by itself
    ]
    state.restore_cap(NOW + 100)
    assert state.phase(NOW + 100) is Phase.IN_ROTATION


def test_load_and_statistics() -> None:
    """load orders accounts for placement; statistics read the state at ``now``."""
    state = account(voices=1)
    state.admit(None, seq=1)
    state.take_slot()
    state.pause(NOW, 10.0)
    assert state.load() == (0.5, 2)
    stats = state.statistics(NOW + 4, waiting=3)
    assert (stats.in_flight, stats.waiting, stats.admitted, stats.reserved) == (1, 3, 1, 1)
    assert (stats.cap, stats.voices, stats.out_of_rotation_for) == (2, 1, 0.0)
    assert stats.paused_for == pytest.approx(6.0)
