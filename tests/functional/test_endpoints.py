"""Every client operation against the fake server: its success and its error answers."""

from __future__ import annotations

import socket
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest

from minimax_async import (
    Account,
    AccountOnHoldError,
    AccountPreconditionError,
    AccountUnavailableError,
    APIError,
    AudioConfig,
    AuthenticationError,
    BadRequestError,
    Client,
    ClientClosedError,
    Clip,
    CloneVoiceRequest,
    ConnectError,
    ConnectionLostError,
    ContentModeratedError,
    CreateStreamRequest,
    MiniMaxError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    TransportError,
    Voice,
    VoiceSlotsExhaustedError,
)
from minimax_async.testing import FakeMiniMax, Fault, make_mp3, make_wav

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

ACCOUNT = "100001"
OTHER = "100002"
NO_RETRY = RetryPolicy(attempts=1)
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@pytest.fixture
async def two_accounts() -> AsyncIterator[tuple[FakeMiniMax, Client]]:
    """A fake with two accounts and a client configured with both."""
    async with (
        FakeMiniMax(accounts=[ACCOUNT, OTHER], clone_latency=0.002, retry_after=0.01) as fake,
        Client(
            token=fake.token, base_url=fake.base_url, accounts=fake.accounts, retry=FAST_RETRY
        ) as client,
    ):
        yield fake, client


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/minimax"


async def upload(client: Client, account: str | None = None) -> str:
    """Upload a 12 s WAV and return its file id."""
    return (await client.upload_sample(make_wav(12), account=account)).file_id


async def clone(client: Client, name: str, account: str | None = None) -> Voice:
    """Upload one sample and clone a voice from it."""
    file_id = await upload(client, account)
    return await client.clone_voice(CloneVoiceRequest(name, "English", [file_id]))


async def first_system_voice(client: Client) -> Voice:
    """The first voice of the system catalogue (one small page, generator closed)."""
    voices = client.iter_system_voices(page_size=1)
    assert isinstance(voices, AsyncGenerator)
    try:
        voice: Voice = await voices.__anext__()
    finally:
        await voices.aclose()
    return voice


# --------------------------------------------------------------------------- upload-sample


async def test_upload_sample_bytes(fake: FakeMiniMax, client: Client) -> None:
    """Uploading WAV bytes answers a file id on the configured account."""
    sample = await client.upload_sample(make_wav(12))
    assert sample.account == ACCOUNT
    assert sample.file_id.startswith(f"user:{fake.user_id}-minimax:{ACCOUNT}-file:")
    assert sample.oss_path is not None
    assert sample.oss_path.endswith(".wav")
    assert fake.record.uploads == 1


async def test_upload_sample_path(fake: FakeMiniMax, client: Client, tmp_path: Path) -> None:
    """Uploading an .mp3 path sends it as audio/mpeg."""
    path = tmp_path / "sample.mp3"
    path.write_bytes(make_mp3(12))
    sample = await client.upload_sample(path)
    assert sample.oss_path is not None
    assert sample.oss_path.endswith(".mp3")
    assert fake.record.uploads == 1


async def test_upload_sample_explicit_content_type(fake: FakeMiniMax, client: Client) -> None:
    """An explicit audio/wave content type is accepted and used."""
    sample = await client.upload_sample(make_wav(15), content_type="audio/wave")
    assert sample.account == ACCOUNT
    assert fake.record.uploads == 1


async def test_upload_sample_server_400(fake: FakeMiniMax, client: Client) -> None:
    """A 400 from upload-sample is a BadRequestError carrying the server's words."""
    fake.faults.add("upload-sample", Fault(status=400, message="MiniMax refused the sample"))
    with pytest.raises(BadRequestError) as caught:
        await client.upload_sample(make_wav(12))
    error = caught.value
    assert (error.status, error.message) == (400, "MiniMax refused the sample")
    assert (error.endpoint, error.account) == ("audio/upload-sample", ACCOUNT)
    assert fake.record.requests["upload-sample"] == 1  # not idempotent: never retried


# --------------------------------------------------------------------------- clone-voice


async def test_clone_voice_sends_files_as_one_string(
    two_accounts: tuple[FakeMiniMax, Client],
) -> None:
    """A clone sends files comma-joined and the account derived from the file ids."""
    fake, client = two_accounts
    first = await upload(client, OTHER)
    second = await upload(client, OTHER)
    voice = await client.clone_voice(CloneVoiceRequest("Doctor Who", "English", [first, second]))
    assert voice.voice_name == "Doctor Who"
    assert voice.account == OTHER
    assert voice.tag_list == ("English",)
    assert voice.create_time is not None
    body = fake.record.clone_bodies[-1]
    assert body["files"] == f"{first},{second}"
    assert body["account"] == OTHER
    assert body["need_noise_reduction"] is True
    assert [v["voice_name"] for v in fake.voices(OTHER)] == ["Doctor Who"]
    assert fake.voices(ACCOUNT) == []


async def test_clone_voice_unknown_language_is_400(fake: FakeMiniMax, client: Client) -> None:
    """The server's 400 for an unknown language tag comes back with its message."""
    file_id = await upload(client)
    with pytest.raises(BadRequestError) as caught:
        await client.clone_voice(CloneVoiceRequest("Doctor Who", "Klingon", [file_id]))
    error = caught.value
    assert error.status == 400
    assert "Klingon" in error.message
    assert "language_tag" in error.message
    assert (error.endpoint, error.account) == ("audio/clone-voice", ACCOUNT)
    assert fake.record.requests["clone-voice"] == 1
    assert fake.voices(ACCOUNT) == []


async def test_list_cloned_voices(fake: FakeMiniMax, client: Client) -> None:
    """Cloned voices are listed, hand-made ones included."""
    fake.add_voice(ACCOUNT, "Made by hand")
    made = await clone(client, "Made by API")
    voices = await client.list_cloned_voices()
    assert sorted(v.voice_name or "" for v in voices) == ["Made by API", "Made by hand"]
    assert made.voice_id in {v.voice_id for v in voices}
    assert all(v.account == ACCOUNT for v in voices)


# --------------------------------------------------------------------------- system voices


async def test_iter_system_voices_follows_has_more(fake: FakeMiniMax, client: Client) -> None:
    """page_size=100 walks 12 pages and yields all 1200 system voices once each."""
    voices = [voice async for voice in client.iter_system_voices(page_size=100)]
    assert len(voices) == 1200
    assert len({v.voice_id for v in voices}) == 1200
    assert fake.record.requests["voices"] == 12


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param(["Italian", "Female"], id="list"),
        pytest.param("Italian,Female", id="string"),
    ],
)
async def test_iter_system_voices_tag_filter(client: Client, tags: list[str] | str) -> None:
    """tag_list, as a list or a comma string, keeps only voices with every tag."""
    voices = [voice async for voice in client.iter_system_voices(tag_list=tags)]
    assert 0 < len(voices) < 1200
    assert all({"Italian", "Female"} <= set(v.tag_list) for v in voices)
    assert len({v.voice_id for v in voices}) == len(voices)


# --------------------------------------------------------------------------- delete-voice


async def test_delete_voice_is_idempotent(fake: FakeMiniMax, client: Client) -> None:
    """Deleting a voice twice succeeds both times and the voice is gone."""
    voice = await clone(client, "Short lived")
    assert voice.voice_id is not None
    await client.delete_voice(voice.voice_id)
    await client.delete_voice(voice.voice_id)
    assert fake.voices(ACCOUNT) == []
    assert await client.list_cloned_voices() == []


async def test_delete_voice_frees_a_slot(fake: FakeMiniMax, client: Client) -> None:
    """With 4 voices a 5th clone fails fast; after a delete the clone succeeds."""
    file_id = await upload(client)
    voices = [
        await client.clone_voice(CloneVoiceRequest(f"voice {i}", "English", [file_id]))
        for i in range(4)
    ]
    clones_sent = fake.record.requests["clone-voice"]
    assert clones_sent == 4
    with pytest.raises(VoiceSlotsExhaustedError) as caught:
        await client.clone_voice(CloneVoiceRequest("voice 5", "English", [file_id]))
    assert caught.value.counts == {ACCOUNT: 4}
    assert caught.value.limit == 4
    assert fake.record.requests["clone-voice"] == clones_sent
    first = voices[0].voice_id
    assert first is not None
    await client.delete_voice(first)
    fifth = await client.clone_voice(CloneVoiceRequest("voice 5", "English", [file_id]))
    assert fifth.voice_name == "voice 5"
    assert len(fake.voices(ACCOUNT)) == 4
    assert fake.record.requests["clone-voice"] == clones_sent + 1


# --------------------------------------------------------------------------- config, accounts


async def test_get_config(client: Client) -> None:
    """The config answer is typed: languages and emotions are usable values."""
    config = await client.get_config()
    assert isinstance(config, AudioConfig)
    assert "English" in config.languages
    assert "happy" in config.emotions
    assert {t.tag_name for t in config.voice_tag_gender} == {"Male", "Female"}
    assert any(a.tag_name == "US (General)" for a in config.voice_tag_accent)


async def test_list_accounts(two_accounts: tuple[FakeMiniMax, Client]) -> None:
    """Accounts come back as typed records; one in error is not usable for audio."""
    fake, client = two_accounts
    fake.set_account_status(OTHER, 596)
    accounts = await client.list_accounts()
    assert all(isinstance(a, Account) for a in accounts)
    by_id = {a.account: a for a in accounts}
    assert list(by_id) == [ACCOUNT, OTHER]
    ok, on_hold = by_id[ACCOUNT], by_id[OTHER]
    assert ok.support_audio is True
    assert ok.max_jobs == 2
    assert ok.error is None
    assert ok.usable_for_audio
    assert on_hold.error is not None
    assert "on hold" in on_hold.error
    assert not on_hold.usable_for_audio
    assert ok.jwt is not None
    assert ok.jwt.user is not None
    assert ok.jwt.user.device_id == f"9{ACCOUNT}"


async def test_get_account(client: Client) -> None:
    """A configured account is answered as an Account."""
    account = await client.get_account(ACCOUNT)
    assert account.account == ACCOUNT
    assert account.usable_for_audio


async def test_get_unknown_account_is_not_found(fake: FakeMiniMax, client: Client) -> None:
    """An unknown account is a NotFoundError with the plain-text body as its message."""
    with pytest.raises(NotFoundError) as caught:
        await client.get_account("999999")
    error = caught.value
    assert error.status == 404
    assert error.message == "Configuration not found. To create configuration use POST /accounts."
    assert (error.endpoint, error.account) == ("accounts/{account}", "999999")
    assert fake.record.requests["account"] == 1


# --------------------------------------------------------------------------- speech, clips


async def test_create_mp3(client: Client) -> None:
    """create-mp3 with a cloned voice answers a clip on the voice's account."""
    voice = await clone(client, "Narrator")
    assert voice.voice_id is not None
    clip = await client.create_mp3("Hello there.", voice.voice_id, speed=1.5, robotic=True)
    assert isinstance(clip, Clip)
    assert clip.text == "Hello there."
    assert clip.speed == 1.5
    assert clip.effects is not None
    assert clip.effects.robotic is True
    assert clip.voice_info is not None
    assert clip.voice_info.voice_id == voice.voice_id
    assert clip.audio_url is not None
    assert clip.audio_url.endswith(".mp3")


async def test_create_mp3_unknown_voice_is_400(fake: FakeMiniMax, client: Client) -> None:
    """create-mp3 with a voice that does not exist is the server's 400, sent once."""
    with pytest.raises(BadRequestError) as caught:
        await client.create_mp3("Hello there.", "123")
    error = caught.value
    assert "123" in error.message
    assert (error.endpoint, error.account) == ("audio/create-mp3", ACCOUNT)
    assert fake.record.requests["create-mp3"] == 1


async def test_create_stream(client: Client) -> None:
    """create-stream answers a token and payload; the token stays out of the repr."""
    system = await first_system_voice(client)
    assert system.voice_id is not None
    text = "A long story. " * 100
    stream = await client.create_stream(CreateStreamRequest(text=text, voice_id=system.voice_id))
    assert stream.token is not None
    assert stream.token.startswith("fakestream-")
    assert stream.token not in repr(stream)
    assert stream.payload is not None
    assert stream.payload["voice_id"] == system.voice_id
    assert stream.payload["text"] == text


async def test_iter_get_and_delete_clips(fake: FakeMiniMax, client: Client) -> None:
    """Clips are listed newest first across pages, fetched by id and deleted idempotently."""
    system = await first_system_voice(client)
    assert system.voice_id is not None
    made = [await client.create_mp3(f"clip {i}", system.voice_id) for i in range(3)]
    listed = [clip async for clip in client.iter_clips(page_size=2)]
    assert [c.audio_id for c in listed] == [c.audio_id for c in reversed(made)]
    assert fake.record.requests["audio-list"] == 2
    audio_id = made[0].audio_id
    assert audio_id is not None
    fetched = await client.get_clip(audio_id)
    assert fetched.text == "clip 0"
    assert fetched.voice_info is not None
    assert fetched.voice_info.voice_id == system.voice_id
    await client.delete_clip(audio_id)
    await client.delete_clip(audio_id)
    with pytest.raises(NotFoundError) as caught:
        await client.get_clip(audio_id)
    assert (caught.value.endpoint, caught.value.account) == ("audio/{audio_id}", ACCOUNT)
    assert len([clip async for clip in client.iter_clips()]) == 2


# --------------------------------------------------------------------------- error statuses


@pytest.mark.parametrize(
    ("fault", "error_class", "message"),
    [
        pytest.param(
            Fault(status=400, message="bad param"), BadRequestError, "bad param", id="400"
        ),
        pytest.param(
            Fault(status=401, message="Wrong username/password combination."),
            AuthenticationError,
            "Wrong username/password combination.",
            id="401",
        ),
        pytest.param(
            Fault(status=402, message="Subscription expired"),
            PaymentRequiredError,
            "Subscription expired",
            id="402",
        ),
        pytest.param(
            Fault(status=403, message="Not yours"), PermissionDeniedError, "Not yours", id="403"
        ),
        pytest.param(Fault(status=404, message="No such"), NotFoundError, "No such", id="404"),
        pytest.param(
            Fault(status=412, message="No audio subscription"),
            AccountPreconditionError,
            "No audio subscription",
            id="412",
        ),
        pytest.param(
            Fault(status=422, message="Moderated"), ContentModeratedError, "Moderated", id="422"
        ),
        pytest.param(
            Fault(status=429, message="Too many jobs", retry_after="7"),
            RateLimitError,
            "Too many jobs",
            id="429",
        ),
        pytest.param(Fault(status=500, message="Boom"), ServerError, "Boom", id="500"),
        pytest.param(
            Fault(status=502, body=NGINX_502, content_type="text/html"),
            ServerError,
            "502 Bad Gateway",
            id="502-html",
        ),
        pytest.param(
            Fault(status=503, message="Unavailable"), ServerError, "Unavailable", id="503"
        ),
        pytest.param(Fault(status=504, message="Too busy"), ServerError, "Too busy", id="504"),
        pytest.param(
            Fault(status=596, message="Account on hold"),
            AccountOnHoldError,
            "Account on hold",
            id="596",
        ),
        pytest.param(Fault(status=418, message="I'm a teapot"), APIError, "I'm a teapot", id="418"),
    ],
)
async def test_error_status_raises_its_class(
    fake: FakeMiniMax,
    client: Client,
    fault: Fault,
    error_class: type[APIError],
    message: str,
) -> None:
    """Each error status raises its class with status, message, endpoint and account."""
    fake.faults.add("config", fault)
    with pytest.raises(APIError) as caught:
        await client.with_options(retry=NO_RETRY).get_config()
    error = caught.value
    assert type(error) is error_class
    assert isinstance(error, MiniMaxError)
    assert error.status == fault.status
    assert error.message == message
    assert "<" not in error.message
    assert (error.endpoint, error.account) == ("audio/config", ACCOUNT)
    assert str(fault.status) in str(error)
    if isinstance(error, RateLimitError):
        assert error.retry_after == 7.0
    assert fake.record.requests["config"] == 1


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(status=429, retry_after="0"), id="429"),
        pytest.param(Fault(status=500), id="500"),
        pytest.param(Fault(status=502, body=NGINX_502, content_type="text/html"), id="502"),
        pytest.param(Fault(status=503), id="503"),
        pytest.param(Fault(status=504), id="504"),
    ],
)
async def test_transient_failures_are_retried(
    fake: FakeMiniMax, client: Client, fault: Fault
) -> None:
    """A transient failure twice on an idempotent endpoint: the 3rd try succeeds."""
    fake.faults.add("config", fault, times=2)
    config = await client.get_config()
    assert "English" in config.languages
    assert fake.record.requests["config"] == 3


async def test_dropped_connection_is_retried_when_idempotent(
    fake: FakeMiniMax, client: Client
) -> None:
    """delete-voice (a POST, idempotent by contract) is resent after two dropped connections."""
    fake.faults.add("delete-voice", Fault(drop=True), times=2)
    await client.delete_voice(f"user:{fake.user_id}-minimax:{ACCOUNT}-audio:999")
    assert fake.record.requests["delete-voice"] == 3


async def test_bad_request_is_not_retried(fake: FakeMiniMax, client: Client) -> None:
    """A 400 is tried once, even with retries enabled."""
    fake.faults.add("config", Fault(status=400), times=2)
    with pytest.raises(BadRequestError):
        await client.get_config()
    assert fake.record.requests["config"] == 1


async def test_retries_give_up_after_the_last_attempt(fake: FakeMiniMax, client: Client) -> None:
    """A 503 on every try raises after FAST_RETRY's 4 attempts."""
    fake.faults.add("config", Fault(status=503, message="down"), times=10)
    with pytest.raises(ServerError, match="down"):
        await client.get_config()
    assert fake.record.requests["config"] == FAST_RETRY.attempts


async def test_create_mp3_not_retried_after_500(fake: FakeMiniMax, client: Client) -> None:
    """create-mp3 is not idempotent: a 500 (maybe processed) is not retried."""
    system = await first_system_voice(client)
    assert system.voice_id is not None
    fake.faults.add("create-mp3", Fault(status=500))
    with pytest.raises(ServerError):
        await client.create_mp3("Hello", system.voice_id)
    assert fake.record.requests["create-mp3"] == 1


async def test_create_mp3_retried_after_429(fake: FakeMiniMax, client: Client) -> None:
    """create-mp3 is retried after a 429: the server surely did not act on it."""
    system = await first_system_voice(client)
    assert system.voice_id is not None
    fake.faults.add("create-mp3", Fault(status=429, retry_after="0"))
    clip = await client.create_mp3("Hello", system.voice_id)
    assert clip.text == "Hello"
    assert fake.record.requests["create-mp3"] == 2


# --------------------------------------------------------------------------- transport errors


@pytest.mark.parametrize(
    ("endpoint", "times"),
    [
        # aiohttp itself resends an idempotent GET once when the connection breaks
        # (RFC 9112 §9.3.1.1), so two drops are needed to reach the client's retry rules.
        pytest.param("config", 2, id="GET-config"),
        pytest.param("delete-voice", 1, id="POST-delete-voice"),
    ],
)
async def test_dropped_connection_is_connection_lost(
    fake: FakeMiniMax, client: Client, endpoint: str, times: int
) -> None:
    """A connection closed without an answer is ConnectionLostError (maybe processed)."""
    fake.faults.add(endpoint, Fault(drop=True), times=times)
    once = client.with_options(retry=NO_RETRY)
    voice_id = f"user:{fake.user_id}-minimax:{ACCOUNT}-audio:999"
    operation = once.get_config() if endpoint == "config" else once.delete_voice(voice_id)
    with pytest.raises(ConnectionLostError) as caught:
        await operation
    assert caught.value.maybe_processed
    assert isinstance(caught.value, TransportError)
    assert caught.value.account == ACCOUNT
    assert caught.value.endpoint == f"audio/{endpoint}"
    assert fake.record.requests[endpoint] == times


async def test_closed_port_is_connect_error() -> None:
    """Nothing listening is ConnectError: the request was never sent."""
    async with Client(token="user:1-abc", base_url=closed_port_url(), retry=NO_RETRY) as client:
        with pytest.raises(ConnectError) as caught:
            await client.get_config()
    assert not caught.value.maybe_processed
    assert caught.value.endpoint == "audio/config"
    assert isinstance(caught.value, TransportError)


async def test_slow_answer_is_request_timeout(fake: FakeMiniMax, client: Client) -> None:
    """An answer slower than the timeout is RequestTimeoutError, also a TimeoutError."""
    fake.faults.add("config", Fault(delay=0.5))
    slow = client.with_options(timeout=0.1, retry=NO_RETRY)
    with pytest.raises(RequestTimeoutError) as caught:
        await slow.get_config()
    assert isinstance(caught.value, TimeoutError)
    assert (caught.value.endpoint, caught.value.account) == ("audio/config", ACCOUNT)


# --------------------------------------------------------------------------- account health


async def test_account_on_hold_after_a_clone_is_out_of_rotation(
    fake: FakeMiniMax, client: Client
) -> None:
    """After a 596, a clone pinned to the account fails fast (voice count already known)."""
    await clone(client, "Before the hold")
    file_id = await upload(client)
    fake.set_account_status(ACCOUNT, 596)
    with pytest.raises(AccountOnHoldError) as caught:
        await client.get_config()
    assert (caught.value.status, caught.value.account) == (596, ACCOUNT)
    assert fake.record.requests["config"] == 1  # 596 is not retried
    sent = fake.record.total_requests
    with pytest.raises(AccountUnavailableError) as unavailable:
        await client.clone_voice(CloneVoiceRequest("Held", "English", [file_id]))
    assert (unavailable.value.account, unavailable.value.cause_status) == (ACCOUNT, 596)
    assert fake.record.total_requests == sent


async def test_account_on_hold_then_out_of_rotation(fake: FakeMiniMax, client: Client) -> None:
    """After a 596 the account is out of rotation: a pinned clone fails without a request."""
    file_id = await upload(client)
    fake.set_account_status(ACCOUNT, 596)
    with pytest.raises(AccountOnHoldError) as caught:
        await client.get_config()
    assert (caught.value.status, caught.value.account) == (596, ACCOUNT)
    assert fake.record.requests["config"] == 1  # 596 is not retried
    sent = fake.record.total_requests
    with pytest.raises(AccountUnavailableError) as unavailable:
        await client.clone_voice(CloneVoiceRequest("Held", "English", [file_id]))
    assert (unavailable.value.account, unavailable.value.cause_status) == (ACCOUNT, 596)
    assert fake.record.total_requests == sent


# --------------------------------------------------------------------------- lifecycle


async def test_leaving_a_view_leaves_its_client_open(fake: FakeMiniMax) -> None:
    """A with_options view used as a context manager (or closed) does not close the client
    that made it: the client and its other views keep working."""
    async with Client(token=fake.token, base_url=fake.base_url, accounts=fake.accounts) as client:
        async with client.with_options(timeout=5) as view:
            await view.get_config()
        await view.aclose()
        assert not client.closed
        await client.get_config()
        await client.with_options(retry=NO_RETRY).get_config()
    assert client.closed
    assert view.closed
    assert fake.record.requests["config"] == 3


async def test_closed_client_refuses_work(fake: FakeMiniMax) -> None:
    """After aclose() every operation raises ClientClosedError (a RuntimeError)."""
    client = Client(token=fake.token, base_url=fake.base_url, accounts=fake.accounts)
    await client.get_config()
    view = client.with_options(timeout=5)
    await client.aclose()
    await client.aclose()
    assert client.closed
    for operation in (client.get_config, view.get_config, client.list_cloned_voices):
        with pytest.raises(ClientClosedError) as caught:
            await operation()
        assert isinstance(caught.value, RuntimeError)
    with pytest.raises(ClientClosedError):
        await client.upload_sample(make_wav(12))
    with pytest.raises(ClientClosedError):
        await client.clone_voice(
            CloneVoiceRequest("x", "English", [f"user:1-minimax:{ACCOUNT}-file:1"])
        )
    with pytest.raises(ClientClosedError):
        _ = [voice async for voice in client.iter_system_voices()]
    assert fake.record.requests["config"] == 1


async def test_aclose_twice_without_use() -> None:
    """aclose() on a never-used client, twice, is fine."""
    client = Client(token="user:1-abc", base_url=closed_port_url())
    await client.aclose()
    await client.aclose()
    assert client.closed


async def test_single_account_mode_sends_no_account(fake: FakeMiniMax) -> None:
    """With accounts=None the client sends no account; the one-account server resolves it."""
    async with Client(token=fake.token, base_url=fake.base_url, retry=FAST_RETRY) as client:
        assert client.accounts is None
        config = await client.get_config()
        assert "English" in config.languages
        sample = await client.upload_sample(make_wav(12))
        assert sample.account == ACCOUNT
        voice = await client.clone_voice(CloneVoiceRequest("Solo", "English", [sample.file_id]))
        assert voice.account == ACCOUNT
    assert fake.record.requests_by_account[("config", ACCOUNT)] == 1
    assert fake.record.requests_by_account[("upload-sample", ACCOUNT)] == 1


async def test_single_account_mode_leaves_account_to_server() -> None:
    """With accounts=None and two server accounts, the server asks for the account."""
    async with (
        FakeMiniMax(accounts=[ACCOUNT, OTHER]) as fake,
        Client(token=fake.token, base_url=fake.base_url, retry=NO_RETRY) as client,
    ):
        with pytest.raises(BadRequestError, match="account is required") as caught:
            await client.get_config()
        assert caught.value.account is None
        config = await client.get_config(account=OTHER)
        assert "English" in config.languages
        assert fake.record.requests_by_account[("config", None)] == 1
        assert fake.record.requests_by_account[("config", OTHER)] == 1


async def test_create_stream_not_retried_after_502(fake: FakeMiniMax, client: Client) -> None:
    """create-stream is not idempotent: a 5xx (maybe processed) is not retried."""
    system = await first_system_voice(client)
    assert system.voice_id is not None
    fake.faults.add("create-stream", Fault(status=502))
    with pytest.raises(ServerError):
        await client.create_stream(CreateStreamRequest(text="Hello", voice_id=system.voice_id))
    assert fake.record.requests["create-stream"] == 1


async def test_delete_voice_retried_after_502(fake: FakeMiniMax, client: Client) -> None:
    """delete-voice is idempotent: after a 5xx it is sent again, and the voice is gone."""
    voice = await clone(client, "Retried delete")
    assert voice.voice_id is not None
    fake.faults.add("delete-voice", Fault(status=502))
    await client.delete_voice(voice.voice_id)
    assert fake.record.requests["delete-voice"] == 2
    assert fake.voices(ACCOUNT) == []
