"""Sans-I/O wire rules: which request each operation sends, and what an answer means.

Pure functions from arguments to :class:`WireRequest`, and from ``(status, headers, body)``
to a model or an exception. Nothing here touches a socket, so all of it is unit-tested
without one.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

import attrs
from cattrs.preconf.json import JsonConverter

from ._exceptions import APIError, RateLimitError, UnexpectedResponseError, error_class_for_status
from ._models import CloneVoiceRequest, CreateMp3Request

__all__ = [
    "NoBody",
    "WireRequest",
    "accounts_request",
    "audio_list_request",
    "clip_request",
    "clone_voice_request",
    "cloned_voices_request",
    "config_request",
    "create_mp3_request",
    "create_stream_request",
    "delete_clip_request",
    "delete_voice_request",
    "error_from_response",
    "get_account_request",
    "parse_response",
    "parse_retry_after",
    "system_voices_request",
    "upload_sample_request",
]

T = TypeVar("T")

#: Page size of GET audio/voices (system catalogue) when none is given (contract §4.2).
DEFAULT_VOICES_PAGE_SIZE: Final = 500
#: Page size of GET audio/ when none is given (contract §4.9).
DEFAULT_CLIPS_PAGE_SIZE: Final = 100
#: How much of a non-JSON error body an exception message quotes.
_MAX_MESSAGE_CHARS: Final = 300
_JSON_HEADERS: Final = "application/json"


@attrs.frozen
class WireRequest:
    """One HTTP request, before any I/O.

    Attributes:
        method: ``"GET"``, ``"POST"`` or ``"DELETE"``.
        path: Path below the base URL, e.g. ``"audio/clone-voice"``.
        endpoint: The endpoint's name for errors and records (the path without ids).
        account: The account the request is for (for errors and scheduling), if known.
        params: Query parameters.
        body: Raw body bytes, if any.
        content_type: The body's content type.
        idempotent: Whether sending it twice is harmless (retries depend on it).
    """

    method: str
    path: str
    endpoint: str
    account: str | None = None
    params: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | None = attrs.field(default=None, repr=False)
    content_type: str | None = None
    idempotent: bool = True


def _account_params(account: str | None, **params: str | None) -> dict[str, str]:
    out = {k: v for k, v in params.items() if v is not None}
    if account is not None:
        out["account"] = account
    return out


#: One encoder for every body (json.dumps with options builds a new encoder per call).
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _json_body(payload: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(payload).encode()


def _post_json(
    path: str, payload: dict[str, Any], account: str | None, *, idempotent: bool
) -> WireRequest:
    if account is not None:
        payload["account"] = account
    return WireRequest(
        "POST",
        path,
        path,
        account,
        body=_json_body(payload),
        content_type=_JSON_HEADERS,
        idempotent=idempotent,
    )


# --------------------------------------------------------------------------- requests


def accounts_request() -> WireRequest:
    """GET accounts: every configured MiniMax account."""
    return WireRequest("GET", "accounts", "accounts")


def get_account_request(account: str) -> WireRequest:
    """GET accounts/{account}."""
    return WireRequest("GET", f"accounts/{quote(account, safe='')}", "accounts/{account}", account)


def config_request(account: str | None) -> WireRequest:
    """GET audio/config."""
    return WireRequest("GET", "audio/config", "audio/config", account, _account_params(account))


def cloned_voices_request(account: str | None) -> WireRequest:
    """GET audio/voices?is_system=false: every cloned voice of the account, unpaged."""
    return WireRequest(
        "GET", "audio/voices", "audio/voices", account, _account_params(account, is_system="false")
    )


def system_voices_request(
    account: str | None, *, page: int, page_size: int, tag_list: str | None
) -> WireRequest:
    """GET audio/voices: one page of the system catalogue."""
    params = _account_params(account, page=str(page), page_size=str(page_size), tag_list=tag_list)
    return WireRequest("GET", "audio/voices", "audio/voices", account, params)


def upload_sample_request(account: str | None, data: bytes, content_type: str) -> WireRequest:
    """POST audio/upload-sample: the raw bytes, with their audio content type.

    Not idempotent: each upload creates a file id.
    """
    return WireRequest(
        "POST",
        "audio/upload-sample",
        "audio/upload-sample",
        account,
        _account_params(account),
        body=data,
        content_type=content_type,
        idempotent=False,
    )


def clone_voice_request(
    converter: JsonConverter, request: CloneVoiceRequest, account: str | None
) -> WireRequest:
    """POST audio/clone-voice (JSON; ``files`` comma-joined by the converter).

    Not idempotent: each call creates a voice and takes one of the account's slots.
    """
    payload = converter.unstructure(request)
    payload.pop("account", None)
    return _post_json("audio/clone-voice", payload, account, idempotent=False)


def delete_voice_request(voice_id: str, account: str | None) -> WireRequest:
    """POST audio/delete-voice (idempotent: the API answers 200 even for an unknown id)."""
    return _post_json("audio/delete-voice", {"voice_id": voice_id}, account, idempotent=True)


def create_mp3_request(
    converter: JsonConverter, request: CreateMp3Request, account: str | None
) -> WireRequest:
    """POST audio/create-mp3 (only the fields the caller set)."""
    payload = converter.unstructure(request)
    payload.pop("account", None)
    return _post_json("audio/create-mp3", payload, account, idempotent=False)


def create_stream_request(
    converter: JsonConverter, request: CreateMp3Request, account: str | None
) -> WireRequest:
    """POST audio/create-stream: same fields as create-mp3, text up to 5000 characters."""
    payload = converter.unstructure(request)
    payload.pop("account", None)
    return _post_json("audio/create-stream", payload, account, idempotent=False)


def audio_list_request(account: str | None, *, page: int, page_size: int) -> WireRequest:
    """GET audio/: one page of the generated clips."""
    params = _account_params(account, page=str(page), page_size=str(page_size))
    return WireRequest("GET", "audio/", "audio/", account, params)


def clip_request(audio_id: str, account: str | None) -> WireRequest:
    """GET audio/{audio_id}."""
    return WireRequest("GET", f"audio/{quote(audio_id, safe='')}", "audio/{audio_id}", account)


def delete_clip_request(audio_id: str, account: str | None) -> WireRequest:
    """DELETE audio/{audio_id} (idempotent)."""
    return WireRequest("DELETE", f"audio/{quote(audio_id, safe='')}", "audio/{audio_id}", account)


# --------------------------------------------------------------------------- answers


@attrs.frozen
class NoBody:
    """The "model" of answers whose body does not matter (deletes: any 2xx is success)."""


def parse_response(
    converter: JsonConverter,
    request: WireRequest,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    model: type[T],
) -> T:
    """Turn an answer into ``model``, or raise the :class:`APIError` its status means.

    Raises:
        APIError: (a subclass by status) for any status outside 200-299.
        UnexpectedResponseError: a 2xx answer that is not the expected JSON.
    """
    if not 200 <= status <= 299:
        raise error_from_response(request, status, headers, body)
    if model is NoBody:
        return NoBody()  # type: ignore[return-value]  # T is NoBody here
    if not body.lstrip().startswith(b"{"):
        # Every answer of this API is a JSON object; cattrs would read [] or "" as an
        # all-default model rather than fail.
        raise UnexpectedResponseError(
            f"HTTP {status} answer is not a {model.__name__} (a JSON object): {_readable(body)}",
            endpoint=request.endpoint,
            account=request.account,
        )
    try:
        return converter.loads(body, model)
    except Exception as exc:  # cattrs and json raise many types; all mean "not our shape"
        raise UnexpectedResponseError(
            f"HTTP {status} answer is not a valid {model.__name__}: {_readable(body)}",
            endpoint=request.endpoint,
            account=request.account,
        ) from exc


def error_from_response(
    request: WireRequest, status: int, headers: Mapping[str, str], body: bytes
) -> APIError:
    """Build the typed error for an error answer.

    The message is the ``error`` field of a ``{"error", "code"}`` body, else the readable
    text of a plain-text or HTML body (a gateway's 502 page), else the status alone.
    """
    message = _error_message(body) or f"HTTP {status}"
    cls = error_class_for_status(status)
    if cls is RateLimitError:
        return RateLimitError(
            status,
            message,
            endpoint=request.endpoint,
            account=request.account,
            retry_after=parse_retry_after(headers.get("Retry-After")),
        )
    return cls(status, message, endpoint=request.endpoint, account=request.account)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns ``None`` for a missing or unreadable value; never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:  # pragma: no cover - older Pythons return None instead of raising
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


_TAGS = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"\s+")


def _error_message(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    if text.startswith("{"):
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            error = payload.get("error", payload.get("message"))
            if isinstance(error, list):
                return "; ".join(map(str, error))
            if error is not None:
                return str(error)
    return _readable(body)


def _readable(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    title = _TITLE.search(text)
    if title:
        text = title.group(1)
    text = _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 1] + "…"
    return text or "<empty body>"
