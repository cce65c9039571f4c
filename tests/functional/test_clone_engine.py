"""The clone engine and the client's lifecycle: the one adoption rule, the clone 429 log line,
which operations a 5xx retries, and a closed client that leaves nothing running."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator

import pytest

from minimax_async import (
    Client,
    ClientClosedError,
    CloneVoiceRequest,
    ConnectionLostError,
    RetryPolicy,
    ServerError,
    VoiceJob,
)
from minimax_async._wire import config_request
from minimax_async.testing import FakeMiniMax, Fault, make_wav

pytestmark = pytest.mark.anyio

ACCOUNT = "100001"
QUICK = RetryPolicy(attempts=4, initial_delay=0.001, max_delay=0.01, max_retry_after=0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMiniMax]:
    async with FakeMiniMax(
        accounts=[ACCOUNT], clone_latency=0.002, max_voices_per_account=100, retry_after=0.01
    ) as server:
        yield server


def client_for(fake: FakeMiniMax, **options: object) -> Client:
    settings: dict[str, object] = {
        "max_voices_per_account": 100,
        "retry": QUICK,
        "recheck_delay": 0.001,
    }
    settings.update(options)
    return Client(
        token=fake.token,
        base_url=fake.base_url,
        accounts=fake.accounts,
        **settings,  # type: ignore[arg-type]
    )


def library_tasks() -> list[asyncio.Task[object]]:
    """Unfinished tasks whose coroutine is the library's (not the fake server's)."""
    me = asyncio.current_task()
    found = []
    for task in asyncio.all_tasks():
        if task is me or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        if "minimax_async" in filename and "testing" not in filename:
            found.append(task)
    return found


async def test_same_named_voice_of_unknown_age_fails_the_ambiguous_clone(
    fake: FakeMiniMax,
) -> None:
    """After an ambiguous clone failure, a listed voice of the job's name without a creation
    time is neither adopted (it may predate the job) nor cloned again (it may be this
    clone's): the job fails with the ambiguous error, and one clone request was sent."""
    async with client_for(fake) as client:
        file_id = (await client.upload_sample(make_wav(11), account=ACCOUNT)).file_id
        await client.clone_voice(CloneVoiceRequest("warm-up", "English", [file_id]))
        listing = {
            "voice_list": [
                {"voice_id": f"user:1-minimax:{ACCOUNT}-audio:777", "voice_name": "ageless"}
            ]
        }
        fake.faults.add("clone-voice", Fault(drop=True))
        fake.faults.add("voices", Fault(body=json.dumps(listing)))
        with pytest.raises(ConnectionLostError) as raised:
            await client.clone_voice(CloneVoiceRequest("ageless", "English", [file_id]))
        assert "creation time" in str(raised.value.__cause__)
        assert fake.record.requests["clone-voice"] == 2  # the warm-up and the dropped one


async def test_clone_429_log_line_tells_how_the_retry_waits(
    fake: FakeMiniMax, caplog: pytest.LogCaptureFixture
) -> None:
    """A clone refused with 429 is retried through the scheduler's wait, and its log line
    says so (with the wait's length) instead of a back-off of 0.0 s."""
    caplog.set_level(logging.INFO, logger="minimax_async")
    async with client_for(fake) as client:
        file_id = (await client.upload_sample(make_wav(11), account=ACCOUNT)).file_id
        fake.faults.add("clone-voice", Fault(status=429, retry_after="0.02"))
        await client.clone_voice(CloneVoiceRequest("patient", "English", [file_id]))
    assert fake.record.requests["clone-voice"] == 2
    retries = [r.getMessage() for r in caplog.records if "retry 1/3" in r.getMessage()]
    assert len(retries) == 1
    assert "in 0.0 s" not in retries[0]
    assert "the scheduler gives it a clone slot (the account's 429 wait: 0.02 s" in retries[0]
    assert "'patient'" in retries[0]


async def test_upload_is_retried_after_a_5xx(fake: FakeMiniMax) -> None:
    """An upload is safe to send again (a second one only leaves an unused file id), so a
    5xx is retried like any transient failure."""
    async with client_for(fake) as client:
        fake.faults.add("upload-sample", Fault(status=500, after_effect=True))
        uploaded = await client.upload_sample(make_wav(11), account=ACCOUNT)
    assert uploaded.file_id
    assert fake.record.requests["upload-sample"] == 2


async def test_create_mp3_is_not_retried_after_a_5xx(fake: FakeMiniMax) -> None:
    """Speech synthesis is not idempotent (each call makes a clip): a 5xx, after which the
    clip may exist, is raised and not sent again."""
    async with client_for(fake) as client:
        file_id = (await client.upload_sample(make_wav(11), account=ACCOUNT)).file_id
        voice = await client.clone_voice(CloneVoiceRequest("speaker", "English", [file_id]))
        assert voice.voice_id is not None
        fake.faults.add("create-mp3", Fault(status=502, after_effect=True))
        with pytest.raises(ServerError):
            await client.create_mp3("Hello there.", voice.voice_id)
    assert fake.record.requests["create-mp3"] == 1


async def test_aclose_leaves_no_task_and_sends_nothing_more(fake: FakeMiniMax) -> None:
    """aclose() while a background voice count and queued clones are under way: afterwards
    no task of the library is pending, the transport is closed and refuses to open a
    session, and no request reaches the server (warnings are errors: no unclosed session)."""
    client = client_for(fake)  # with retries: a failed count would try again
    file_id = (await client.upload_sample(make_wav(11), account=ACCOUNT)).file_id
    fake.faults.add("voices", Fault(delay=30))  # the first clone's voice count hangs
    clones = [
        asyncio.ensure_future(
            client.clone_voice(CloneVoiceRequest(f"queued {i}", "English", [file_id]))
        )
        for i in range(5)
    ]
    while fake.record.requests["voices"] < 1:  # noqa: ASYNC110 - the count reached the server
        await asyncio.sleep(0.001)
    assert library_tasks()  # the count is a task of the library
    await asyncio.wait_for(client.aclose(), 5)
    results = await asyncio.gather(*clones, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results)
    assert library_tasks() == []
    assert client.closed
    assert client._transport.closed
    seen = fake.record.total_requests
    with pytest.raises(ClientClosedError):
        await client.get_config()
    with pytest.raises(ClientClosedError):
        await client.clone_voice(CloneVoiceRequest("late", "English", [file_id]))
    for _ in range(20):
        await asyncio.sleep(0)
    gc.collect()
    assert fake.record.total_requests == seen
    assert fake.record.requests["clone-voice"] == 0


async def test_a_closed_transport_refuses_to_open_a_session(fake: FakeMiniMax) -> None:
    """Below the client's own closed check: a request that reaches the closed transport
    (one that had a session, and one that never opened one) raises ClientClosedError and
    reaches no server: aclose() dropped the session and no new one is opened."""
    used = client_for(fake)
    await used.get_config()
    never_used = client_for(fake)
    await used.aclose()
    await never_used.aclose()
    seen = fake.record.total_requests
    assert seen == 1
    for client in (used, never_used):
        transport = client._transport
        with pytest.raises(ClientClosedError, match="closed"):
            await transport.send(config_request(None), timeout=5)
        assert transport._session is None
    assert fake.record.total_requests == seen


async def test_aclose_ends_a_shared_upload_no_job_awaits(fake: FakeMiniMax) -> None:
    """With reuse_uploads, an upload is a task that jobs share (shielded from one job's
    cancellation). aclose() while one is under way ends it too: no library task is left
    and the job ends with ClientClosedError."""
    client = client_for(fake, reuse_uploads=True)
    fake.faults.add("upload-sample", Fault(delay=30))
    job = asyncio.ensure_future(
        client.clone_from_samples(VoiceJob("shared", "English", [make_wav(11)]))
    )
    while fake.record.requests["upload-sample"] < 1:  # noqa: ASYNC110 - the upload is on the wire
        await asyncio.sleep(0.001)
    assert library_tasks()
    await asyncio.wait_for(client.aclose(), 5)
    assert isinstance((await asyncio.gather(job, return_exceptions=True))[0], ClientClosedError)
    assert library_tasks() == []
    assert fake.record.requests["clone-voice"] == 0


async def test_aclose_during_clone_many_leaves_no_runner(fake: FakeMiniMax) -> None:
    """aclose() while a clone_many run holds clones at the server: every job's result is a
    ClientClosedError, and once aclose() returns no runner of the run is pending."""
    client = client_for(fake)
    file_id = (await client.upload_sample(make_wav(11), account=ACCOUNT)).file_id
    fake.gate.close()
    jobs = [VoiceJob(f"bulk {i}", "English", [file_id]) for i in range(6)]
    async with client.clone_many(jobs) as run:
        await fake.gate.wait_held(2)
        await asyncio.wait_for(client.aclose(), 5)
        assert library_tasks() == []
        results = [result async for result in run]
    fake.gate.open()
    assert len(results) == 6
    assert all(isinstance(result.error, ClientClosedError) for result in results)
    assert fake.record.requests["clone-voice"] == 2
