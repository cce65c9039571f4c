"""Resilience: retries, shared back-pressure, duplicate-free recovery, account health, shutdown."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from minimax_async import (
    AccountOnHoldError,
    AccountPreconditionError,
    AccountUnavailableError,
    AuthenticationError,
    BadRequestError,
    Client,
    ClientClosedError,
    CloneVoiceRequest,
    ConnectionLostError,
    DuplicateVoiceNameError,
    RetryPolicy,
    ServerError,
    Voice,
    VoiceJob,
)
from minimax_async.testing import FakeMiniMax, Fault, make_wav

pytestmark = pytest.mark.anyio

ACCOUNTS = ["100001", "100002", "100003"]
SLOTS = 1000
QUICK = RetryPolicy(attempts=8, initial_delay=0.001, max_delay=0.01, max_retry_after=0.05)


def client_for(fake: FakeMiniMax, **options: object) -> Client:
    settings: dict[str, object] = {
        "max_voices_per_account": SLOTS,
        "retry": QUICK,
        "recheck_delay": 0.3,
    }
    settings.update(options)
    return Client(
        token=fake.token,
        base_url=fake.base_url,
        accounts=fake.accounts,
        **settings,  # type: ignore[arg-type]
    )


async def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll a condition that the client's own timers (pauses, cooldowns) will make true."""
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110 - no event to wait on: state changes in threads/timers
            await asyncio.sleep(0.002)


async def file_ids(client: Client, accounts: list[str]) -> dict[str, str]:
    return {a: (await client.upload_sample(make_wav(11), account=a)).file_id for a in accounts}


@pytest.fixture
async def one_account() -> AsyncIterator[FakeMiniMax]:
    """A fake with one account and raised voice slots."""
    async with FakeMiniMax(
        accounts=["100001"], clone_latency=0.002, max_voices_per_account=SLOTS, retry_after=0.01
    ) as fake:
        yield fake


# --------------------------------------------------------------------------- chaos


async def test_seeded_chaos_loses_nothing_and_duplicates_nothing() -> None:
    """300 clones, 3 accounts, ~20 % mixed faults: one result each, zero duplicate voices."""
    faults = [
        Fault(status=500, after_effect=True),
        Fault(status=502, after_effect=True),
        Fault(status=504, after_effect=True),
        Fault(drop=True, after_effect=True),
        Fault(drop=True, after_effect=True),
        Fault(drop=True, after_effect=True),
        Fault(status=502),
        Fault(status=503),
        Fault(status=500),
        Fault(drop=True),
        Fault(status=429, retry_after="0.01"),
        Fault(delay=0.3),  # answers after the client's 0.15 s timeout; the voice appears late
    ]
    async with FakeMiniMax(
        accounts=ACCOUNTS, clone_latency=(0.001, 0.004), max_voices_per_account=SLOTS, seed=11
    ) as fake:
        async with client_for(fake, clone_timeout=0.15, lowered_cap_for=0.2) as client:
            files = await file_ids(client, ACCOUNTS)
            fake.faults.chaos("clone-voice", 0.2, faults, seed=20261125)
            requests = [
                CloneVoiceRequest(f"chaos {i}", "English", [files[ACCOUNTS[i % 3]]])
                for i in range(300)
            ]
            results = await asyncio.gather(
                *(client.clone_voice(r) for r in requests), return_exceptions=True
            )
        assert len(results) == 300
        errors = [r for r in results if not isinstance(r, Voice)]
        assert errors == []
        names = Counter(v.voice_name for v in fake.record.voices_created)
        assert len(names) == 300
        assert max(names.values()) == 1, "a voice was cloned twice"
        assert {r.voice_name for r in results if isinstance(r, Voice)} == set(names)
        assert max(fake.record.max_clones_in_flight.values()) <= 2
        sent = fake.record.requests["clone-voice"]
        applied = [f for endpoint, f in fake.record.faults_applied if endpoint == "clone-voice"]
        dropped_after = [f for f in applied if f.drop and f.after_effect]
        assert len(applied) >= 0.10 * sent
        assert len(dropped_after) >= 0.03 * sent
        gc.collect()  # unclosed sessions or transports would warn here (warnings are errors)


# --------------------------------------------------------------------------- retry rules


@pytest.mark.parametrize(
    ("fault", "sent", "error"),
    [
        pytest.param(Fault(status=429, retry_after="0.01"), 2, None, id="429-retried"),
        pytest.param(Fault(status=503), 2, None, id="503-checked-then-retried"),
        pytest.param(Fault(status=400), 1, BadRequestError, id="400-not-retried"),
        pytest.param(Fault(status=422), 1, Exception, id="422-not-retried"),
        pytest.param(Fault(status=412), 1, AccountPreconditionError, id="412-not-retried"),
        pytest.param(Fault(status=596), 1, AccountOnHoldError, id="596-not-retried"),
        pytest.param(Fault(status=401, message="Unauthorized"), 1, AuthenticationError, id="401"),
    ],
)
async def test_which_clone_failures_are_retried(
    one_account: FakeMiniMax, fault: Fault, sent: int, error: type[Exception] | None
) -> None:
    """Transient clone failures are retried; 4xx, 412 and 596 are not."""
    fake = one_account
    async with client_for(fake, recheck_delay=0.01) as client:
        file_id = (await file_ids(client, ["100001"]))["100001"]
        fake.faults.add("clone-voice", fault)
        request = CloneVoiceRequest("one", "English", [file_id])
        if error is None:
            assert (await client.clone_voice(request)).voice_name == "one"
        else:
            with pytest.raises(error):
                await client.clone_voice(request)
        assert fake.record.requests["clone-voice"] == sent


async def test_long_retry_after_is_capped(one_account: FakeMiniMax) -> None:
    """A Retry-After of an hour is cut to the policy's max_retry_after."""
    fake = one_account
    async with client_for(fake) as client:
        file_id = (await file_ids(client, ["100001"]))["100001"]
        fake.faults.add("clone-voice", Fault(status=429, retry_after="3600"))
        with anyio.fail_after(5):
            voice = await client.clone_voice(CloneVoiceRequest("capped", "English", [file_id]))
        assert voice.voice_name == "capped"


async def test_retries_give_up_after_attempts(one_account: FakeMiniMax) -> None:
    """A failure that persists ends after `attempts` tries with the last error."""
    fake = one_account
    async with client_for(fake, recheck_delay=0.001) as client:
        file_id = (await file_ids(client, ["100001"]))["100001"]
        fake.faults.add("clone-voice", Fault(status=502), times=50)
        policy = RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.001)
        with pytest.raises(ServerError):
            await client.with_options(retry=policy).clone_voice(
                CloneVoiceRequest("never", "English", [file_id])
            )
        assert fake.record.requests["clone-voice"] == 3
        assert fake.record.voices_created == []


# --------------------------------------------------------------------------- back-pressure


async def test_429_pauses_the_whole_account_once(one_account: FakeMiniMax) -> None:
    """After a 429 with Retry-After the account's queue waits once, together: no hammering."""
    fake = one_account
    async with client_for(fake, retry=RetryPolicy(attempts=5, max_retry_after=60)) as client:
        file_id = (await file_ids(client, ["100001"]))["100001"]
        fake.faults.add("clone-voice", Fault(status=429, retry_after="30"), times=1000)
        gathered = asyncio.gather(
            *(
                client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [file_id]))
                for i in range(20)
            ),
            return_exceptions=True,
        )
        await wait_until(lambda: client.clone_statistics().accounts["100001"].paused_for > 25)
        await wait_until(lambda: client.clone_statistics().accounts["100001"].in_flight == 0)
        for _ in range(50):  # a client without a shared pause would retry within this time
            await asyncio.sleep(0.002)
        # The first 429 comes beside the other clone (the account drops to one), the second
        # alone: the whole account pauses. Then silence.
        assert fake.record.requests["clone-voice"] == 2
        assert client.clone_statistics().accounts["100001"].waiting == 20
        await client.aclose()
        results = await asyncio.wait_for(gathered, 5)
        assert all(isinstance(r, ClientClosedError) for r in results)


async def test_repeated_429_at_full_cap_lowers_cap_then_restores() -> None:
    """A server that runs one clone at a time: the client drops to 1 in flight, later back to 2."""
    async with (
        FakeMiniMax(
            accounts=["100001"],
            clone_latency=0.003,
            max_voices_per_account=SLOTS,
            max_parallel_clones=1,
            retry_after=0.005,
        ) as fake,
        client_for(fake, lower_cap_after=3, lowered_cap_for=0.5) as client,
    ):
        file_id = (await file_ids(client, ["100001"]))["100001"]
        await asyncio.gather(
            *(
                client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [file_id]))
                for i in range(40)
            )
        )
        assert client.clone_statistics().accounts["100001"].cap == 1
        rejected = fake.record.rejected_over_capacity
        assert 3 <= rejected <= 6  # the strikes, not one 429 per job
        assert len(fake.record.voices_created) == 40
        await wait_until(lambda: client.clone_statistics().accounts["100001"].cap == 2)


# --------------------------------------------------------------------------- adoption


@pytest.mark.parametrize(
    ("fault", "clone_requests"),
    [
        pytest.param(Fault(status=500, after_effect=True), 1, id="500-after-create"),
        pytest.param(Fault(status=502, after_effect=True), 1, id="502-after-create"),
        pytest.param(Fault(status=504, after_effect=True), 1, id="504-after-create"),
        pytest.param(Fault(drop=True, after_effect=True), 1, id="dropped-after-create"),
        pytest.param(Fault(delay=0.2), 1, id="timeout-created-later"),
        pytest.param(Fault(status=502), 2, id="502-before-create-resent"),
        pytest.param(Fault(drop=True), 2, id="dropped-before-create-resent"),
    ],
)
async def test_ambiguous_failure_adopts_or_resends(
    one_account: FakeMiniMax, fault: Fault, clone_requests: int
) -> None:
    """After an ambiguous failure the voice is adopted if it exists, else cloned again."""
    fake = one_account
    async with client_for(fake, clone_timeout=0.1, recheck_delay=0.3) as client:
        file_id = (await file_ids(client, ["100001"]))["100001"]
        fake.add_voice("100001", "adopt me")  # an older voice of that name is never adopted
        fake.faults.add("clone-voice", fault)
        voice = await client.clone_voice(CloneVoiceRequest("adopt me", "English", [file_id]))
        created = [v for v in fake.record.voices_created if v.voice_name == "adopt me"]
        assert len(created) == 1
        assert voice.voice_id == created[0].voice_id
        assert fake.record.requests["clone-voice"] == clone_requests


async def test_unverifiable_ambiguous_failure_is_not_resent(one_account: FakeMiniMax) -> None:
    """If the voice list cannot be read after a dropped clone, the clone is not sent again."""
    fake = one_account
    async with client_for(fake, recheck_delay=0.001) as client:
        file_id = (await file_ids(client, ["100001"]))["100001"]
        await client.clone_voice(CloneVoiceRequest("warm-up", "English", [file_id]))
        fake.faults.add("clone-voice", Fault(drop=True))
        fake.faults.add("voices", Fault(status=400))
        with pytest.raises(ConnectionLostError):
            await client.clone_voice(CloneVoiceRequest("unsure", "English", [file_id]))
        assert fake.record.requests["clone-voice"] == 2  # the warm-up and the dropped one


async def test_same_name_twice_on_one_account_refused_up_front(one_account: FakeMiniMax) -> None:
    """Two live clones of one name on one account: the second is refused before sending."""
    fake = one_account
    async with client_for(fake) as client:
        file_id = (await file_ids(client, ["100001"]))["100001"]
        fake.gate.close()
        first = asyncio.ensure_future(
            client.clone_voice(CloneVoiceRequest("twin", "English", [file_id]))
        )
        await fake.gate.wait_held(1)
        with pytest.raises(DuplicateVoiceNameError):
            await client.clone_voice(CloneVoiceRequest("twin", "English", [file_id]))
        fake.gate.open()
        await first
        assert fake.record.requests["clone-voice"] == 1


# --------------------------------------------------------------------------- account health


@pytest.mark.parametrize(
    "status", [pytest.param(596, id="on-hold"), pytest.param(412, id="no-credit")]
)
async def test_account_out_of_rotation_moves_unpinned_jobs(status: int) -> None:
    """596/412 take an account out of rotation: unpinned jobs finish elsewhere, pinned ones fail."""
    async with (
        FakeMiniMax(accounts=ACCOUNTS, clone_latency=0.002, max_voices_per_account=SLOTS) as fake,
        client_for(fake) as client,
    ):
        fake.set_account_status("100002", status)
        jobs = [VoiceJob(f"v{i}", "English", [make_wav(11)]) for i in range(12)]
        results = [r async for r in client.clone_many(jobs)]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        assert {r.account for r in results} == {"100001", "100003"}
        assert client.clone_statistics().accounts["100002"].out_of_rotation_for > 0
        sent_before = fake.record.total_requests
        with pytest.raises(AccountUnavailableError, match=str(status)):
            await client.clone_from_samples(
                VoiceJob("pinned", "English", [make_wav(11)], account="100002")
            )
        assert fake.record.total_requests == sent_before


async def test_refused_token_fails_every_job_at_once() -> None:
    """A 401 for the token ends all queued jobs with one clear error, not one request each."""
    async with (
        FakeMiniMax(accounts=["100001"], clone_latency=0.002) as fake,
        Client(
            token="user:1-WrongToken", base_url=fake.base_url, accounts=["100001"], retry=QUICK
        ) as client,
    ):
        requests = [
            CloneVoiceRequest(f"v{i}", "English", ["user:1234-minimax:100001-file:1"])
            for i in range(25)
        ]
        results = await asyncio.gather(
            *(client.clone_voice(r) for r in requests), return_exceptions=True
        )
        assert all(isinstance(r, AuthenticationError) for r in results)
        assert {str(r) for r in results} == {
            "HTTP 401 from audio/voices (account 100001): Unauthorized"
        }
        assert fake.record.total_requests == 1
        with pytest.raises(AuthenticationError):
            await client.clone_voice(requests[0])
        assert fake.record.total_requests == 1


# --------------------------------------------------------------------------- shutdown


async def test_aclose_ends_queued_and_running_jobs(one_account: FakeMiniMax) -> None:
    """aclose() with clones queued and running ends each with ClientClosedError, none hangs."""
    fake = one_account
    client = client_for(fake)
    file_id = (await file_ids(client, ["100001"]))["100001"]
    fake.gate.close()
    gathered = asyncio.gather(
        *(client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [file_id])) for i in range(20)),
        return_exceptions=True,
    )
    await fake.gate.wait_held(2)
    await asyncio.wait_for(client.aclose(), 5)
    results = await asyncio.wait_for(gathered, 5)
    assert len(results) == 20
    assert all(isinstance(r, ClientClosedError) for r in results)
    fake.gate.open()
    with pytest.raises(ClientClosedError):
        await client.list_cloned_voices()
    gc.collect()


async def test_aclose_takes_back_only_its_own_cancellation(one_account: FakeMiniMax) -> None:
    """A task whose clone aclose() ended gets ClientClosedError and carries on undisturbed;
    a task the caller cancelled at the same moment stays cancelled (Python 3.11+)."""
    fake = one_account
    client = client_for(fake)
    file_id = (await file_ids(client, ["100001"]))["100001"]
    fake.gate.close()

    async def clone_then_carry_on(name: str) -> str:
        try:
            await client.clone_voice(CloneVoiceRequest(name, "English", [file_id]))
        except ClientClosedError:
            await asyncio.sleep(0.01)  # no cancellation left over to hit this
            return "closed, then carried on"
        return "cloned"

    survivor = asyncio.ensure_future(clone_then_carry_on("a"))
    cancelled = asyncio.ensure_future(clone_then_carry_on("b"))
    await fake.gate.wait_held(2)
    with anyio.fail_after(5):
        cancelled.cancel()
        await client.aclose()  # cancels in the same step, before `cancelled` runs again
    assert await asyncio.wait_for(survivor, 5) == "closed, then carried on"
    if sys.version_info >= (3, 11):
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    else:  # no Task.uncancel(): the two cancellations cannot be told apart
        assert await cancelled == "closed, then carried on"
    fake.gate.open()
    assert not client._operations.running
    assert not client._operations.aborted


async def test_aclose_wait_lets_jobs_finish(one_account: FakeMiniMax) -> None:
    """aclose(wait=True) lets queued and running clones finish, and refuses new ones."""
    fake = one_account
    client = client_for(fake)
    file_id = (await file_ids(client, ["100001"]))["100001"]
    fake.gate.close()
    gathered = asyncio.gather(
        *(client.clone_voice(CloneVoiceRequest(f"v{i}", "English", [file_id])) for i in range(8))
    )
    await fake.gate.wait_held(2)
    closing = asyncio.ensure_future(client.aclose(wait=True))
    await asyncio.sleep(0)
    with pytest.raises(ClientClosedError):
        await client.clone_voice(CloneVoiceRequest("late", "English", [file_id]))
    fake.gate.open()
    voices = await asyncio.wait_for(gathered, 5)
    assert len(voices) == 8
    await asyncio.wait_for(closing, 5)
