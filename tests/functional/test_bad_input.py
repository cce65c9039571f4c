"""Bad input is refused by the client with a precise error, before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from minimax_async import (
    Client,
    CloneVoiceRequest,
    ConfigurationError,
    InvalidSampleError,
    MiniMaxError,
    ValidationError,
)
from minimax_async.testing import FakeMiniMax, make_mp3, make_wav

from .conftest import FAST_RETRY

ACCOUNT = "100001"
OTHER = "100002"
FILE = f"user:1234-minimax:{ACCOUNT}-file:1"
OTHER_FILE = f"user:1234-minimax:{OTHER}-file:2"
SYSTEM_VOICE = "209500000012345"

#: One bad call: given a live client and a scratch directory, it must raise.
BadCall = Callable[[Client, Path], Awaitable[object]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeMiniMax]:
    """Two accounts, so that calls which need an account must name or derive one."""
    async with FakeMiniMax(accounts=[ACCOUNT, OTHER], clone_latency=0.002) as server:
        yield server


@pytest.fixture
async def client(fake: FakeMiniMax) -> AsyncIterator[Client]:
    """A client configured with both of the fake server's accounts."""
    async with Client(
        token=fake.token, base_url=fake.base_url, accounts=fake.accounts, retry=FAST_RETRY
    ) as c:
        yield c


def cloning(
    voice_name: str = "Doctor Who",
    language_tag: str = "English",
    files: Iterable[str] = (FILE,),
    account: str | None = None,
) -> BadCall:
    """A clone_voice call whose request is built inside the call."""

    async def call(client: Client, _: Path) -> object:
        request = CloneVoiceRequest(voice_name, language_tag, files, account=account)
        return await client.clone_voice(request)

    return call


def uploading(source: Callable[[Path], bytes | Path], content_type: str | None = None) -> BadCall:
    """An upload_sample call to the first account; ``source`` may use the scratch directory."""

    async def call(client: Client, tmp_path: Path) -> object:
        return await client.upload_sample(
            source(tmp_path), account=ACCOUNT, content_type=content_type
        )

    return call


def directory(tmp_path: Path) -> Path:
    """A directory whose name looks like a WAV file."""
    path = tmp_path / "folder.wav"
    path.mkdir()
    return path


def speaking(text: str = "Hello there.", **options: Any) -> BadCall:
    """A create_mp3 call with a system voice on the first account."""

    async def call(client: Client, _: Path) -> object:
        return await client.create_mp3(text, SYSTEM_VOICE, account=ACCOUNT, **options)

    return call


async def list_system_voices_by_zero(client: Client, _: Path) -> object:
    """iter_system_voices with page_size=0, consumed."""
    return [voice async for voice in client.iter_system_voices(page_size=0)]


async def delete_empty_voice_id(client: Client, _: Path) -> object:
    """delete_voice with an empty id."""
    await client.delete_voice("")
    return None


async def get_empty_account(client: Client, _: Path) -> object:
    """get_account with an empty name."""
    return await client.get_account("")


async def config_of_unconfigured_account(client: Client, _: Path) -> object:
    """get_config for an account the client was not configured with."""
    return await client.get_config(account="999999")


async def upload_without_account(client: Client, _: Path) -> object:
    """upload_sample with two accounts configured and none named."""
    return await client.upload_sample(make_wav(12))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "error_class", "fragments"),
    [
        pytest.param(cloning("x" * 31), ValidationError, ["voice_name", "31", "30"], id="name-31"),
        pytest.param(cloning(""), ValidationError, ["voice_name", "non-empty"], id="name-empty"),
        pytest.param(cloning("   "), ValidationError, ["voice_name", "non-empty"], id="name-blank"),
        pytest.param(cloning(files=[]), ValidationError, ["files", "0", "1 to 10"], id="no-files"),
        pytest.param(
            cloning(files=[f"{FILE}{i}" for i in range(11)]),
            ValidationError,
            ["files", "11", "1 to 10"],
            id="11-files",
        ),
        pytest.param(cloning(files=[""]), ValidationError, ["files", "empty"], id="empty-id"),
        pytest.param(
            cloning(files=[f"{FILE},{FILE}"]), ValidationError, ["files", "comma"], id="comma-id"
        ),
        pytest.param(cloning(files=FILE), ValidationError, ["files", "one string"], id="str-files"),
        pytest.param(
            cloning(files=[FILE, OTHER_FILE]),
            ValidationError,
            ["files", "several accounts", ACCOUNT, OTHER],
            id="two-accounts-files",
        ),
        pytest.param(
            cloning(language_tag=""), ValidationError, ["language_tag"], id="language-empty"
        ),
        pytest.param(
            config_of_unconfigured_account,
            ValidationError,
            ["account", "999999", "configured"],
            id="account-not-configured",
        ),
        pytest.param(
            cloning(account=OTHER),
            ValidationError,
            ["account", OTHER, ACCOUNT],
            id="account-mismatch",
        ),
        pytest.param(
            cloning(files=["plain-file-id"]),
            ValidationError,
            ["account", "clone_voice", "several"],
            id="no-derivable-account",
        ),
        pytest.param(
            upload_without_account,
            ValidationError,
            ["account", "upload_sample"],
            id="upload-no-account",
        ),
        pytest.param(
            uploading(lambda _: b"hello, this is not audio at all"),
            InvalidSampleError,
            ["<bytes>", "not an MP3 or WAV"],
            id="upload-text-bytes",
        ),
        pytest.param(
            uploading(lambda _: make_wav(5)),
            InvalidSampleError,
            ["5.0 s", "10", "60"],
            id="upload-5s",
        ),
        pytest.param(
            uploading(lambda _: make_wav(61)),
            InvalidSampleError,
            ["61.0 s", "10", "60"],
            id="upload-61s",
        ),
        pytest.param(
            uploading(lambda _: make_mp3(12), content_type="text/plain"),
            InvalidSampleError,
            ["text/plain", "audio/mpeg"],
            id="upload-text-plain",
        ),
        pytest.param(
            uploading(lambda p: p / "missing.wav"),
            InvalidSampleError,
            ["missing.wav", "no such file"],
            id="upload-missing-path",
        ),
        pytest.param(
            uploading(directory),
            InvalidSampleError,
            ["folder.wav", "is a directory"],
            id="upload-directory",
        ),
        pytest.param(
            speaking("x" * 501), ValidationError, ["text", "501", "500"], id="mp3-text-501"
        ),
        pytest.param(speaking(speed=2.5), ValidationError, ["speed", "2.5"], id="speed-2.5"),
        pytest.param(speaking(pitch=13), ValidationError, ["pitch", "13", "12"], id="pitch-13"),
        pytest.param(speaking(vol=0), ValidationError, ["vol", "0"], id="vol-0"),
        pytest.param(
            speaking(nasal_crisp=-101),
            ValidationError,
            ["nasal_crisp", "-101", "-100"],
            id="nasal-crisp--101",
        ),
        pytest.param(
            speaking(robotic="yes"), ValidationError, ["robotic", "'yes'"], id="robotic-yes"
        ),
        pytest.param(delete_empty_voice_id, ValidationError, ["voice_id"], id="delete-empty"),
        pytest.param(
            list_system_voices_by_zero, ValidationError, ["page_size", "1"], id="page-size-0"
        ),
        pytest.param(get_empty_account, ValidationError, ["account"], id="get-account-empty"),
    ],
)
async def test_bad_input_is_refused_before_sending(
    fake: FakeMiniMax,
    client: Client,
    tmp_path: Path,
    call: BadCall,
    error_class: type[MiniMaxError],
    fragments: list[str],
) -> None:
    """Each bad input raises its class, names the field or limit, and sends nothing."""
    sent = fake.record.total_requests
    with pytest.raises(MiniMaxError) as caught:
        await call(client, tmp_path)
    error = caught.value
    assert type(error) is error_class
    if isinstance(error, ValidationError):
        assert isinstance(error, ValueError)
    message = str(error)
    for fragment in fragments:
        assert fragment in message
    assert fake.record.total_requests == sent
    assert fake.record.total_requests == 0


# --------------------------------------------------------------------------- constructor

TOKEN = "user:1-abc"


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        pytest.param({"max_parallel_clones": 0}, "max_parallel_clones", id="parallel-0"),
        pytest.param({"max_parallel_clones": 3}, "max_parallel_clones", id="parallel-3"),
        pytest.param({"max_parallel_clones": True}, "max_parallel_clones", id="parallel-True"),
        pytest.param({"token": None}, "USEAPI_TOKEN", id="no-token"),
        pytest.param({"base_url": "http://example.com"}, "plain http", id="http-remote"),
        pytest.param({"base_url": "ftp://example.com/v1"}, "not an http(s) URL", id="ftp"),
        pytest.param({"accounts": "one string"}, "not one string", id="accounts-str"),
        pytest.param({"accounts": []}, "at least one", id="accounts-empty"),
    ],
)
def test_bad_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any], fragment: str
) -> None:
    """A bad constructor argument is a ConfigurationError naming it."""
    monkeypatch.delenv("USEAPI_TOKEN", raising=False)
    settings: dict[str, Any] = {"token": TOKEN, **arguments}
    with pytest.raises(ConfigurationError) as caught:
        Client(**settings)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, MiniMaxError)
    assert fragment in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("http://127.0.0.1:1/x", id="ipv4-loopback"),
        pytest.param("http://localhost:1/x", id="localhost"),
    ],
)
async def test_plain_http_to_loopback_is_accepted(base_url: str) -> None:
    """Plain http is allowed to a loopback host (the fake server's case)."""
    async with Client(token=TOKEN, base_url=base_url) as client:
        assert client.base_url == base_url


@pytest.mark.anyio
async def test_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without token=, the USEAPI_TOKEN environment variable is used."""
    monkeypatch.setenv("USEAPI_TOKEN", TOKEN)
    async with Client(base_url="http://127.0.0.1:1/x") as client:
        assert client.accounts is None
