"""The fleet scripts' logic under fakeredis (with Lua): several schedulers, one fake server.

Each :class:`FleetScheduler` is one process of the fleet (its own process id, its own lease);
they share one ``fakeredis.FakeServer``. Timing uses TTLs of tenths of a second (fakeredis's
TIME is the real clock); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from functools import partial
from typing import Any

import fakeredis
import pytest
import redis.asyncio

from minimax_async import (
    AccountUnavailableError,
    ConfigurationError,
    CoordinatorUnavailableError,
    DuplicateVoiceNameError,
    Voice,
    VoiceSlotsExhaustedError,
)
from minimax_async.fleet import RedisCoordinator
from minimax_async.fleet._scheduler import FleetScheduler, FleetTicket

pytestmark = pytest.mark.anyio

TTL = 0.3
HOLD = 0.6


class Fleet:
    """Processes on one fake Redis; ``voices`` is what the accounts list."""

    def __init__(self) -> None:
        self.server = fakeredis.FakeServer()
        self.namespace = f"t{uuid.uuid4().hex[:8]}"
        self.voices: dict[str | None, list[Voice]] = {}
        self.listings = 0
        self.members: list[FleetScheduler] = []

    def redis(self) -> redis.asyncio.Redis:
        return fakeredis.FakeAsyncRedis(server=self.server)

    async def list_voices(self, account: str | None) -> list[Voice]:
        self.listings += 1
        return list(self.voices.get(account, []))

    def process(self, accounts: list[str] | None = None, **overrides: Any) -> FleetScheduler:
        options: dict[str, Any] = {
            "accounts": ["a1"] if accounts is None else accounts,
            "max_parallel": 2,
            "max_voices": 4,
            "list_voices": self.list_voices,
            "cap_lowering_strikes": 3,
            "cap_lowered_for": 300.0,
            "account_cooldown": 30.0,
            "clone_timeout": HOLD,
            "recheck_delay": 0.05,
        }
        options.update(overrides)
        coordinator = RedisCoordinator(self.redis(), namespace=self.namespace, liveness_ttl=TTL)
        member = coordinator.scheduler(**options)
        self.members.append(member)
        return member

    async def keys(self, kind: str, account: str = "a1") -> list[str]:
        r = self.redis()
        members = await r.zrange(f"{{{self.namespace}}}:{kind}:{account}", 0, -1)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    f = Fleet()
    yield f
    for member in f.members:
        await member.aclose()


async def eventually(check: Callable[[], Any], timeout: float = 3.0) -> None:
    """Wait (bounded) until ``check()`` is true (awaited if it returns an awaitable)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


def _length_is(items: list[str], n: int) -> bool:
    return len(items) == n


async def _count(fleet: Fleet, kind: str, n: int) -> bool:
    return len(await fleet.keys(kind)) == n


async def clone(
    s: FleetScheduler, name: str, log: list[str], gates: dict[str, asyncio.Event]
) -> None:
    ticket = await s.admit("a1", pinned=True, name=name)
    await s.acquire_clone(ticket)
    log.append(name)
    await gates.setdefault(name, asyncio.Event()).wait()
    s.finish(ticket, created=False)


async def test_cap_is_shared_and_fifo_by_seq_across_processes(fleet: Fleet) -> None:
    procs = [fleet.process() for _ in range(3)]
    log: list[str] = []
    gates: dict[str, asyncio.Event] = {}
    tasks = []
    for i in range(9):  # queued one by one: their seqs are in this order
        tasks.append(asyncio.ensure_future(clone(procs[i % 3], f"j{i}", log, gates)))
        if i < 2:
            await eventually(partial(_length_is, log, i + 1))
        else:  # registered in Redis before the next one asks
            await eventually(partial(_count, fleet, "wait", i - 1))
    await asyncio.sleep(0.1)
    assert log == ["j0", "j1"]  # two slots fleet-wide, not two per process
    for done in range(7):  # one clone ends at a time: the oldest waiter anywhere starts
        assert len(await fleet.keys("slots")) == 2
        gates.setdefault(log[done], asyncio.Event()).set()
        await eventually(partial(_length_is, log, done + 3))
    for event in gates.values():
        event.set()
    for name in log:
        gates.setdefault(name, asyncio.Event()).set()
    await asyncio.gather(*tasks)
    assert log == [f"j{i}" for i in range(9)]  # global FIFO by seq
    assert await fleet.keys("slots") == []
    assert await fleet.keys("adm") == []


async def test_voice_slots_are_shared_and_hopeless_jobs_fail(fleet: Fleet) -> None:
    fleet.voices["a1"] = [Voice(voice_id="old1", voice_name="old")]
    p, q = fleet.process(), fleet.process()
    t1 = await p.admit("a1", pinned=True, name="x", ahead=True)
    t2 = await q.admit("a1", pinned=True, name="y", ahead=True)
    t3 = await q.admit("a1", pinned=True, name="z", ahead=True)
    late = asyncio.ensure_future(p.admit("a1", pinned=True, name="w", ahead=True))
    await asyncio.sleep(0.1)
    assert not late.done()  # 1 voice + 3 reservations: full
    for s, t in ((p, t1), (q, t2), (q, t3)):
        s.finish(t, created=True, voice_id=f"v-{t.name}")
    with pytest.raises(VoiceSlotsExhaustedError):
        await asyncio.wait_for(late, 3)
    assert fleet.listings == 1  # one count for the fleet, not one per process


async def test_a_deleted_voice_frees_a_slot_for_another_process(fleet: Fleet) -> None:
    p, q = fleet.process(), fleet.process()
    for i in range(4):
        t = await p.admit("a1", pinned=True, name=f"n{i}", ahead=True)
        p.finish(t, created=True, voice_id=f"v{i}")
    waiting = asyncio.ensure_future(q.admit("a1", pinned=True, name="next", ahead=True))
    await asyncio.sleep(0.1)
    assert waiting.done()  # full and nothing reserved: hopeless at once
    with pytest.raises(VoiceSlotsExhaustedError):
        waiting.result()
    p.voice_deleted("a1", "v0")
    await eventually(lambda: _admits(q, "next"))


async def _admits(s: FleetScheduler, name: str) -> bool:
    try:
        ticket = await s.admit("a1", pinned=True, name=name, ahead=True)
    except (VoiceSlotsExhaustedError, DuplicateVoiceNameError):
        return False
    s.finish(ticket, created=False)
    return True


async def test_one_live_job_per_name_and_account_fleet_wide(fleet: Fleet) -> None:
    p, q = fleet.process(), fleet.process()
    t = await p.admit("a1", pinned=True, name="Alice")
    with pytest.raises(DuplicateVoiceNameError):
        await q.admit("a1", pinned=True, name="Alice")
    p.finish(t, created=False)
    await eventually(lambda: _admits(q, "Alice"))


async def test_rate_limited_alone_pauses_beside_another_narrows(fleet: Fleet) -> None:
    p, q = fleet.process(), fleet.process()
    t1 = await p.admit("a1", pinned=True, name="one")
    await p.acquire_clone(t1)
    p.rate_limited(t1, 0.5)  # alone on the account: the whole fleet waits it out
    await q.refresh_statistics()
    t2 = await q.admit("a1", pinned=True, name="two", ahead=True)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(q.acquire_clone(t2), 3)
    assert asyncio.get_running_loop().time() - started >= 0.3
    await p.acquire_clone(t1)  # both in flight now
    p.rate_limited(t1, 60.0)  # beside q's clone: narrowed to one, no pause
    await eventually(lambda: _stat(q, "cap", 1))
    p.finish(t1, created=False)
    t3 = await asyncio.wait_for(q.admit("a1", pinned=True, name="three", ahead=True), 3)
    got = asyncio.ensure_future(q.acquire_clone(t3))
    await asyncio.sleep(0.2)
    assert not got.done()  # one clone at once (q's t2 holds it)
    q.finish(t2, created=False)
    await asyncio.wait_for(got, 3)
    q.finish(t3, created=False)


async def _stat(s: FleetScheduler, field: str, value: object) -> bool:
    await s.refresh_statistics()
    return bool(getattr(s.statistics().accounts["a1"], field) == value)


async def test_strikes_lower_the_cap_for_longer(fleet: Fleet) -> None:
    p = fleet.process(cap_lowering_strikes=2, cap_lowered_for=30.0)
    t1 = await p.admit("a1", pinned=True, name="a")
    t2 = await p.admit("a1", pinned=True, name="b")
    for _ in range(2):
        await p.acquire_clone(t1)
        await p.acquire_clone(t2)
        p.rate_limited(t1, 0.1)  # beside t2: a strike, narrowed for 0.1 s
        p.release_clone(t2)
        await asyncio.sleep(0.15)
    await p.refresh_statistics()
    assert p.statistics().accounts["a1"].cap == 1  # 2 strikes: 30 s, not 0.1 s
    p.finish(t1, created=False)
    p.finish(t2, created=False)


async def test_take_out_tells_every_process_at_once(fleet: Fleet) -> None:
    p, q = fleet.process(), fleet.process()
    t1 = await p.admit("a1", pinned=True, name="a")
    t2 = await p.admit("a1", pinned=True, name="b")
    waiting = asyncio.ensure_future(q.admit("a1", pinned=True, name="c"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    p.take_out_of_rotation("a1", 5.0, lambda: AccountUnavailableError("a1", 0.0, 596, "on hold"))
    with pytest.raises(AccountUnavailableError) as caught:
        await asyncio.wait_for(waiting, 1.0)  # by its wake-up, before any check
    assert caught.value.cause_status == 596
    with pytest.raises(AccountUnavailableError):
        await q.admit("a1", pinned=True, name="d")
    p.finish(t1, created=False)
    p.finish(t2, created=False)


async def test_unpinned_jobs_go_to_the_least_loaded_account(fleet: Fleet) -> None:
    p, q = fleet.process(["a1", "a2"]), fleet.process(["a1", "a2"])
    tickets = [await s.admit(None, pinned=False, name=f"n{i}") for i, s in enumerate([p, q] * 2)]
    assert sorted(t.account or "" for t in tickets) == ["a1", "a1", "a2", "a2"]
    fifth = asyncio.ensure_future(p.admit(None, pinned=False, name="n5"))
    await asyncio.sleep(0.1)
    assert not fifth.done()
    q.finish(tickets[3], created=False)
    assert (await asyncio.wait_for(fifth, 3)).account == tickets[3].account


async def test_a_dead_process_loses_its_holds_after_the_ttl_and_its_sent_slot_after_the_hold(
    fleet: Fleet,
) -> None:
    dead, live = fleet.process(), fleet.process()
    sent = [await dead.admit("a1", pinned=True, name=f"sent{i}") for i in range(2)]
    for ticket in sent:
        await dead.acquire_clone(ticket)  # on the wire: held for HOLD after a crash
    admitted = await dead.admit("a1", pinned=True, name="unsent", ahead=True)
    await dead.kill()
    loop = asyncio.get_running_loop()
    killed = loop.time()
    waiting = asyncio.ensure_future(live.admit("a1", pinned=True, name="next"))
    await eventually(lambda: _tokens_gone(fleet, "adm", admitted.token), timeout=TTL + 1.5)
    assert sorted(await fleet.keys("slots")) == sorted(t.token for t in sent)
    assert not waiting.done()  # dead, but its clones may still run at the server
    ticket = await asyncio.wait_for(waiting, HOLD + 2.0)
    assert loop.time() - killed >= HOLD - 0.1
    await live.acquire_clone(ticket)
    assert await fleet.keys("slots") == [ticket.token]
    live.finish(ticket, created=False)


async def _dead(fleet: Fleet, s: FleetScheduler) -> bool:
    """Its lease has expired (until then, its names are still taken)."""
    return not await fleet.redis().exists(f"{{{fleet.namespace}}}:alive:{s.process_id}")


async def _tokens_gone(fleet: Fleet, kind: str, token: str) -> bool:
    return token not in await fleet.keys(kind)


async def test_in_doubt_the_next_job_adopts_the_dead_process_voice(fleet: Fleet) -> None:
    dead, live = fleet.process(), fleet.process()
    ticket = await dead.admit("a1", pinned=True, name="Bob")
    await dead.acquire_clone(ticket)
    await dead.kill()  # killed with the clone on the wire; the server goes on and makes it
    await eventually(lambda: _dead(fleet, dead))
    fleet.voices["a1"] = [
        Voice(voice_id="made-by-dead", voice_name="Bob", create_time=datetime.now(timezone.utc))
    ]
    resumed = await asyncio.wait_for(live.admit("a1", pinned=True, name="Bob"), HOLD + 3)
    assert resumed.adopted is not None
    assert resumed.adopted.voice_id == "made-by-dead"
    await live.acquire_clone(resumed)  # nothing to take: it returns the voice
    assert await fleet.keys("slots") == [] or ticket.token in await fleet.keys("slots")
    # the adopted voice is owned now: a second job of that name clones (no double adoption)
    again = await asyncio.wait_for(live.admit("a1", pinned=True, name="Bob"), 3)
    assert again.adopted is None
    live.finish(again, created=False)


async def test_in_doubt_without_a_voice_clones_after_the_recheck(fleet: Fleet) -> None:
    dead, live = fleet.process(), fleet.process()
    ticket = await dead.admit("a1", pinned=True, name="Carol")
    await dead.acquire_clone(ticket)
    await dead.kill()
    await eventually(lambda: _dead(fleet, dead))
    resumed = await asyncio.wait_for(live.admit("a1", pinned=True, name="Carol"), HOLD + 3)
    assert resumed.adopted is None  # listed twice, no voice: it clones
    assert fleet.listings >= 3  # the count, then the two looks for the voice
    live.finish(resumed, created=False)


async def test_unknown_outcome_leaves_an_intent_that_the_next_job_resolves(fleet: Fleet) -> None:
    p, q = fleet.process(), fleet.process()
    ticket = await p.admit("a1", pinned=True, name="Dan")
    await p.acquire_clone(ticket)
    p.finish(ticket, created=False)  # sent, no voice known: in doubt
    fleet.voices["a1"] = [
        Voice(voice_id="late-voice", voice_name="Dan", create_time=datetime.now(timezone.utc))
    ]
    later = await asyncio.wait_for(q.admit("a1", pinned=True, name="Dan"), HOLD + 3)
    assert later.adopted is not None
    assert later.adopted.voice_id == "late-voice"


async def test_recount_merges_a_clone_finished_during_the_listing(fleet: Fleet) -> None:
    listing = asyncio.Event()
    release = asyncio.Event()
    p = fleet.process()

    async def slow_list(account: str | None) -> list[Voice]:
        listing.set()
        await release.wait()
        return [Voice(voice_id="listed", voice_name="l"), Voice(voice_id="both", voice_name="b")]

    q = fleet.process(list_voices=slow_list)
    counted = asyncio.ensure_future(q.admit("a1", pinned=True, name="first", ahead=True))
    await asyncio.wait_for(listing.wait(), 3)
    # meanwhile another process (which does not wait for the count) finishes two clones
    r = fleet.redis()
    ns = "{" + fleet.namespace + "}"
    await r.zadd(f"{ns}:voices:a1", {"both": 10**13, "new": 10**13})
    release.set()
    ticket = await asyncio.wait_for(counted, 3)
    assert sorted(await fleet.keys("voices")) == ["both", "listed", "new"]
    q.finish(ticket, created=False)
    del p


async def test_noscript_is_reloaded(fleet: Fleet) -> None:
    p = fleet.process()
    t = await p.admit("a1", pinned=True, name="x")
    p.finish(t, created=False)
    await fleet.redis().script_flush()
    t = await p.admit("a1", pinned=True, name="y")
    assert t.account == "a1"
    p.finish(t, created=False)


async def test_a_lost_lease_re_registers_the_waiters(fleet: Fleet) -> None:
    p, q = fleet.process(), fleet.process()
    t1 = await p.admit("a1", pinned=True, name="a")
    t2 = await p.admit("a1", pinned=True, name="b")
    waiting = asyncio.ensure_future(q.admit("a1", pinned=True, name="c"))
    await asyncio.sleep(0.05)
    r = fleet.redis()
    await r.flushall()  # every key gone, as after a restart without persistence
    ticket = await asyncio.wait_for(waiting, 5)  # re-registered, admitted on the empty state
    assert ticket.account == "a1"
    for s, t in ((p, t1), (p, t2), (q, ticket)):
        s.finish(t, created=False)


async def test_settings_must_agree_across_the_namespace(fleet: Fleet) -> None:
    p = fleet.process()
    t = await p.admit("a1", pinned=True, name="x")
    p.finish(t, created=False)
    other = fleet.process(max_parallel=1)
    with pytest.raises(ConfigurationError, match="cap is 2 but this client's is 1"):
        await other.admit("a1", pinned=True, name="y")


async def test_unreachable_redis_fails_closed() -> None:
    server = fakeredis.FakeServer()
    server.connected = False

    async def nothing(account: str | None) -> list[Voice]:
        return []

    coordinator = RedisCoordinator(
        fakeredis.FakeAsyncRedis(server=server), namespace="x", coordinator_timeout=0.2
    )
    s = coordinator.scheduler(
        accounts=["a1"], max_parallel=2, max_voices=4, list_voices=nothing,
        cap_lowering_strikes=3, cap_lowered_for=300.0, account_cooldown=30.0,
        clone_timeout=1.0, recheck_delay=0.1,
    )  # fmt: skip
    with pytest.raises(CoordinatorUnavailableError):
        await s.admit("a1", pinned=True, name="x")
    server.connected = True
    ticket = await s.admit("a1", pinned=True, name="x")  # back: it works again
    assert isinstance(ticket, FleetTicket)
    s.finish(ticket, created=False)
    await s.aclose()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        RedisCoordinator("redis://localhost", namespace="")
    with pytest.raises(ConfigurationError, match="URL"):
        RedisCoordinator("http://localhost", namespace="n")
    with pytest.raises(ConfigurationError, match="liveness_ttl"):
        RedisCoordinator("redis://localhost", namespace="n", liveness_ttl=0)
    assert "secret" not in repr(RedisCoordinator("redis://:secret@host/0", namespace="n"))


async def test_a_dead_process_waiters_are_swept_within_the_ttl(fleet: Fleet) -> None:
    live, dead = fleet.process(), fleet.process()
    held = [await live.admit("a1", pinned=True, name=f"h{i}") for i in range(2)]
    queued = [asyncio.ensure_future(dead.admit("a1", pinned=True, name=f"d{i}")) for i in range(5)]
    await eventually(partial(_count, fleet, "wait", 5))
    await dead.kill()
    for task in queued:
        task.cancel()
    loop = asyncio.get_running_loop()
    killed = loop.time()
    # swept by the live process's heartbeat, not only when they reach the head of the queue
    await eventually(partial(_count, fleet, "wait", 0), timeout=TTL * 4 / 3 + 1.0)
    assert loop.time() - killed <= TTL * 4 / 3 + 1.0
    names = await fleet.redis().hkeys(f"{{{fleet.namespace}}}:names:a1")
    assert sorted(n.decode() if isinstance(n, bytes) else n for n in names) == ["h0", "h1"]
    for ticket in held:
        live.finish(ticket, created=False)


async def test_a_placed_job_in_doubt_goes_to_its_account_and_adopts(fleet: Fleet) -> None:
    dead = fleet.process(["a1", "a2"])
    live = fleet.process(["a1", "a2"])
    filler = await dead.admit("a1", pinned=True, name="filler")  # a2 is the least loaded
    ticket = await dead.admit(None, pinned=False, name="Eve")
    assert ticket.account == "a2"
    await dead.acquire_clone(ticket)
    await dead.kill()
    await eventually(lambda: _dead(fleet, dead))
    fleet.voices["a2"] = [
        Voice(voice_id="eve-on-a2", voice_name="Eve", create_time=datetime.now(timezone.utc))
    ]
    resumed = await asyncio.wait_for(live.admit(None, pinned=False, name="Eve"), HOLD + 3)
    assert resumed.account == "a2"
    assert resumed.adopted is not None
    assert resumed.adopted.voice_id == "eve-on-a2"
    del filler
