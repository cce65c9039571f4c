"""Fixtures: a real ``redis-server`` started by the tests, on a unix socket, no TCP port.

- ``redis_server``: one server for the whole session (a ``RedisProcess``); never stop it in
  a test, other tests share it.
- ``redis_url``: its ``unix://`` URL; ``redis_namespace``: a fresh namespace for each test,
  so tests sharing the server never see each other's keys.
- ``own_redis``: a server of the test's own, which the test may ``stop()``, ``start()`` or
  ``restart()`` (every key lost) mid-run, for "Redis unreachable / restarted" tests.

Without ``redis-server`` these tests skip with the install hint; under
``MINIMAX_ASYNC_REQUIRE_REAL=1`` (CI) they fail instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests._real import require
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
