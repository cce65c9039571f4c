"""The default connection pool is large enough for every account's clones at once."""

from __future__ import annotations

import asyncio

import pytest

from minimax_async import Client, CloneVoiceRequest, ConfigurationError
from minimax_async.testing import make_wav

from .conftest import FAST_RETRY, serve

pytestmark = pytest.mark.anyio

#: More accounts than aiohttp's usual 100 connections can serve at two clones each.
ACCOUNTS = [str(300_001 + i) for i in range(60)]


async def test_every_account_gets_its_two_clones_on_the_wire_at_once() -> None:
    """60 accounts x 2 clones: all 120 reach the server together (the pool does not hold
    any of them back), and none more."""
    async with serve(ACCOUNTS, slots=10, retry=FAST_RETRY) as (fake, client):
        sample = make_wav(11)
        files = {a: (await client.upload_sample(sample, account=a)).file_id for a in ACCOUNTS}
        fake.gate.close()
        jobs = asyncio.gather(
            *(
                client.clone_voice(
                    CloneVoiceRequest(f"v{i}", "English", [files[ACCOUNTS[i % len(ACCOUNTS)]]])
                )
                for i in range(3 * len(ACCOUNTS))
            )
        )
        await fake.gate.wait_held(2 * len(ACCOUNTS))
        assert fake.record.max_clones_in_flight_total == 2 * len(ACCOUNTS)
        fake.gate.open()
        voices = await jobs
        assert len({v.voice_id for v in voices}) == 3 * len(ACCOUNTS)
        assert max(fake.record.max_clones_in_flight.values()) == 2
        assert fake.record.rejected_over_capacity == 0


async def test_a_small_explicit_pool_holds_clones_back() -> None:
    """connection_limit=10 is obeyed: at most 10 clones are ever on the wire."""
    async with serve(ACCOUNTS[:20], slots=10, retry=FAST_RETRY, connection_limit=10) as (
        fake,
        client,
    ):
        sample = make_wav(11)
        files = {a: (await client.upload_sample(sample, account=a)).file_id for a in ACCOUNTS[:20]}
        fake.gate.close()
        jobs = asyncio.gather(
            *(
                client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [files[ACCOUNTS[i % 20]]]))
                for i in range(40)
            )
        )
        await fake.gate.wait_held(10)
        for _ in range(20):  # give an unbounded pool every chance to send an 11th
            await asyncio.sleep(0)
        assert fake.gate.held() == 10
        fake.gate.open()
        await jobs
        assert fake.record.max_clones_in_flight_total == 10


@pytest.mark.parametrize("limit", [-1, 1.5, True, "10"])
def test_bad_connection_limit_is_refused(limit: object) -> None:
    """A connection limit that is not a whole number of connections is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="connection_limit"):
        Client(token="user:1-x", accounts=["1"], connection_limit=limit)  # type: ignore[arg-type]
