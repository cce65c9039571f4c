"""The scripts on the real redis-server (fleetproc's fixture): they compile, and the basic
decisions hold there as under fakeredis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from minimax_async import CoordinatorUnavailableError, Voice
from minimax_async.fleet import RedisCoordinator
from minimax_async.fleet._link import SCRIPTS, _load_sources
from tests.fleet.redis_support import RedisProcess

pytestmark = pytest.mark.anyio


async def nothing(account: str | None) -> list[Voice]:
    return []


def make(coordinator: RedisCoordinator, **overrides: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "accounts": ["a1"], "max_parallel": 2, "max_voices": 4, "list_voices": nothing,
        "cap_lowering_strikes": 3, "cap_lowered_for": 300.0, "account_cooldown": 30.0,
        "clone_timeout": 1.0, "recheck_delay": 0.1,
    }  # fmt: skip
    options.update(overrides)
    return coordinator.scheduler(**options)  # type: ignore[arg-type]


async def test_every_script_compiles_on_the_real_server(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        for name, source in _load_sources().items():
            assert len(await client.script_load(source)) == 40, name
        assert set(_load_sources()) == set(SCRIPTS)
    finally:
        await client.aclose()


async def test_two_processes_share_the_cap(redis_url: str, redis_namespace: str) -> None:
    p = make(RedisCoordinator(redis_url, namespace=redis_namespace))
    q = make(RedisCoordinator(redis_url, namespace=redis_namespace))
    try:
        t1 = await p.admit("a1", pinned=True, name="a")
        t2 = await q.admit("a1", pinned=True, name="b")
        third = asyncio.ensure_future(q.admit("a1", pinned=True, name="c"))
        await asyncio.sleep(0.2)
        assert not third.done()
        p.finish(t1, created=True, voice_id="v1")
        t3 = await asyncio.wait_for(third, 5)
        for s, t in ((q, t2), (q, t3)):
            s.finish(t, created=False)
        await q.refresh_statistics()
        assert q.statistics().accounts["a1"].voices == 1
    finally:
        await p.aclose()
        await q.aclose()
    client = redis.asyncio.Redis.from_url(redis_url)
    try:  # both left: no lease, no hold, no waiter
        keys = await client.keys("{" + redis_namespace + "}:*")
        kinds = {(k.decode() if isinstance(k, bytes) else k).split(":")[-2] for k in keys}
        assert not kinds & {"alive", "slots", "adm", "wait", "cwait", "wake"}
    finally:
        await client.aclose()


async def test_redis_down_fails_closed_and_recovers(
    own_redis: RedisProcess, redis_namespace: str
) -> None:
    s = make(RedisCoordinator(own_redis.url, namespace=redis_namespace, coordinator_timeout=0.5))
    try:
        t = await s.admit("a1", pinned=True, name="a")
        s.finish(t, created=False)
        own_redis.stop()
        with pytest.raises(CoordinatorUnavailableError):
            await s.admit("a1", pinned=True, name="b")
        own_redis.start()
        t = await s.admit("a1", pinned=True, name="b")  # scripts reloaded, state rebuilt
        assert t.account == "a1"
        s.finish(t, created=False)
    finally:
        await s.aclose()
