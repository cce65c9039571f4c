"""The real-Redis fixture itself: a child process on a unix socket, no TCP port, restartable."""

from __future__ import annotations

import sys

import pytest
import redis.asyncio as redis_asyncio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.fleet.redis_support import RedisProcess, listening_tcp_ports, ping
from tests.fleet.redis_watch import Gone, holds, intent_owner, wait_until_gone

pytestmark = pytest.mark.anyio


async def test_server_answers_ping_on_its_unix_socket(redis_url: str) -> None:
    """redis.asyncio reaches the fixture's server through the unix:// URL it yields."""
    assert redis_url.startswith("unix://")
    client = redis_asyncio.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
        assert await client.config_get("port") == {"port": "0"}
    finally:
        await client.aclose()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_server_listens_on_no_tcp_port(redis_server: RedisProcess) -> None:
    """The server opened no TCP listening socket, IPv4 or IPv6."""
    assert ping(redis_server.socket_path)
    assert listening_tcp_ports(redis_server.pid) == []


_SEEN_NAMESPACES: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_namespaces_differ_per_test(redis_namespace: str, run: int) -> None:
    """Each test gets its own namespace, named after the test, with a random suffix."""
    assert redis_namespace.startswith(f"test:test_namespaces_differ_per_test[{run}]:")
    assert redis_namespace not in _SEEN_NAMESPACES
    _SEEN_NAMESPACES.append(redis_namespace)


async def test_own_server_restarts_empty_and_can_be_stopped(own_redis: RedisProcess) -> None:
    """restart() loses every key (no persistence); stop() makes the socket unreachable."""

    async def get(key: str) -> object:
        client = redis_asyncio.Redis.from_url(own_redis.url)
        try:
            return await client.get(key)
        finally:
            await client.aclose()

    client = redis_asyncio.Redis.from_url(own_redis.url)
    try:
        await client.set("k", "v")
    finally:
        await client.aclose()
    assert await get("k") == b"v"
    own_redis.restart()
    assert await get("k") is None
    own_redis.stop()
    assert not own_redis.running
    with pytest.raises(RedisConnectionError):
        await get("k")
    own_redis.start()
    assert await get("k") is None


async def test_watch_helpers_find_a_process_holds(
    redis_client: Redis, redis_url: str, redis_namespace: str
) -> None:
    """holds() lists a process's capacity entries only; wait_until_gone() tells unsent from
    sent ones; intent_owner() reads the process from an intent."""
    prefix = "{" + redis_namespace + "}"
    now_ms = 1_000_000.0
    await redis_client.zadd(f"{prefix}:slots:100001", {"pA|1": now_ms + 2000, "pB|7": now_ms})
    await redis_client.zadd(f"{prefix}:wait:any", {"pA|2|-|Alice": 12})
    await redis_client.zadd(f"{prefix}:adm:100001", {"pA|3": now_ms - 1})  # admitted, unsent
    await redis_client.zadd(f"{prefix}:strikes:100001", {"pA|1|999": now_ms})  # history
    await redis_client.hset(f"{prefix}:doubt", "100001|Alice", "pA|1|5|6")
    found = await holds(redis_client, redis_namespace, ["pA"])
    assert sorted(h.member for h in found) == ["pA|1", "pA|2|-|Alice", "pA|3"]
    assert len(await holds(redis_client, redis_namespace)) == 4
    known = await holds(redis_client, redis_namespace, ["pA"], accounts=["100001"])
    assert sorted(h.member for h in known) == ["pA|1", "pA|2|-|Alice", "pA|3"]
    assert await intent_owner(redis_client, redis_namespace, "100001", "Alice") == "pA"
    assert await intent_owner(redis_client, redis_namespace, "100001", "Bob") is None

    gone = await wait_until_gone(
        redis_url, redis_namespace, "pA", accounts=["100001"], timeout=0.2, sent_after_ms=now_ms
    )
    assert gone == Gone()  # nothing went within the timeout
    await redis_client.zrem(f"{prefix}:wait:any", "pA|2|-|Alice")  # the waiter goes first
    await redis_client.zrem(f"{prefix}:adm:100001", "pA|3")  # and the admission
    gone = await wait_until_gone(
        redis_url, redis_namespace, "pA", accounts=["100001"], timeout=0.2, sent_after_ms=now_ms
    )
    assert gone.waiters is not None
    assert gone.unsent is not None
    assert gone.everything is None  # the slot scored after the kill (sent) is still there
    await redis_client.zrem(f"{prefix}:slots:100001", "pA|1")
    gone = await wait_until_gone(redis_url, redis_namespace, "pA", accounts=["100001"], timeout=5.0)
    assert gone.everything is not None
