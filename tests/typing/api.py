"""The public API as its users type it: checked by ``mypy --strict``, never run.

Each function is an example a user might write; ``assert_type`` pins what the library
promises. Not a test module (no ``test_`` prefix), so pytest does not collect it.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp

import minimax_async
from minimax_async import (
    AccountOnHoldError,
    APIError,
    AudioConfig,
    AudioStream,
    Client,
    Clip,
    CloneResult,
    CloneRun,
    CloneStatistics,
    CloneVoiceRequest,
    CreateStreamRequest,
    MiniMaxError,
    RateLimitError,
    RetryPolicy,
    TransportError,
    UploadedSample,
    ValidationError,
    Voice,
    VoiceJob,
    VoiceSlots,
)

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type


async def clone_from_upload(client: Client, sample: Path) -> Voice:
    """Upload one sample, then clone a voice from it."""
    uploaded = await client.upload_sample(sample, account="123456")
    assert_type(uploaded, UploadedSample)
    assert_type(uploaded.file_id, str)
    assert_type(uploaded.account, str | None)
    request = CloneVoiceRequest("Doctor Who", "English", [uploaded.file_id])
    assert_type(request.files, tuple[str, ...])
    assert_type(request.target_account, str | None)
    voice = await client.clone_voice(request)
    assert_type(voice, Voice)
    assert_type(voice.voice_id, str | None)
    return voice


async def upload_bytes(client: Client, data: bytes) -> str:
    """Upload a sample given as bytes, with its content type."""
    uploaded = await client.upload_sample(data, content_type="audio/wav")
    return uploaded.file_id


async def italian_voices(client: Client) -> list[str]:
    """Walk the system catalogue as an async iterator of voices."""
    voices = client.iter_system_voices(tag_list=["Italian", "Female"])
    assert_type(voices, AsyncIterator[Voice])
    names: list[str] = []
    async for voice in voices:
        assert_type(voice, Voice)
        if voice.voice_name is not None:
            names.append(voice.voice_name)
    return names


async def lifecycle() -> None:
    """Open a client as an async context manager and use every kind of answer."""
    async with Client(
        token="user:1-abc", accounts=["123456"], retry=RetryPolicy(attempts=3)
    ) as client:
        assert_type(client, Client)
        assert_type(client.accounts, tuple[str, ...] | None)
        cloned = await client.list_cloned_voices(account="123456")
        assert_type(cloned, list[Voice])
        config = await client.get_config()
        assert_type(config, AudioConfig)
        assert_type(config.languages, tuple[str, ...])
        clip = await client.create_mp3("Hello!", "209544421245048", speed=1.25)
        assert_type(clip, Clip)
        stream = await client.create_stream(
            CreateStreamRequest(text="A long text.", voice_id="209544421245048")
        )
        assert_type(stream, AudioStream)
        assert_type(await client.delete_voice("1234567890"), None)
        assert_type(client.clone_statistics(), CloneStatistics)
        assert_type(client.with_options(timeout=5.0), Client)


async def bulk(client: Client, paths: Sequence[Path]) -> list[Voice]:
    """Clone many voices from local samples and collect the ones that worked."""
    jobs = [VoiceJob(f"Voice {i}", "English", path) for i, path in enumerate(paths)]
    run = client.clone_many(jobs)
    assert_type(run, CloneRun)
    voices: list[Voice] = []
    async with run as results:
        async for result in results:
            assert_type(result, CloneResult)
            assert_type(result.error, BaseException | None)
            if result.voice is not None:
                voices.append(result.voice)
    return voices


async def room_for(client: Client, jobs: Sequence[VoiceJob]) -> int:
    """Count the free voice slots before a bulk run: how many jobs would find none."""
    slots = await client.free_voice_slots(accounts=["123456", "789012"])
    assert_type(slots, list[VoiceSlots])
    for account in slots:
        assert_type(account.account, str | None)
        assert_type(account.free, int)
        assert_type(account.used, int)
        assert_type(account.voices, tuple[Voice, ...])
    return max(0, len(jobs) - sum(account.free for account in slots))


async def temporary(client: Client, job: VoiceJob) -> Clip:
    """Use a voice for the length of a block."""
    async with client.temporary_voice(job) as voice:
        assert_type(voice, Voice)
        return await client.create_mp3("Hi.", voice.voice_id or "")


async def handle_errors(client: Client, request: CloneVoiceRequest) -> Voice | None:
    """Catch errors by type; each carries typed attributes."""
    try:
        return await client.clone_voice(request)
    except RateLimitError as exc:
        assert_type(exc.retry_after, float | None)
        assert_type(exc.status, int)
    except AccountOnHoldError as exc:
        assert_type(exc.account, str | None)
    except APIError as exc:
        assert_type(exc.message, str)
        assert_type(exc.endpoint, str)
    except TransportError as exc:
        assert_type(exc.maybe_processed, bool)
    except ValidationError as exc:
        assert_type(exc.field, str)
    except MiniMaxError:
        pass
    return None


def validation_is_a_value_error() -> ValueError | None:
    """A ValidationError can be caught as a ValueError."""
    try:
        CloneVoiceRequest("x" * 31, "English", ["user:1-minimax:2-file:3"])
    except ValueError as exc:
        return exc
    return None


def constants() -> int:
    """The documented limits are typed ints."""
    limits: list[int] = [
        minimax_async.MAX_VOICE_NAME_LENGTH,
        minimax_async.MAX_FILES_PER_CLONE,
        minimax_async.MAX_PARALLEL_CLONES_PER_ACCOUNT,
        minimax_async.MAX_VOICES_PER_ACCOUNT,
    ]
    version: str = minimax_async.__version__
    return sum(limits) + len(version)


async def behind_a_proxy(session: aiohttp.ClientSession, context: ssl.SSLContext) -> None:
    """The network options take what users have at hand: a URL, a path, a context, a session."""
    clients = [
        Client(token="user:1-abc", proxy="http://proxy:3128", ssl=Path("corporate-ca.pem")),
        Client(token="user:1-abc", ssl="corporate-ca.pem", connect_timeout=5.0),
        Client(token="user:1-abc", ssl=context, trust_env=False),
        Client(token="user:1-abc", ssl=False),
        Client(token="user:1-abc", session=session),
    ]
    for client in clients:
        await client.aclose()
