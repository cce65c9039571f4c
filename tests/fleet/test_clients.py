"""Several ``Client``s in one test process, each with its own ``RedisCoordinator`` (each one
process of the fleet) on one namespace of the real redis-server, against one FakeMiniMax
whose own cap is raised so that it RECORDS any overshoot instead of refusing it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minimax_async import (
    Client,
    CloneVoiceRequest,
    CoordinatorUnavailableError,
    DuplicateVoiceNameError,
    RetryPolicy,
    Voice,
    VoiceSlotsExhaustedError,
)
from minimax_async.fleet import RedisCoordinator
from minimax_async.testing import FakeMiniMax, make_wav
from tests.fleet.redis_support import RedisProcess

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.001, max_delay=0.01, max_retry_after=0.05)


@contextlib.asynccontextmanager
async def fleet_of(
    fake: FakeMiniMax, url: str, namespace: str, n: int, **options: Any
) -> AsyncIterator[list[Client]]:
    """``n`` clients, each its own process of the fleet."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(n):
            coordinator = RedisCoordinator(
                url, namespace=namespace, liveness_ttl=1.5, inflight_hold=2.0
            )
            client = Client(
                token=fake.token,
                base_url=fake.base_url,
                accounts=fake.accounts,
                retry=FAST_RETRY,
                coordinator=coordinator,
                **options,
            )
            clients.append(await stack.enter_async_context(client))
        yield clients


async def upload_one(client: Client, account: str) -> str:
    sample = await client.upload_sample(make_wav(12), account=account, content_type="audio/wav")
    assert sample.file_id is not None
    return sample.file_id


def request(name: str, account: str, file_id: str) -> CloneVoiceRequest:
    return CloneVoiceRequest(name, "English", [file_id], account=account)


async def test_clients_share_the_cap_and_never_clone_a_name_twice(
    redis_url: str, redis_namespace: str
) -> None:
    accounts = ["100001", "100002"]
    fake = FakeMiniMax(
        accounts=accounts,
        clone_latency=(0.005, 0.02),
        max_parallel_clones=64,  # records overshoot instead of refusing it
        max_voices_per_account=1000,
    )
    async with (
        fake,
        fleet_of(fake, redis_url, redis_namespace, 3, max_voices_per_account=1000) as clients,
    ):
        files = {a: await upload_one(clients[0], a) for a in accounts}
        calls = [
            clients[i % 3].clone_voice(request(f"v{i}", accounts[i % 2], files[accounts[i % 2]]))
            for i in range(60)
        ]
        voices = await asyncio.gather(*calls)
        assert len({v.voice_id for v in voices}) == 60
        stats = clients[0].clone_statistics()  # a fleet-wide snapshot
        assert set(stats.accounts) == set(accounts)
    record = fake.record
    assert record.max_clones_in_flight, "no clone reached the server"
    assert max(record.max_clones_in_flight.values()) <= 2  # fleet-wide, from the server
    names = Counter(v.voice_name for v in record.voices_created)
    assert names.most_common(1)[0][1] == 1


async def test_duplicate_name_is_refused_across_clients(
    redis_url: str, redis_namespace: str
) -> None:
    fake = FakeMiniMax(accounts=["100001"], clone_latency=0.01)
    async with fake, fleet_of(fake, redis_url, redis_namespace, 2) as (a, b):
        file_id = await upload_one(a, "100001")
        fake.gate.close()  # hold a's clone at the server
        first = asyncio.ensure_future(a.clone_voice(request("Alice", "100001", file_id)))
        await fake.gate.wait_held(1)
        with pytest.raises(DuplicateVoiceNameError):
            await b.clone_voice(request("Alice", "100001", file_id))
        fake.gate.open()
        await first
    assert [v.voice_name for v in fake.record.voices_created] == ["Alice"]


async def test_the_last_voice_slots_go_to_exactly_as_many_jobs(
    redis_url: str, redis_namespace: str
) -> None:
    async with FakeMiniMax(
        accounts=["100001"], clone_latency=(0.005, 0.02), max_voices_per_account=4
    ) as fake:
        fake.add_voice("100001", voice_name="old")  # 3 free slots
        async with fleet_of(fake, redis_url, redis_namespace, 4) as clients:
            file_id = await upload_one(clients[0], "100001")
            calls = [
                c.clone_voice(request(f"p{k}-{i}", "100001", file_id))
                for k, c in enumerate(clients)
                for i in range(3)
            ]
            results = await asyncio.gather(*calls, return_exceptions=True)
    made = [r for r in results if isinstance(r, Voice)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(made) == 3
    assert all(isinstance(r, VoiceSlotsExhaustedError) for r in refused), refused
    assert len(fake.record.voices_created) == 3  # and not one 400


async def test_redis_restarted_mid_run_typed_errors_then_recovery(
    own_redis: RedisProcess, redis_namespace: str
) -> None:
    async with FakeMiniMax(accounts=["100001"], clone_latency=0.01) as fake:
        coordinator = RedisCoordinator(
            own_redis.url, namespace=redis_namespace, liveness_ttl=1.5, coordinator_timeout=0.5
        )
        async with Client(
            token=fake.token, base_url=fake.base_url, accounts=fake.accounts,
            retry=FAST_RETRY, coordinator=coordinator,
        ) as client:  # fmt: skip
            file_id = await upload_one(client, "100001")
            await client.clone_voice(request("before", "100001", file_id))
            own_redis.stop()
            with pytest.raises(CoordinatorUnavailableError):
                await client.clone_voice(request("during", "100001", file_id))
            own_redis.start()  # every key lost: recounted, scripts reloaded
            voice = await client.clone_voice(request("after", "100001", file_id))
            assert voice.voice_name == "after"
    names = [v.voice_name for v in fake.record.voices_created]
    assert names == ["before", "after"]  # "during" was never sent


async def test_clone_statistics_are_fleet_wide(redis_url: str, redis_namespace: str) -> None:
    fake = FakeMiniMax(accounts=["100001"], clone_latency=0.01)
    async with fake, fleet_of(fake, redis_url, redis_namespace, 2) as (a, b):
        file_id = await upload_one(a, "100001")
        fake.gate.close()
        held = asyncio.ensure_future(a.clone_voice(request("x", "100001", file_id)))
        await fake.gate.wait_held(1)
        b.clone_statistics()  # asks for a fresh snapshot
        deadline = asyncio.get_running_loop().time() + 5
        while b.clone_statistics().accounts["100001"].in_flight != 1:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        fake.gate.open()
        await held


def test_a_bad_coordinator_is_refused() -> None:
    from minimax_async import ConfigurationError

    with pytest.raises(ConfigurationError, match="coordinator"):
        Client(token="t", coordinator="redis://x")  # type: ignore[arg-type]
