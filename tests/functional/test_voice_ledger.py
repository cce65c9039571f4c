"""The voice-slot ledger after ambiguous clone failures: never room that is not there.

An ambiguous clone failure (a timeout, a broken connection, a 5xx) may leave a clone running
on the server: its voice can appear after the client has looked for it. Whatever happens
next (the job sends the clone again, fails, or moves on), the client must never count a
free voice slot that the server does not have: the server's own record shows no clone
beyond the account's free slots, and every job ends in one result or one error.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from minimax_async import (
    BadRequestError,
    Client,
    CloneVoiceRequest,
    MiniMaxError,
    RequestTimeoutError,
    RetryPolicy,
    VoiceJob,
    VoiceSlotsExhaustedError,
)
from minimax_async.testing import FakeMiniMax, make_wav

pytestmark = pytest.mark.anyio

ACCOUNT = "100001"
QUICK = RetryPolicy(attempts=4, initial_delay=0.001, max_delay=0.01)


@pytest.fixture
async def two_slots() -> AsyncIterator[FakeMiniMax]:
    """One account of two voice slots, one of them taken by a voice made by hand."""
    async with FakeMiniMax(
        accounts=[ACCOUNT], clone_latency=0.001, max_voices_per_account=2
    ) as fake:
        fake.add_voice(ACCOUNT, "made by hand")
        yield fake


def ledger_client(fake: FakeMiniMax, **options: object) -> Client:
    settings: dict[str, object] = {
        "max_voices_per_account": 2,
        "retry": QUICK,
        "recheck_delay": 0.01,
        # The gate holds the first attempt past this: the client gives up on it while the
        # server still works on it (a clone the server finishes late).
        "clone_timeout": 0.2,
    }
    settings.update(options)
    return Client(
        token=fake.token,
        base_url=fake.base_url,
        accounts=fake.accounts,
        **settings,  # type: ignore[arg-type]
    )


async def test_a_clone_still_running_after_its_timeout_keeps_its_slot(
    two_slots: FakeMiniMax,
) -> None:
    """The first attempt times out at the client, is not listed, and completes later.

    Before the fix the job sent the clone again into its own (now taken) slot, met the
    server's 400 for the voice limit, and gave its reservation back although its first
    attempt had made a voice: the next job was sent into a full account and met the 400
    too. Now the timed-out attempt counts as a voice: the resend finds no free slot, so
    nothing the server must refuse is ever sent.
    """
    fake = two_slots
    async with ledger_client(fake) as client:
        file_id = (await client.upload_sample(make_wav(11), account=ACCOUNT)).file_id
        fake.gate.close()
        first = asyncio.ensure_future(
            client.clone_voice(CloneVoiceRequest("late", "English", [file_id]))
        )
        await fake.gate.wait_held(1)
        # The client gives up on the held attempt (0.2 s), lists the voices twice, finds
        # nothing and must not send a clone the account cannot take.
        with pytest.raises(MiniMaxError) as failed:
            await first
        assert not isinstance(failed.value, BadRequestError)
        assert isinstance(failed.value, RequestTimeoutError | VoiceSlotsExhaustedError)
        assert fake.record.requests["clone-voice"] == 1
        fake.gate.open()  # the held clone completes: the account is full now
        await _until(lambda: len(fake.record.voices_created) == 1)
        assert len(fake.voices(ACCOUNT)) == 2
        # The ledger knows there is no room: the next job is refused before sending.
        with pytest.raises(VoiceSlotsExhaustedError):
            await client.clone_voice(CloneVoiceRequest("next", "English", [file_id]))
        assert fake.record.requests["clone-voice"] == 1


async def test_a_resend_never_shares_one_slot_with_the_attempt_it_replaces() -> None:
    """With room for both, a resend after an unresolved attempt needs a slot of its own.

    Three slots, one taken by hand: the job's first attempt is held past its timeout, the
    job sends again, and both attempts complete (two voices). Before the fix the ledger
    counted one voice for the job and sent the next job into the full account (a 400);
    now the next job is refused before anything is sent.
    """
    async with FakeMiniMax(
        accounts=[ACCOUNT], clone_latency=0.001, max_voices_per_account=3
    ) as fake:
        fake.add_voice(ACCOUNT, "made by hand")
        async with ledger_client(fake, max_voices_per_account=3) as client:
            file_id = (await client.upload_sample(make_wav(11), account=ACCOUNT)).file_id
            fake.gate.close()
            first = asyncio.ensure_future(
                client.clone_voice(CloneVoiceRequest("twice", "English", [file_id]))
            )
            await fake.gate.wait_held(2)  # the timed-out attempt and its resend
            fake.gate.open()
            voice = await first
            assert voice.voice_name == "twice"
            await _until(lambda: len(fake.record.voices_created) == 2)
            assert len(fake.voices(ACCOUNT)) == 3
            with pytest.raises(VoiceSlotsExhaustedError):
                await client.clone_voice(CloneVoiceRequest("next", "English", [file_id]))
            assert fake.record.requests["clone-voice"] == 2


async def test_bulk_run_with_late_clones_never_meets_the_voice_limit() -> None:
    """clone_many over accounts whose first attempts all finish after their timeout and
    after both listings, when a clone is sent again.

    Every job ends once; no clone is sent into a full account (the server never needs to
    refuse one with its 400: no job fails with a BadRequestError), no account holds more
    voices than the client counted, and no name is cloned twice.
    """
    accounts = ["100001", "100002", "100003"]
    async with (
        FakeMiniMax(accounts=accounts, clone_latency=0.001, max_voices_per_account=2) as fake,
        Client(
            token=fake.token,
            base_url=fake.base_url,
            accounts=accounts,
            max_voices_per_account=2,
            retry=QUICK,
            recheck_delay=0.01,
            clone_timeout=0.2,
            reuse_uploads=True,
        ) as client,
    ):
        sample = make_wav(11)
        jobs = [VoiceJob(f"v{i}", "English", sample) for i in range(9)]
        fake.gate.close()
        counted = len(accounts)  # one listing per account counts its voices
        run_over = asyncio.Event()

        async def open_after_two_listings() -> None:
            # The first attempts stay held after the client gave up on them; they
            # complete once it has listed the voices twice without finding any (or
            # when the run is over): after both listings, before a resend.
            await _until(lambda: fake.record.requests["voices"] >= counted + 2 or run_over.is_set())
            fake.gate.open()

        opener = asyncio.ensure_future(open_after_two_listings())
        ended: Counter[str] = Counter()
        errors: list[BaseException] = []
        async with client.clone_many(jobs) as results:
            async for result in results:
                ended[result.job.voice_name] += 1
                if result.error is not None:
                    errors.append(result.error)
        run_over.set()
        await opener
        await _until(
            lambda: fake.gate.held() == 0 and not any(fake.record.clones_in_flight.values())
        )
        assert sorted(ended) == sorted(j.voice_name for j in jobs)
        assert set(ended.values()) == {1}
        assert not [e for e in errors if isinstance(e, BadRequestError)]
        for account in accounts:
            assert len(fake.voices(account)) <= 2
        names = Counter((v.account, v.voice_name) for v in fake.record.voices_created)
        assert set(names.values()) <= {1}
        assert fake.record.requests["clone-voice"] <= 2 * len(accounts)


async def _until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll a condition that the server's clones (released by the gate) will make true."""
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110 - the fake server has no event for it
            await asyncio.sleep(0.002)


async def test_a_clone_queued_for_a_pooled_connection_is_not_timed_out_by_the_queue() -> None:
    """With one connection, held by a clone at the gate, a second clone waits for it.

    Waiting for a pooled connection sends nothing, so it is not the server's silence:
    before the fix aiohttp's total timeout (which counts that wait) failed the second
    clone with a RequestTimeoutError it had never sent, and the client took it for an
    ambiguous failure (recovery listings, the slot counted as a possible voice). Now the
    wait is outside every timeout: the clone is sent once the connection frees, and its
    account is listed only for its count.
    """
    accounts = ["100001", "100002"]
    async with (
        FakeMiniMax(accounts=accounts, clone_latency=0.001, max_voices_per_account=4) as fake,
        Client(
            token=fake.token,
            base_url=fake.base_url,
            accounts=accounts,
            max_voices_per_account=4,
            retry=QUICK,
            recheck_delay=0.01,
            connection_limit=1,
            connect_timeout=0.05,
            clone_timeout=0.2,
        ) as client,
    ):
        files = {a: (await client.upload_sample(make_wav(11), account=a)).file_id for a in accounts}
        # Count both accounts' voices before the only connection is taken.
        await client.clone_voice(CloneVoiceRequest("warm-up", "English", [files["100002"]]))
        await client.clone_voice(CloneVoiceRequest("warm-up", "English", [files["100001"]]))
        listed = fake.record.requests_by_account[("voices", "100002")]
        fake.gate.close()
        patient = client.with_options(clone_timeout=30.0)
        holding = asyncio.ensure_future(
            patient.clone_voice(CloneVoiceRequest("holds", "English", [files["100001"]]))
        )
        await fake.gate.wait_held(1)
        queued = asyncio.ensure_future(
            client.clone_voice(CloneVoiceRequest("queued", "English", [files["100002"]]))
        )
        # Longer than the queued clone's whole bound (connect_timeout + clone_timeout):
        # nothing to wait on, the point is that its bound passes while it is queued.
        await asyncio.sleep(0.6)
        assert not queued.done()
        assert fake.record.requests["clone-voice"] == 3  # the warm-ups and the held one
        fake.gate.open()
        voice = await queued
        await holding
        assert voice.voice_name == "queued"
        assert fake.record.requests["clone-voice"] == 4
        assert fake.record.requests_by_account[("voices", "100002")] == listed
