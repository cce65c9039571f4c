"""Text-to-speech endpoints of the fake server: create-mp3, create-stream and the clip list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from minimax_async.testing._catalogue import CDN, EMOTIONS, LANGUAGES
from minimax_async.testing._http import (
    ApiError,
    error_response,
    json_response,
    optional_bool,
    optional_int,
    optional_number,
    optional_str,
    query_int,
    require_str,
)
from minimax_async.testing._state import now_ms, parse_audio_id

if TYPE_CHECKING:
    from minimax_async.testing._http import Call
    from minimax_async.testing._state import ServerState

__all__ = ["create_mp3", "create_stream", "delete_audio", "get_audio", "list_audio"]

# Contract §4.6/§4.7/§4.9.
MAX_MP3_TEXT_LENGTH = 500
MAX_STREAM_TEXT_LENGTH = 5000
DEFAULT_MODEL = "speech-02-hd"
AUTO = "Auto"
DEFAULT_AUDIO_PAGE_SIZE = 100
MIN_SPEED, MAX_SPEED = 0.5, 2.0
MIN_PITCH, MAX_PITCH = -12, 12
MIN_EFFECT, MAX_EFFECT = -100, 100
_AUDIO_TITLE_LENGTH = 40
_EFFECT_LEVELS = ("deepen_lighten", "stronger_softer", "nasal_crisp")
_EFFECT_SWITCHES = ("spacious_echo", "lofi_telephone", "robotic", "auditorium_echo")
_LANGUAGE_BOOSTS = frozenset({AUTO, *LANGUAGES})
_EMOTIONS = frozenset({AUTO, *EMOTIONS})


def _speech_request(state: ServerState, call: Call, max_text: int) -> dict[str, object]:
    """Validate the fields shared by create-mp3 and create-stream; return them normalised."""
    assert call.account is not None
    fields, is_form = call.fields, call.is_form
    text = require_str(fields, "text", max_length=max_text)
    voice_id = require_str(fields, "voice_id")
    voice = state.catalogue.by_id.get(voice_id) or state.accounts[call.account].voices.get(voice_id)
    if voice is None:
        raise ApiError(400, f"Voice {voice_id} was not found on account {call.account}")
    language_boost = optional_str(fields, "language_boost") or AUTO
    if language_boost not in _LANGUAGE_BOOSTS:
        raise ApiError(400, f"Parameter language_boost {language_boost!r} is not supported")
    emotion = optional_str(fields, "emotion") or AUTO
    if emotion not in _EMOTIONS:
        raise ApiError(400, f"Parameter emotion {emotion!r} is not a t2a_emotion value")
    speech: dict[str, object] = {
        "text": text,
        "voice_id": voice_id,
        "voice_info": voice,
        "model": optional_str(fields, "model") or DEFAULT_MODEL,
        "language_boost": language_boost,
        "emotion": emotion,
        "vol": optional_number(
            fields, "vol", is_form=is_form, default=1.0, minimum=0.0, exclusive_minimum=True
        ),
        "speed": optional_number(
            fields, "speed", is_form=is_form, default=1.0, minimum=MIN_SPEED, maximum=MAX_SPEED
        ),
        "pitch": optional_int(
            fields, "pitch", is_form=is_form, default=0, minimum=MIN_PITCH, maximum=MAX_PITCH
        ),
    }
    effects: dict[str, object] = {}
    for name in _EFFECT_LEVELS:
        effects[name] = optional_int(
            fields, name, is_form=is_form, default=0, minimum=MIN_EFFECT, maximum=MAX_EFFECT
        )
    for name in _EFFECT_SWITCHES:
        effects[name] = optional_bool(fields, name, is_form=is_form, default=False)
    speech["effects"] = effects
    return speech


async def create_mp3(state: ServerState, call: Call) -> web.StreamResponse:
    """POST audio/create-mp3: validate, store and answer a clip (contract §4.10 shape)."""
    speech = _speech_request(state, call, MAX_MP3_TEXT_LENGTH)
    assert call.account is not None
    audio_id = state.new_audio_id(call.account)
    serial = audio_id.rsplit(":", 1)[1]
    created = now_ms()
    text = str(speech["text"])
    clip: dict[str, object] = {
        "audio_id": audio_id,
        "audio_review": 0,
        "voice_info": speech["voice_info"],
        "text": text,
        "audio_url": f"{CDN}/audio/{call.account}/{serial}.mp3",
        "audio_title": text[:_AUDIO_TITLE_LENGTH],
        "create_time": created,
        "emotion": speech["emotion"],
        "language_boost": speech["language_boost"],
        "speed": speech["speed"],
        "pitch": speech["pitch"],
        "update_time": created,
        "effects": speech["effects"],
    }
    state.clips[audio_id] = clip
    state.accounts[call.account].clip_ids.append(audio_id)
    return json_response(clip)


async def create_stream(state: ServerState, call: Call) -> web.StreamResponse:
    """POST audio/create-stream: validate and answer ``{"token", "payload"}`` for audio/wss."""
    speech = _speech_request(state, call, MAX_STREAM_TEXT_LENGTH)
    payload = {key: value for key, value in speech.items() if key != "voice_info"}
    payload["account"] = call.account
    return json_response({"token": state.new_stream_token(), "payload": payload})


async def list_audio(state: ServerState, call: Call) -> web.StreamResponse:
    """GET audio/: a page of the account's clips, newest first."""
    assert call.account is not None
    page = query_int(call.request, "page", default=1)
    page_size = query_int(call.request, "page_size", default=DEFAULT_AUDIO_PAGE_SIZE)
    clip_ids = state.accounts[call.account].clip_ids
    total = len(clip_ids)
    # Newest first: page 1 is the tail of the (oldest-first) list.
    stop = total - (page - 1) * page_size
    start = max(stop - page_size, 0)
    chosen = reversed(clip_ids[start:stop]) if stop > 0 else ()
    user_id = int(state.user_id)
    items = []
    for clip_id in chosen:
        clip = state.clips[clip_id]
        items.append(
            {
                "audio_id": clip_id,
                "audio_review": clip["audio_review"],
                "user_id": user_id,
                "audio_title": clip["audio_title"],
                "audio_url": clip["audio_url"],
                "update_time": clip["update_time"],
            }
        )
    return json_response(
        {"audio_list": items, "total": total, "has_more": page * page_size < total}
    )


def _own_clip(state: ServerState, call: Call) -> str:
    audio_id = call.request.match_info["audio_id"]
    parsed = parse_audio_id(audio_id)
    if parsed is None or parsed[0] != state.user_id:
        return ""
    return audio_id


async def get_audio(state: ServerState, call: Call) -> web.StreamResponse:
    """GET audio/{audio_id}: the clip, or a JSON 404."""
    audio_id = _own_clip(state, call)
    clip = state.clips.get(audio_id) if audio_id else None
    if clip is None:
        return error_response(404, f"Audio {call.request.match_info['audio_id']} was not found")
    return json_response(clip)


async def delete_audio(state: ServerState, call: Call) -> web.StreamResponse:
    """DELETE audio/{audio_id}: remove the clip if present; always 200."""
    audio_id = _own_clip(state, call)
    if audio_id and state.clips.pop(audio_id, None) is not None:
        assert call.account is not None
        # O(clips of the account), acceptable for a rare operation.
        state.accounts[call.account].clip_ids.remove(audio_id)
    return json_response({"audio_id": call.request.match_info["audio_id"]})
