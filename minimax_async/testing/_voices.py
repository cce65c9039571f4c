"""Voice endpoints of the fake server: config, voices, upload-sample, clone-voice, delete-voice."""

from __future__ import annotations

import asyncio
import io
import json
import wave
from typing import TYPE_CHECKING, Any

from aiohttp import web
from mutagen import MutagenError
from mutagen.mp3 import MP3

from minimax_async.testing._catalogue import CDN, LANGUAGES, build_config
from minimax_async.testing._http import (
    ApiError,
    json_response,
    optional_bool,
    query_int,
    require_str,
)

if TYPE_CHECKING:
    from minimax_async.testing._http import Call
    from minimax_async.testing._state import ServerState

__all__ = [
    "clone_voice",
    "delete_voice",
    "get_config",
    "list_voices",
    "upload_sample",
]

# Contract §4.2-§4.4.
DEFAULT_VOICES_PAGE_SIZE = 500
MIN_SAMPLE_SECONDS = 10.0
MAX_SAMPLE_SECONDS = 60.0
# MP3 lengths are estimated from frame sizes and run a few milliseconds short of the
# nominal length, so a sample made to be exactly 10 s must not be refused for it.
SAMPLE_SECONDS_TOLERANCE = 0.05
AUDIO_CONTENT_TYPES = frozenset({"audio/mpeg", "audio/wav", "audio/wave"})
MAX_VOICE_NAME_LENGTH = 30
MAX_FILES_PER_CLONE = 10
LANGUAGE_SET = frozenset(LANGUAGES)
# mutagen's constructors are unannotated; reading the length through Any keeps mypy strict.
_MP3_READER: Any = MP3
_CONFIG_BODY = json.dumps(build_config(), separators=(",", ":")).encode()


async def get_config(state: ServerState, call: Call) -> web.StreamResponse:
    """GET audio/config: the tag and emotion vocabularies."""
    return web.Response(body=_CONFIG_BODY, content_type="application/json")


def _parse_is_system(request: web.Request) -> bool:
    text = request.query.get("is_system", "").strip().lower()
    if text in ("", "true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ApiError(400, "Parameter is_system must be true or false")


async def list_voices(state: ServerState, call: Call) -> web.StreamResponse:
    """GET audio/voices: a page of system voices, or all cloned voices of the account."""
    request = call.request
    if not _parse_is_system(request):
        assert call.account is not None
        voices = list(state.accounts[call.account].voices.values())
        return json_response({"voice_list": voices})
    page = query_int(request, "page", default=1)
    page_size = query_int(request, "page_size", default=DEFAULT_VOICES_PAGE_SIZE)
    tag_text = request.query.get("tag_list", "")
    tags = [tag.strip() for tag in tag_text.split(",") if tag.strip()]
    body = state.catalogue.page_body(tags, page, page_size)
    return web.Response(body=body, content_type="application/json")


def _wav_seconds(raw: bytes) -> float:
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ApiError(400, "The body is not a WAV file (no RIFF/WAVE header)")
    try:
        with wave.open(io.BytesIO(raw), "rb") as reader:
            rate = reader.getframerate()
            frames = reader.getnframes()
    except (wave.Error, EOFError) as exc:
        raise ApiError(400, f"The body is not a readable WAV file: {exc}") from exc
    if rate <= 0:
        raise ApiError(400, "The WAV file has no sample rate")
    return frames / rate


def _mp3_seconds(raw: bytes) -> float:
    has_sync = len(raw) >= 2 and raw[0] == 0xFF and raw[1] & 0xE0 == 0xE0
    if not raw.startswith(b"ID3") and not has_sync:
        raise ApiError(400, "The body is not an MP3 file (no ID3 tag or MPEG frame sync)")
    try:
        return float(_MP3_READER(io.BytesIO(raw)).info.length)
    except MutagenError as exc:
        raise ApiError(400, f"The body is not a readable MP3 file: {exc}") from exc


async def upload_sample(state: ServerState, call: Call) -> web.StreamResponse:
    """POST audio/upload-sample: take a raw mp3/wav body of 10-60 s and issue a fileID."""
    assert call.account is not None
    content_type = call.request.content_type
    if content_type not in AUDIO_CONTENT_TYPES:
        raise ApiError(
            400,
            f"Unsupported Content-Type {content_type}, use audio/mpeg, audio/wav or audio/wave",
        )
    if not call.raw:
        raise ApiError(400, "The request body is empty, send the audio file as the raw body")
    seconds = _mp3_seconds(call.raw) if content_type == "audio/mpeg" else _wav_seconds(call.raw)
    low = MIN_SAMPLE_SECONDS - SAMPLE_SECONDS_TOLERANCE
    high = MAX_SAMPLE_SECONDS + SAMPLE_SECONDS_TOLERANCE
    if not low <= seconds <= high:
        raise ApiError(
            400,
            f"The audio sample is {seconds:.2f} seconds long, it must be between "
            f"{MIN_SAMPLE_SECONDS:g} and {MAX_SAMPLE_SECONDS:g} seconds",
        )
    file_id = state.new_file_id(call.account)
    state.record.uploads += 1
    serial = file_id.rsplit(":", 1)[1]
    extension = "mp3" if content_type == "audio/mpeg" else "wav"
    return json_response(
        {"ossPath": f"{CDN}/voice_clone/{call.account}/{serial}.{extension}", "fileID": file_id}
    )


def _file_ids(state: ServerState, account: str, value: object) -> list[str]:
    if value is None or value == "":
        raise ApiError(400, "Parameter files is required")
    if not isinstance(value, str):
        raise ApiError(400, "Parameter files must be a string of comma-separated fileID values")
    file_ids = [part.strip() for part in value.split(",")]
    if any(not part for part in file_ids):
        raise ApiError(400, "Parameter files contains an empty fileID")
    if len(file_ids) > MAX_FILES_PER_CLONE:
        raise ApiError(
            400, f"Parameter files lists {len(file_ids)} files, maximum is {MAX_FILES_PER_CLONE}"
        )
    for file_id in file_ids:
        owner = state.files.get(file_id)
        if owner is None:
            raise ApiError(400, f"File {file_id} was not found, upload it with audio/upload-sample")
        if owner != account:
            raise ApiError(400, f"File {file_id} was not uploaded to account {account}")
    return file_ids


def _check_free_slot(state: ServerState, account: str) -> None:
    if len(state.accounts[account].voices) >= state.max_voices_per_account:
        raise ApiError(
            400,
            f"Account {account} has reached its limit of {state.max_voices_per_account} "
            "cloned voices, delete a voice first",
        )


async def clone_voice(state: ServerState, call: Call) -> web.StreamResponse:
    """POST audio/clone-voice: validate, admit (at most N in flight), wait, create the voice."""
    account = call.account
    assert account is not None
    fields = call.fields
    voice_name = require_str(fields, "voice_name", max_length=MAX_VOICE_NAME_LENGTH)
    language_tag = require_str(fields, "language_tag")
    if language_tag not in LANGUAGE_SET:
        raise ApiError(
            400, f"Parameter language_tag {language_tag!r} is not a voice_tag_language tag_name"
        )
    file_ids = _file_ids(state, account, fields.get("files"))
    optional_bool(fields, "need_noise_reduction", is_form=call.is_form, default=True)
    _check_free_slot(state, account)
    record = state.record
    limit = state.accounts[account].clone_limit or state.max_parallel_clones
    if record.clones_in_flight.get(account, 0) >= limit:
        record.rejected_over_capacity += 1
        raise ApiError(
            429,
            f"Too many parallel clone tasks, at most {limit}",
            headers={"Retry-After": f"{state.retry_after:g}"},
        )
    record._clone_admitted(account)
    admitted = asyncio.get_running_loop().time()
    try:
        if state.gate.is_closed:
            await state.pass_gate(account, voice_name)
        else:
            await state.sleep(state.clone_delay())
        # The account may have been deleted or filled while this clone was processed.
        if account not in state.accounts:
            raise ApiError(400, f"Account {account} is not configured, use POST /accounts")
        _check_free_slot(state, account)
        voice = state.make_voice(account, voice_name, language_tag, file_ids[0].rsplit(":", 1)[1])
    finally:
        record._clone_finished(account, admitted)
    return json_response(voice)


async def delete_voice(state: ServerState, call: Call) -> web.StreamResponse:
    """POST audio/delete-voice: remove the voice if present; always 200 (idempotent)."""
    assert call.account is not None
    voice_id = require_str(call.fields, "voice_id")
    state.accounts[call.account].voices.pop(voice_id, None)
    return json_response({"voice_id": voice_id})
