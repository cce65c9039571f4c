"""CloneScheduler without sockets: admission, clone slots, voice slots, pauses, rotation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
import pytest

from minimax_async import (
    AccountUnavailableError,
    ClientClosedError,
    DuplicateVoiceNameError,
    VoiceSlotsExhaustedError,
)
from minimax_async._scheduler import CloneScheduler, NoRoomNow, Ticket
from tests._clock import ManualClock

pytestmark = pytest.mark.anyio


def counter(counts: dict[str | None, int]) -> Callable[[str | None], Awaitable[int]]:
    async def count(account: str | None) -> int:
        return counts.get(account, 0)

    return count


def make(
    accounts: list[str] | None = None,
    *,
    max_voices: int | None = None,
    counts: dict[str | None, int] | None = None,
    prefetch: int = 1,
    max_parallel: int = 2,
    clock: ManualClock | None = None,
) -> CloneScheduler:
    return CloneScheduler(
        accounts=accounts,
        max_parallel=max_parallel,
        max_voices=max_voices,
        count_voices=counter(counts or {}),
        prefetch=prefetch,
        clock=clock,
    )


async def settle() -> None:
    """Let every other task run until it waits (the scheduler hands out slots synchronously).

    Twice: ``wait_all_tasks_blocked`` sees tasks only, and a voice count's end reaches its
    waiters through a future's done callback, one loop pass after the count's task ends.
    """
    await anyio.wait_all_tasks_blocked()
    await anyio.wait_all_tasks_blocked()


async def test_two_clone_slots_per_account() -> None:
    """At most max_parallel tickets hold a clone slot on one account; the rest queue FIFO."""
    sched = make(["a"])
    order: list[int] = []

    async def job(i: int, release: asyncio.Event) -> None:
        ticket = await sched.admit("a", pinned=True, name=f"v{i}", ahead=True)
        await sched.acquire_clone(ticket)
        order.append(i)
        await release.wait()
        sched.finish(ticket, created=True)

    releases = [asyncio.Event() for _ in range(6)]
    tasks = [asyncio.create_task(job(i, releases[i])) for i in range(6)]
    await settle()
    assert order == [0, 1]
    stats = sched.statistics().accounts["a"]
    # 1 admitted job waits for a clone slot, 3 more wait for admission (cap 2 + prefetch 1)
    assert (stats.in_flight, stats.waiting, stats.admitted) == (2, 4, 3)
    releases[0].set()
    await settle()
    assert order == [0, 1, 2]
    for r in releases:
        r.set()
    await asyncio.gather(*tasks)
    assert sorted(order) == list(range(6))
    assert sched.statistics().in_flight == 0


async def test_free_account_not_blocked_by_busy_one() -> None:
    """A job pinned to an idle account starts although an older job waits on a busy account."""
    sched = make(["a", "b"], prefetch=0)
    held = [await sched.admit("a", pinned=True, name=f"a{i}") for i in range(2)]
    waiting_a = asyncio.create_task(sched.admit("a", pinned=True, name="a-late"))
    await settle()
    assert not waiting_a.done()
    ticket_b = await asyncio.wait_for(sched.admit("b", pinned=True, name="b0"), 1)
    assert ticket_b.account == "b"
    for t in held:
        sched.finish(t, created=False)
    sched.finish(await waiting_a, created=False)
    sched.finish(ticket_b, created=False)


async def test_job_without_uploads_waits_for_a_free_slot() -> None:
    """A job with nothing to upload is admitted only into a free clone slot, not ahead."""
    sched = make(["a", "b"], prefetch=1)
    held = [await sched.admit("a", pinned=True, name=f"h{i}") for i in range(2)]
    ahead = await asyncio.wait_for(sched.admit("a", pinned=True, name="up", ahead=True), 1)
    assert ahead.account == "a"  # an uploading job may wait ahead of the slot
    late = asyncio.create_task(sched.admit(None, pinned=False, name="plain"))
    await settle()
    assert late.done()
    assert late.result().account == "b"  # not tied to the busy account
    for t in [*held, ahead, late.result()]:
        sched.finish(t, created=False)


async def test_release_hands_slot_on_before_loop_idles() -> None:
    """Work conservation: finishing a clone grants the next waiter synchronously."""
    sched = make(["a"], prefetch=0)
    first = await sched.admit("a", pinned=True, name="one")
    second = await sched.admit("a", pinned=True, name="two")
    third = asyncio.create_task(sched.admit("a", pinned=True, name="three"))
    await settle()
    assert not third.done()
    sched.finish(first, created=False)
    await asyncio.sleep(0)  # one loop pass: the waiter's future was resolved in finish()
    assert third.done()
    sched.finish(second, created=False)
    sched.finish(third.result(), created=False)


async def test_cancelled_waiter_takes_nothing() -> None:
    """Cancelling queued admissions leaves no waiter and no reservation behind."""
    sched = make(["a"], prefetch=0)
    held = [await sched.admit("a", pinned=True, name=f"h{i}") for i in range(2)]
    waiters = [asyncio.create_task(sched.admit("a", pinned=True, name=f"w{i}")) for i in range(50)]
    await settle()
    assert sched.statistics().accounts["a"].waiting == 50
    for w in waiters:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    stats = sched.statistics().accounts["a"]
    assert (stats.waiting, stats.admitted, stats.reserved) == (0, 2, 2)
    for t in held:
        sched.finish(t, created=False)
    stats = sched.statistics().accounts["a"]
    assert (stats.admitted, stats.reserved) == (0, 0)
    again = await asyncio.wait_for(sched.admit("a", pinned=True, name="w0"), 1)
    sched.finish(again, created=False)


async def test_unpinned_jobs_spread_over_accounts() -> None:
    """Unpinned jobs go to the least-loaded accounts, all of them used."""
    sched = make(["a", "b", "c"], prefetch=0)
    tickets = [await sched.admit(None, pinned=False, name=f"v{i}") for i in range(6)]
    assert sorted(t.account or "" for t in tickets) == ["a", "a", "b", "b", "c", "c"]
    for t in tickets:
        sched.finish(t, created=False)


async def test_voice_slots_limit_admission_and_fail_fast() -> None:
    """A full account admits nothing; with nothing in flight the waiter fails at once."""
    sched = make(["a", "b"], max_voices=2, counts={"a": 2, "b": 1})
    ticket = await sched.admit(None, pinned=False, name="x")
    assert ticket.account == "b"
    blocked = asyncio.create_task(sched.admit(None, pinned=False, name="y"))
    await settle()
    assert not blocked.done()  # b's reservation might still fail and free the slot
    sched.finish(ticket, created=True)
    with pytest.raises(VoiceSlotsExhaustedError) as info:
        await blocked
    assert info.value.counts == {"a": 2, "b": 2}
    with pytest.raises(VoiceSlotsExhaustedError, match="a: 2/2"):
        await sched.admit("a", pinned=True, name="z")


async def test_deleted_voice_frees_slot_for_waiter() -> None:
    """voice_deleted lets a job waiting for a voice slot proceed."""
    sched = make(["a"], max_voices=1, counts={"a": 0})
    first = await sched.admit("a", pinned=True, name="one")
    waiting = asyncio.create_task(sched.admit("a", pinned=True, name="two"))
    await settle()
    sched.finish(first, created=True)
    await settle()
    assert waiting.done()
    with pytest.raises(VoiceSlotsExhaustedError):
        waiting.result()
    # now with a delete while a waiter waits behind an in-flight job
    sched.voice_deleted("a")
    t2 = await sched.admit("a", pinned=True, name="two")
    third = asyncio.create_task(sched.admit("a", pinned=True, name="three"))
    await settle()
    assert not third.done()
    sched.voice_deleted("a")  # a delete of an older voice during the clone
    await settle()
    assert not third.done()  # still full: t2 holds the only slot
    sched.finish(t2, created=False)
    assert isinstance(await asyncio.wait_for(third, 1), Ticket)


async def test_duplicate_name_on_one_account_refused() -> None:
    """Two live jobs with one name on one account: the second is refused up front."""
    sched = make(["a", "b"])
    ticket = await sched.admit("a", pinned=True, name="same")
    with pytest.raises(DuplicateVoiceNameError):
        await sched.admit("a", pinned=True, name="same")
    other = await sched.admit(None, pinned=False, name="same")
    assert other.account == "b"  # unpinned avoids the account where the name is live
    sched.finish(ticket, created=False)
    sched.finish(other, created=False)


async def test_pause_holds_clone_slots_until_expiry() -> None:
    """A 429 pause stops new clone grants on that account until it ends, then resumes."""
    clock = ManualClock()
    sched = make(["a"], clock=clock)
    ticket = await sched.admit("a", pinned=True, name="x")
    sched.pause("a", 0.05)
    grab = asyncio.create_task(sched.acquire_clone(ticket))
    await settle()
    clock.advance(0.049)
    await settle()
    assert not grab.done()
    assert sched.statistics().accounts["a"].paused_for > 0
    clock.advance(0.001)
    await asyncio.wait_for(grab, 1)
    sched.finish(ticket, created=False)


async def test_429_at_full_cap_narrows_then_strikes_lower_the_cap() -> None:
    """A 429 beside a running clone: one clone for Retry-After; three within a minute: longer."""
    sched = CloneScheduler(
        accounts=["a"],
        max_parallel=2,
        max_voices=None,
        count_voices=counter({}),
        cap_lowering_strikes=3,
        cap_lowered_for=0.3,
        clock=(clock := ManualClock()),
    )
    sched.narrow("a", 0.02)
    assert sched.statistics().accounts["a"].cap == 1
    assert sched.statistics().accounts["a"].paused_for == 0  # it keeps working at one
    clock.advance(0.019)
    assert sched.statistics().accounts["a"].cap == 1  # (not yet)
    clock.advance(0.031)
    assert sched.statistics().accounts["a"].cap == 2  # back after the Retry-After time
    sched.narrow("a", 0.02)
    sched.narrow("a", 0.02)  # the third strike within a minute
    clock.advance(0.05)
    assert sched.statistics().accounts["a"].cap == 1  # held for cap_lowered_for
    clock.advance(0.249)
    assert sched.statistics().accounts["a"].cap == 1  # (not yet)
    clock.advance(0.101)
    assert sched.statistics().accounts["a"].cap == 2


async def test_out_of_rotation_moves_unpinned_and_fails_pinned() -> None:
    """A 596'd account takes no unpinned jobs; jobs pinned to it fail with the reason."""
    sched = make(["a", "b"])

    def error() -> AccountUnavailableError:
        return AccountUnavailableError("a", 0.0, 596, "on hold")

    sched.take_out_of_rotation("a", 60, error)
    tickets = [await sched.admit(None, pinned=False, name=f"v{i}", ahead=True) for i in range(3)]
    assert {t.account for t in tickets} == {"b"}
    with pytest.raises(AccountUnavailableError, match="596"):
        await sched.admit("a", pinned=True, name="p")
    for t in tickets:
        sched.finish(t, created=False)


async def test_fail_all_ends_every_waiter_and_later_admissions() -> None:
    """fail_all (closing, or a refused token) ends queued jobs at once with one error type."""
    sched = make(["a"], prefetch=0)
    held = [await sched.admit("a", pinned=True, name=f"h{i}") for i in range(2)]
    waiters = [asyncio.create_task(sched.admit("a", pinned=True, name=f"w{i}")) for i in range(5)]
    await settle()
    sched.fail_all(lambda: ClientClosedError("closed"))
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results)
    with pytest.raises(ClientClosedError):
        await sched.admit("a", pinned=True, name="late")
    for t in held:
        sched.finish(t, created=False)


async def test_voice_count_learned_once_per_account() -> None:
    """The cloned-voice count is fetched once per account, however many jobs ask at once."""
    calls: list[str | None] = []
    gate = asyncio.Event()

    async def count(account: str | None) -> int:
        calls.append(account)
        await gate.wait()  # counts take a while: every job asks meanwhile
        return 0

    asyncio.get_running_loop().call_soon(gate.set)

    sched = CloneScheduler(accounts=["a", "b"], max_parallel=2, max_voices=4, count_voices=count)
    tickets = await asyncio.gather(
        *(sched.admit(None, pinned=False, name=f"v{i}") for i in range(4))
    )
    assert sorted(c or "" for c in calls) == ["a", "b"]
    for t in tickets:
        sched.finish(t, created=False)


async def test_a_failed_count_fails_the_jobs_waiting_for_it_and_is_tried_again() -> None:
    """Jobs queued while an account is counted fail with the count's error; the next job
    counts again, and unpinned jobs are not placed until every account is counted."""
    calls: list[str | None] = []
    gate = asyncio.Event()

    async def count(account: str | None) -> int:
        calls.append(account)
        await gate.wait()
        if account == "a" and calls.count("a") == 1:
            raise ConnectionError("listing failed")
        return 0

    sched = CloneScheduler(accounts=["a", "b"], max_parallel=2, max_voices=4, count_voices=count)
    pinned = [asyncio.ensure_future(sched.admit("a", pinned=True, name=f"p{i}")) for i in range(3)]
    unpinned = [
        asyncio.ensure_future(sched.admit(None, pinned=False, name=f"u{i}")) for i in range(2)
    ]
    await settle()
    assert sorted(c or "" for c in calls) == ["a", "b"]  # one count per account
    assert not any(t.done() for t in pinned + unpinned)  # nobody admitted before the counts
    gate.set()
    await settle()
    for task in pinned + unpinned:
        with pytest.raises(ConnectionError, match="listing failed"):
            task.result()
    assert sched.statistics().waiting == 0
    ticket = await sched.admit("a", pinned=True, name="p0")  # the name was forgotten
    assert ticket.account == "a"
    assert calls.count("a") == 2
    sched.finish(ticket, created=False)


async def test_unpinned_jobs_do_without_an_account_gone_out_of_rotation_while_counted() -> None:
    """A count that fails because its account left rotation (a 596) costs unpinned jobs
    nothing: they go to the other accounts."""
    sched: CloneScheduler

    async def count(account: str | None) -> int:
        await asyncio.sleep(0)
        if account == "a":
            sched.take_out_of_rotation("a", 60.0, lambda: AccountUnavailableError("a", 0, 596, ""))
            raise AccountUnavailableError("a", 0, 596, "on hold")
        return 0

    sched = CloneScheduler(accounts=["a", "b"], max_parallel=2, max_voices=4, count_voices=count)
    tickets = await asyncio.gather(
        *(sched.admit(None, pinned=False, name=f"u{i}", ahead=True) for i in range(3))
    )
    assert [t.account for t in tickets] == ["b", "b", "b"]
    for t in tickets:
        sched.finish(t, created=False)


async def test_a_placed_job_may_give_up_instead_of_waiting() -> None:
    """admit(give_up=True) raises NoRoomNow rather than queue, and leaves nothing behind:
    the waiting job that was there first gets the next free slot."""
    sched = CloneScheduler(
        accounts=["a"], max_parallel=1, max_voices=None, count_voices=counter({}), prefetch=0
    )
    running = await sched.admit(None, pinned=False, name="v0")
    waiting = asyncio.ensure_future(sched.admit(None, pinned=False, name="v1"))
    await asyncio.sleep(0)
    with pytest.raises(NoRoomNow):  # someone already waits
        await sched.admit(None, pinned=False, name="v2", give_up=True)
    waiting.cancel()
    await asyncio.sleep(0)
    with pytest.raises(NoRoomNow):  # nobody waits, but no room
        await sched.admit(None, pinned=False, name="v3", give_up=True)
    assert sched.statistics().unassigned_waiting == 0
    sched.finish(running, created=False)
    ticket = await sched.admit(None, pinned=False, name="v3", give_up=True)  # room: admitted
    assert ticket.account == "a"
    sched.finish(ticket, created=False)


async def test_a_placed_job_takes_the_slot_of_its_runners_last_job() -> None:
    """A job the scheduler places goes to the account its runner's last job freed, if that
    account can take it at once, rather than to a less loaded one; otherwise as usual."""
    sched = CloneScheduler(
        accounts=["a", "b"], max_parallel=2, max_voices=4, count_voices=counter({}), prefetch=0
    )
    first = await sched.admit(None, pinned=False, name="v0")
    other = "b" if first.account == "a" else "a"
    second = await sched.admit(first.account, pinned=False, name="v1")  # prefer first's
    assert second.account == first.account
    third = await sched.admit(first.account, pinned=False, name="v2")  # full: least loaded
    assert third.account == other
    for ticket in (first, second, third):
        sched.finish(ticket, created=False)


class _Held:
    """A bulk run's jobs held back (the scheduler's view of a runner pool)."""

    def __init__(self, jobs: int) -> None:
        self.account: str | None = None  # jobs for any account
        self.jobs = jobs
        self.grown = 0

    def __len__(self) -> int:
        return self.jobs

    def grow(self) -> None:
        self.grown += 1


async def test_room_on_a_paused_account_is_offered_to_held_jobs_only_when_the_pause_ends() -> None:
    """A slot freed on a paused account is not offered to a held-back run (its new runner
    would only give up again); the pause's end offers it."""
    clock = ManualClock()
    sched = make(["a"], prefetch=0, clock=clock)
    held = _Held(5)
    sched.hold(held)
    ticket = await sched.admit(None, pinned=False, name="v0")
    sched.pause("a", 0.05)
    sched.finish(ticket, created=False)
    await settle()
    assert held.grown == 0
    clock.advance(0.05)
    await settle()
    assert held.grown == 1
    sched.unhold(held)


async def test_hold_counts_held_jobs_as_waiting_until_unheld() -> None:
    """Jobs a bulk run holds back count as waiting: for any account, or for their own."""
    sched = make(["a"])
    placed, pinned = _Held(3), _Held(2)
    pinned.account = "a"
    sched.hold(placed)
    sched.hold(pinned)
    stats = sched.statistics()
    assert (stats.unassigned_waiting, stats.accounts["a"].waiting) == (3, 2)
    sched.unhold(placed)
    sched.unhold(pinned)
    sched.unhold(pinned)  # twice is harmless
    stats = sched.statistics()
    assert (stats.unassigned_waiting, stats.accounts["a"].waiting) == (0, 0)


async def test_aclose_cancels_and_awaits_the_voice_counts_and_timers_it_started() -> None:
    """aclose() leaves no task or timer of the scheduler's behind: a voice count under way
    is cancelled and awaited, its waiters fail with ClientClosedError, timers are cancelled."""
    started = asyncio.Event()
    ended: list[str] = []

    async def count(account: str | None) -> int:
        started.set()
        try:
            await asyncio.Event().wait()  # a listing that never answers
        finally:
            ended.append("count")
        return 0

    clock = ManualClock()
    sched = CloneScheduler(
        accounts=["a"], max_parallel=2, max_voices=4, count_voices=count, clock=clock
    )
    waiter = asyncio.ensure_future(sched.admit("a", pinned=True, name="v"))
    await started.wait()
    sched.pause("a", 3600.0)
    sched.narrow("a", 3600.0)
    assert clock.pending == 2
    await sched.aclose()
    assert clock.pending == 0  # every timer cancelled
    assert ended == ["count"]  # the count task ran its cleanup before aclose() returned
    with pytest.raises(ClientClosedError):
        await waiter
    assert sched.statistics().waiting == 0
    await sched.aclose()  # twice is harmless
    with pytest.raises(ClientClosedError):
        await sched.admit("a", pinned=True, name="late")


async def test_rate_limited_pauses_a_lone_clone_and_narrows_beside_another() -> None:
    """rate_limited decides as the client did: alone on its account, a 429 pauses the
    account; beside another clone in flight, it runs the account at one clone instead."""
    sched = make(["a", "b"])
    alone = await sched.admit("a", pinned=True, name="x")
    await sched.acquire_clone(alone)
    sched.sending(alone)
    sched.rate_limited(alone, 30.0)
    stats = sched.statistics().accounts["a"]
    assert (stats.cap, stats.paused_for > 0) == (2, True)
    first, second = [await sched.admit("b", pinned=True, name=f"y{i}") for i in range(2)]
    for ticket in (first, second):
        await sched.acquire_clone(ticket)
    sched.rate_limited(second, 30.0)
    stats = sched.statistics().accounts["b"]
    assert (stats.cap, stats.paused_for) == (1, 0)
    for ticket in (alone, first, second):
        sched.finish(ticket, created=False)
    await sched.aclose()


async def test_an_account_comes_back_into_rotation_when_its_cooldown_ends() -> None:
    """Out of rotation for 60 s (a 596): pinned jobs fail meanwhile and placed ones go
    elsewhere; at the end of the cool-down, by the clock alone, it takes jobs again."""
    clock = ManualClock()
    sched = make(["a", "b"], clock=clock)
    sched.take_out_of_rotation("a", 60.0, lambda: AccountUnavailableError("a", 0, 596, ""))
    clock.advance(59.9)
    with pytest.raises(AccountUnavailableError):
        await sched.admit("a", pinned=True, name="p")
    placed = await sched.admit(None, pinned=False, name="u", ahead=True)
    assert placed.account == "b"
    assert sched.statistics().accounts["a"].out_of_rotation_for == pytest.approx(0.1)
    clock.advance(0.1)
    back = await asyncio.wait_for(sched.admit("a", pinned=True, name="p"), 1)
    assert back.account == "a"
    for ticket in (placed, back):
        sched.finish(ticket, created=False)
    await sched.aclose()


async def test_a_clone_waiting_behind_a_narrowed_cap_starts_when_the_cap_comes_back() -> None:
    """Narrowed to one clone, a second admitted job waits for a slot; when the narrowing
    ends (the clock reaches it), the restored cap hands it the slot at once."""
    clock = ManualClock()
    sched = make(["a"], clock=clock)
    first, second = [await sched.admit("a", pinned=True, name=f"v{i}") for i in range(2)]
    sched.narrow("a", 10.0)
    await sched.acquire_clone(first)
    waiting = asyncio.ensure_future(sched.acquire_clone(second))
    await settle()
    clock.advance(9.9)
    await settle()
    assert not waiting.done()
    clock.advance(0.1)
    await settle()
    assert waiting.done()
    assert sched.statistics().accounts["a"].in_flight == 2
    for ticket in (first, second):
        sched.finish(ticket, created=False)
    await sched.aclose()
