"""The per-account clone queue, proved by the fake server's record of clones in flight."""

from __future__ import annotations

import asyncio

import pytest

from minimax_async import Client, CloneVoiceRequest
from minimax_async.testing import make_wav

from .conftest import FAST_RETRY, serve

pytestmark = pytest.mark.anyio

MANY_VOICES = 1000


async def upload_one(client: Client, account: str) -> str:
    return (await client.upload_sample(make_wav(11), account=account)).file_id


async def test_fifty_clones_on_one_account_run_two_at_a_time() -> None:
    """50 gathered clones on one account: the server saw exactly 2 in flight, never more."""
    async with serve(["100001"], slots=MANY_VOICES, latency=(0.001, 0.004), retry=FAST_RETRY) as (
        fake,
        client,
    ):
        file_id = await upload_one(client, "100001")
        voices = await asyncio.gather(
            *(
                client.clone_voice(CloneVoiceRequest(f"voice {i}", "English", [file_id]))
                for i in range(50)
            )
        )
        assert len({v.voice_id for v in voices}) == 50
        assert fake.record.max_clones_in_flight == {"100001": 2}
        assert fake.record.rejected_over_capacity == 0
        assert fake.record.requests["clone-voice"] == 50


async def test_three_accounts_run_six_at_once_two_each() -> None:
    """With 3 accounts, 6 clones are held in flight at once (2 each) and never more."""
    accounts = ["100001", "100002", "100003"]
    async with serve(accounts, slots=MANY_VOICES, latency=0.001, retry=FAST_RETRY) as (
        fake,
        client,
    ):
        files = {a: await upload_one(client, a) for a in accounts}
        fake.gate.close()
        jobs = asyncio.gather(
            *(
                client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [files[accounts[i % 3]]]))
                for i in range(60)
            )
        )
        await fake.gate.wait_held(6)
        for _ in range(10):  # give any over-eager client every chance to send a 7th
            await asyncio.sleep(0)
        assert fake.gate.held() == 6
        assert all(fake.gate.held(a) == 2 for a in accounts)
        stats = client.clone_statistics()
        assert stats.in_flight == 6
        assert stats.waiting == 54
        fake.gate.open()
        assert len(await jobs) == 60
        assert fake.record.max_clones_in_flight == dict.fromkeys(accounts, 2)
        assert fake.record.max_clones_in_flight_total == 6
        assert fake.record.rejected_over_capacity == 0


async def test_busy_account_does_not_hold_up_a_free_one() -> None:
    """While one account's clones are held, a clone for another account completes."""
    accounts = ["100001", "100002"]
    async with serve(accounts, slots=MANY_VOICES, latency=0.001) as (
        fake,
        client,
    ):
        busy, free = await upload_one(client, "100001"), await upload_one(client, "100002")
        fake.gate.close()
        queued = [
            asyncio.ensure_future(client.clone_voice(CloneVoiceRequest(f"b{i}", "English", [busy])))
            for i in range(20)
        ]
        await fake.gate.wait_held(2, account="100001")
        other = asyncio.ensure_future(client.clone_voice(CloneVoiceRequest("f", "English", [free])))
        await fake.gate.wait_held(1, account="100002")
        fake.gate.release(1, account="100002")
        voice = await asyncio.wait_for(other, 5)
        assert voice.account == "100002"
        fake.gate.open()
        await asyncio.gather(*queued)


async def test_cancelling_queued_clones_leaves_nothing_behind() -> None:
    """Cancelling a gather of queued clones empties the queue; no more clones reach the server."""
    async with serve(["100001"], slots=MANY_VOICES, latency=0.001) as (
        fake,
        client,
    ):
        file_id = await upload_one(client, "100001")
        fake.gate.close()
        gathered = asyncio.gather(
            *(
                client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [file_id]))
                for i in range(40)
            )
        )
        await fake.gate.wait_held(2)
        assert client.clone_statistics().waiting == 38
        gathered.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gathered
        stats = client.clone_statistics()
        assert (stats.in_flight, stats.waiting) == (0, 0)
        account = stats.accounts["100001"]
        assert (account.admitted, account.reserved) == (0, 0)
        fake.gate.open()
        sent = fake.record.requests["clone-voice"]
        assert sent == 2
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert fake.record.requests["clone-voice"] == sent  # nothing else arrives later
        voice = await client.clone_voice(CloneVoiceRequest("after", "English", [file_id]))
        assert voice.voice_name == "after"
        assert fake.record.max_clones_in_flight == {"100001": 2}


async def test_queue_wait_does_not_count_against_clone_timeout() -> None:
    """A clone queued longer than clone_timeout still succeeds: only the request is timed."""
    async with serve(
        ["100001"], slots=MANY_VOICES, latency=0.15, max_parallel_clones=1, clone_timeout=0.5
    ) as (
        fake,
        client,
    ):
        file_id = await upload_one(client, "100001")
        voices = await asyncio.gather(
            *(
                client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [file_id]))
                for i in range(6)
            )
        )
        assert len(voices) == 6  # the last waited ~0.75 s in the queue, > clone_timeout
        assert fake.record.max_clones_in_flight == {"100001": 1}


async def test_clone_statistics_report_waiting_per_account() -> None:
    """clone_statistics shows in-flight and waiting counts per account."""
    async with serve(["100001", "100002"], slots=MANY_VOICES, latency=0.001) as (
        fake,
        client,
    ):
        file_id = await upload_one(client, "100001")
        fake.gate.close()
        gathered = asyncio.gather(
            *(
                client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [file_id]))
                for i in range(5)
            )
        )
        await fake.gate.wait_held(2)
        stats = client.clone_statistics().accounts
        assert (stats["100001"].in_flight, stats["100001"].waiting) == (2, 3)
        assert (stats["100002"].in_flight, stats["100002"].waiting) == (0, 0)
        fake.gate.open()
        await gathered
