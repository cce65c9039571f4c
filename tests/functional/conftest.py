"""Fixtures: a fake server on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from minimax_async import Client, RetryPolicy
from minimax_async.testing import FakeMiniMax

#: Retries without real waiting, so that tests of retry rules stay fast.
FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.001, max_delay=0.01, max_retry_after=0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMiniMax]:
    """One account, real limits, millisecond clones."""
    async with FakeMiniMax(accounts=["100001"], clone_latency=0.002, retry_after=0.01) as server:
        yield server


@pytest.fixture
async def client(fake: FakeMiniMax) -> AsyncIterator[Client]:
    """A client configured with the fake server's accounts."""
    async with Client(
        token=fake.token, base_url=fake.base_url, accounts=fake.accounts, retry=FAST_RETRY
    ) as c:
        yield c


@contextlib.asynccontextmanager
async def serve(
    accounts: Sequence[str],
    *,
    slots: int = 4,
    latency: float | tuple[float, float] = 0.001,
    **client_options: Any,
) -> AsyncIterator[tuple[FakeMiniMax, Client]]:
    """A fake server with ``accounts`` and ``slots`` voices each, and a client for it."""
    async with (
        FakeMiniMax(accounts=accounts, clone_latency=latency, max_voices_per_account=slots) as fake,
        Client(
            token=fake.token,
            base_url=fake.base_url,
            accounts=accounts,
            max_voices_per_account=slots,
            **client_options,
        ) as client,
    ):
        yield fake, client
