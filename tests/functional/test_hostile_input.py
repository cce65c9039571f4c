"""Hostile input: each bad argument raises its typed error naming it, and nothing is sent.

The fake server's request count stays 0 for every case (the client is built and used
against a live server, so a check that let the input through would show as a request).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from minimax_async import (
    Client,
    CloneResult,
    CloneVoiceRequest,
    ConfigurationError,
    CreateStreamRequest,
    MiniMaxError,
    RetryPolicy,
    ValidationError,
    VoiceJob,
)
from minimax_async.testing import FakeMiniMax, make_wav

pytestmark = pytest.mark.anyio

ACCOUNT = "100001"
FILE = f"user:1234-minimax:{ACCOUNT}-file:1"
SYSTEM_VOICE = "209500000012345"

#: Keyword arguments of a Client that works; each construction case spoils one.
Options = dict[str, Any]


@pytest.fixture
async def fake() -> AsyncIterator[FakeMiniMax]:
    """One account."""
    async with FakeMiniMax(accounts=[ACCOUNT], clone_latency=0.001) as server:
        yield server


def good(fake: FakeMiniMax) -> Options:
    """Options of a client that works against ``fake``."""
    return {"token": fake.token, "base_url": fake.base_url, "accounts": [ACCOUNT]}


CONSTRUCTION = [
    # token
    pytest.param({"token": "user:1-abc\r\nX-Evil: 1"}, "token", id="token-crlf"),
    pytest.param({"token": "user:1-abc\n"}, "token", id="token-trailing-lf"),
    pytest.param({"token": "   "}, "token", id="token-blank"),
    pytest.param({"token": "user:1 abc"}, "token", id="token-inner-space"),
    pytest.param({"token": "user:1-abc\x00"}, "token", id="token-nul"),
    pytest.param({"token": 12345}, "token", id="token-int"),
    pytest.param({"token": b"user:1-abc"}, "token", id="token-bytes"),
    # base_url
    pytest.param({"base_url": "{url}?x=1"}, "query", id="url-query"),
    pytest.param({"base_url": "{url}#top"}, "fragment", id="url-fragment"),
    pytest.param({"base_url": "{url} junk"}, "base_url", id="url-trailing-junk"),
    pytest.param({"base_url": "{url}\r\n"}, "base_url", id="url-crlf"),
    pytest.param({"base_url": "http://user:pw@127.0.0.1:1/v1"}, "user info", id="url-userinfo"),
    pytest.param({"base_url": "http://127.0.0.1:99999/v1"}, "port", id="url-bad-port"),
    pytest.param({"base_url": "ftp://127.0.0.1/v1"}, "http", id="url-ftp"),
    pytest.param({"base_url": "http://example.com/v1"}, "plain http", id="url-http-remote"),
    pytest.param({"base_url": "https:///v1"}, "base_url", id="url-no-host"),
    pytest.param({"base_url": 42}, "base_url", id="url-int"),
    # timeouts and durations
    pytest.param({"timeout": math.nan}, "timeout", id="timeout-nan"),
    pytest.param({"timeout": math.inf}, "timeout", id="timeout-inf"),
    pytest.param({"timeout": -1.0}, "timeout", id="timeout-negative"),
    pytest.param({"timeout": 0}, "timeout", id="timeout-zero"),
    pytest.param({"timeout": True}, "timeout", id="timeout-bool"),
    pytest.param({"timeout": "5"}, "timeout", id="timeout-str"),
    pytest.param({"clone_timeout": math.nan}, "clone_timeout", id="clone-timeout-nan"),
    pytest.param({"account_cooldown": math.inf}, "account_cooldown", id="cooldown-inf"),
    pytest.param({"recheck_delay": -0.5}, "recheck_delay", id="recheck-negative"),
    pytest.param({"lowered_cap_for": math.nan}, "lowered_cap_for", id="lowered-cap-for-nan"),
    # counts and flags
    pytest.param({"lower_cap_after": 0}, "lower_cap_after", id="lower-cap-after-0"),
    pytest.param({"connection_limit": 2.5}, "connection_limit", id="connection-limit-float"),
    pytest.param({"max_response_bytes": 0}, "max_response_bytes", id="max-response-0"),
    pytest.param({"max_response_bytes": True}, "max_response_bytes", id="max-response-bool"),
    pytest.param({"max_voices_per_account": True}, "max_voices", id="max-voices-bool"),
    pytest.param({"max_parallel_clones": 3}, "max_parallel_clones", id="parallel-3"),
    pytest.param({"reuse_uploads": "yes"}, "reuse_uploads", id="reuse-uploads-str"),
    pytest.param({"retry": {"attempts": 3}}, "retry", id="retry-dict"),
    # accounts
    pytest.param({"accounts": ""}, "accounts", id="accounts-str"),
    pytest.param({"accounts": []}, "accounts", id="accounts-empty"),
    pytest.param({"accounts": [""]}, "accounts", id="accounts-empty-id"),
    pytest.param({"accounts": [123]}, "accounts", id="accounts-int-id"),
    pytest.param({"accounts": ["1\r\n2"]}, "accounts", id="accounts-crlf-id"),
    pytest.param({"accounts": [" 1"]}, "accounts", id="accounts-padded-id"),
    pytest.param({"accounts": 5}, "accounts", id="accounts-int"),
]


@pytest.mark.parametrize(("spoiled", "names"), CONSTRUCTION)
async def test_bad_client_options(fake: FakeMiniMax, spoiled: Options, names: str) -> None:
    """A bad Client option raises ConfigurationError naming it; nothing is sent."""
    options = good(fake)
    for key, value in spoiled.items():
        options[key] = value.format(url=fake.base_url) if isinstance(value, str) else value
    with pytest.raises(ConfigurationError) as info:
        Client(**options)
    assert names in str(info.value)
    assert fake.token not in str(info.value)
    assert fake.record.total_requests == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("attempts", math.inf, id="attempts-inf"),
        pytest.param("attempts", 2.5, id="attempts-float"),
        pytest.param("max_delay", math.nan, id="max-delay-nan"),
        pytest.param("initial_delay", math.inf, id="initial-delay-inf"),
    ],
)
def test_bad_retry_policy(field: str, value: float) -> None:
    """RetryPolicy refuses non-finite numbers and a non-integer attempts count."""
    options: dict[str, Any] = {field: value}
    with pytest.raises(ConfigurationError, match=field):
        RetryPolicy(**options)


Call = Callable[[Client, Path], Awaitable[object]]


async def consume(iterator: AsyncIterator[object]) -> list[object]:
    """Read an async iterator to its end."""
    return [item async for item in iterator]


def wav_file(tmp: Path) -> Path:
    """A good 12 s WAV sample on disk."""
    path = tmp / "sample.wav"
    path.write_bytes(make_wav(12))
    return path


CALLS: list[Any] = [
    # accounts, in multi- and single-account mode alike
    pytest.param(lambda c, _: c.get_config(account=""), "account", id="config-account-empty"),
    pytest.param(lambda c, _: c.get_config(account="  "), "account", id="config-account-blank"),
    pytest.param(lambda c, _: c.get_config(account=1), "account", id="config-account-int"),
    pytest.param(
        lambda c, _: c.list_cloned_voices(account="1\n2"), "account", id="voices-account-lf"
    ),
    pytest.param(
        lambda c, _: c.upload_sample(make_wav(12), account=""), "account", id="upload-account-empty"
    ),
    pytest.param(lambda c, _: c.get_account(""), "account", id="get-account-empty"),
    pytest.param(lambda c, _: c.get_account(".."), "account", id="get-account-dotdot"),
    pytest.param(lambda c, _: c.get_account(7), "account", id="get-account-int"),
    # ids in URL paths
    pytest.param(lambda c, _: c.get_clip(".."), "audio_id", id="clip-dotdot"),
    pytest.param(lambda c, _: c.get_clip("."), "audio_id", id="clip-dot"),
    pytest.param(lambda c, _: c.get_clip(""), "audio_id", id="clip-empty"),
    pytest.param(lambda c, _: c.get_clip(None), "audio_id", id="clip-none"),
    pytest.param(lambda c, _: c.get_clip("a\r\nb"), "audio_id", id="clip-crlf"),
    pytest.param(lambda c, _: c.delete_clip(".."), "audio_id", id="delete-clip-dotdot"),
    pytest.param(lambda c, _: c.delete_clip(3), "audio_id", id="delete-clip-int"),
    pytest.param(lambda c, _: c.delete_voice(None), "voice_id", id="delete-voice-none"),
    pytest.param(lambda c, _: c.delete_voice("  "), "voice_id", id="delete-voice-blank"),
    # speech
    pytest.param(
        lambda c, _: c.create_mp3("hi", SYSTEM_VOICE, vol=math.inf), "vol", id="mp3-vol-inf"
    ),
    pytest.param(
        lambda c, _: c.create_mp3("hi", SYSTEM_VOICE, vol=math.nan), "vol", id="mp3-vol-nan"
    ),
    pytest.param(
        lambda c, _: c.create_mp3("hi", SYSTEM_VOICE, speed=-math.inf), "speed", id="mp3-speed-inf"
    ),
    pytest.param(
        lambda c, _: c.create_mp3("hi", SYSTEM_VOICE, pitch=True), "pitch", id="mp3-pitch-bool"
    ),
    pytest.param(lambda c, _: c.create_mp3(None, SYSTEM_VOICE), "text", id="mp3-text-none"),
    pytest.param(lambda c, _: c.create_mp3("hi", 42), "voice_id", id="mp3-voice-int"),
    pytest.param(
        lambda c, _: c.create_mp3("hi", SYSTEM_VOICE, model=5), "model", id="mp3-model-int"
    ),
    pytest.param(
        lambda c, _: c.create_mp3("hi", SYSTEM_VOICE, robotic="yes"), "robotic", id="mp3-flag-str"
    ),
    pytest.param(
        lambda c, _: c.create_stream(CreateStreamRequest(text="hi", voice_id="v", vol=math.inf)),
        "vol",
        id="stream-vol-inf",
    ),
    # cloning
    pytest.param(
        lambda c, _: c.clone_voice(CloneVoiceRequest("n", "English", None)),  # type: ignore[arg-type]
        "files",
        id="clone-files-none",
    ),
    pytest.param(
        lambda c, _: c.clone_voice(CloneVoiceRequest("n", "English", 5)),  # type: ignore[arg-type]
        "files",
        id="clone-files-int",
    ),
    pytest.param(
        lambda c, _: c.clone_voice(CloneVoiceRequest("n", "English", [None])),  # type: ignore[list-item]
        "files",
        id="clone-file-none",
    ),
    pytest.param(
        lambda c, _: c.clone_voice(CloneVoiceRequest(7, "English", [FILE])),  # type: ignore[arg-type]
        "voice_name",
        id="clone-name-int",
    ),
    pytest.param(
        lambda c, _: c.clone_voice(
            CloneVoiceRequest("n", "English", [FILE], need_noise_reduction="no")  # type: ignore[arg-type]
        ),
        "need_noise_reduction",
        id="clone-noise-str",
    ),
    pytest.param(
        lambda c, _: c.clone_from_samples(VoiceJob("n", "English", None)),  # type: ignore[arg-type]
        "samples",
        id="job-samples-none",
    ),
    pytest.param(
        lambda c, _: c.clone_from_samples(VoiceJob("n", "English", [1.5])),  # type: ignore[list-item]
        "samples",
        id="job-sample-float",
    ),
    pytest.param(
        lambda c, t: c.clone_from_samples(VoiceJob("n", "English", [wav_file(t)], account="")),
        "account",
        id="job-account-empty",
    ),
    pytest.param(lambda c, _: consume(c.clone_many(None)), "jobs", id="clone-many-none"),
    pytest.param(lambda c, _: consume(c.clone_many([1])), "jobs", id="clone-many-int"),
    # uploads
    pytest.param(lambda c, _: c.upload_sample(12345), "source", id="upload-int"),
    pytest.param(lambda c, _: c.upload_sample(None), "source", id="upload-none"),
    pytest.param(
        lambda c, _: c.upload_sample(make_wav(12), content_type=5),
        "content_type",
        id="upload-content-type-int",
    ),
    # listings
    pytest.param(
        lambda c, _: consume(c.iter_system_voices(page_size=True)), "page_size", id="pages-bool"
    ),
    pytest.param(
        lambda c, _: consume(c.iter_system_voices(page_size=1.5)), "page_size", id="pages-float"
    ),
    pytest.param(
        lambda c, _: consume(c.iter_system_voices(tag_list=[1, 2])), "tag_list", id="tags-ints"
    ),
    pytest.param(lambda c, _: consume(c.iter_clips(page_size=0)), "page_size", id="clips-page-0"),
    pytest.param(
        lambda c, _: consume(c.iter_clips(account="")), "account", id="clips-account-empty"
    ),
    # per-call options
    pytest.param(
        lambda c, _: c.with_options(timeout=math.nan).get_config(), "timeout", id="view-nan"
    ),
    pytest.param(
        lambda c, _: c.with_options(clone_timeout=-1).get_config(), "clone_timeout", id="view-neg"
    ),
    pytest.param(
        lambda c, _: c.with_options(retry=3).get_config(),
        "retry",
        id="view-retry-int",
    ),
]


@pytest.mark.parametrize("single", [False, True], ids=["accounts", "single-account"])
@pytest.mark.parametrize(("call", "names"), CALLS)
async def test_bad_call_arguments(
    fake: FakeMiniMax, tmp_path: Path, call: Call, names: str, single: bool
) -> None:
    """A bad argument raises a typed error naming it, in both account modes; nothing is sent."""
    options = good(fake)
    if single:
        options["accounts"] = None
    async with Client(**options) as client:
        with pytest.raises(MiniMaxError) as info:
            await call(client, tmp_path)
    error = info.value
    assert isinstance(error, (ValidationError, ConfigurationError)), repr(error)
    assert isinstance(error, ValueError)
    assert names in str(error)
    assert fake.record.total_requests == 0


def test_enough_cases() -> None:
    """The tables hold at least 40 bad inputs each."""
    assert len(CONSTRUCTION) >= 40
    assert len(CALLS) >= 40


def test_reprs_never_print_sample_bytes() -> None:
    """A job's (and its result's) repr shows in-memory samples by size, not their bytes."""
    audio = make_wav(12)
    job = VoiceJob("Narrator", "English", [audio, bytearray(audio), Path("take.wav")])
    shown = repr(CloneResult(job, None, ValidationError("x", "y"), None, 0.0, None, 1.0))
    assert f"<{len(audio)} bytes>" in shown
    assert "take.wav" in shown
    assert len(shown) < 500
    assert repr(audio[:16])[2:-1] not in shown
