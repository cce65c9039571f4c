"""Fixtures: a real ``redis-server`` started by the tests, on a unix socket, no TCP port.

- ``redis_server``: one server for the whole session (a ``RedisProcess``); never stop it in
  a test, other tests share it.
- ``redis_url``: its ``unix://`` URL; ``redis_namespace``: a fresh namespace for each test,
  so tests sharing the server never see each other's keys.
- ``redis_client``: a ``redis.asyncio.Redis`` on the shared server, for reading a namespace.
- ``recording_fake``: the fleet tests' fake server (five accounts, short clones, a cap that
  records overshoot instead of refusing it).
- ``own_redis``: a server of the test's own, which the test may ``stop()``, ``start()`` or
  ``restart()`` (every key lost) mid-run, for "Redis unreachable / restarted" tests.

Without ``redis-server`` these tests skip with the install hint; under
``MINIMAX_ASYNC_REQUIRE_REAL=1`` (CI) they fail instead.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from minimax_async.testing import FakeMiniMax
from tests._real import require
from tests.fleet.harness import ACCOUNTS, CLONE_LATENCY, RECORDING_CAP
from tests.fleet.redis_support import INSTALL_HINT, RedisProcess


def _redis_executable() -> str:
    return require("redis-server", INSTALL_HINT)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """One real redis-server for the session, as a child process on a unix socket."""
    server = RedisProcess(_redis_executable())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """The shared server's ``unix://`` URL."""
    return redis_server.url


@pytest.fixture
def redis_namespace(request: pytest.FixtureRequest) -> str:
    """A namespace no other test uses (the test's name plus a random suffix)."""
    return f"test:{request.node.name[:40]}:{uuid.uuid4().hex[:8]}"


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A redis-server of this test's own, which it may stop, start or restart."""
    server = RedisProcess(_redis_executable())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """A redis.asyncio client on the shared server."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def recording_fake() -> AsyncIterator[FakeMiniMax]:
    """Five accounts, a large voice limit, and a cap that records instead of refusing."""
    async with FakeMiniMax(
        accounts=ACCOUNTS,
        max_parallel_clones=RECORDING_CAP,
        max_voices_per_account=1000,
        clone_latency=CLONE_LATENCY,
        cancel_on_disconnect=False,
    ) as fake:
        yield fake
