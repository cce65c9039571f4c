"""Sans-I/O wire rules: which request each operation sends, and what an answer means.

Pure functions from arguments to :class:`WireRequest`, and from ``(status, headers, body)``
to a model or an exception. Nothing here touches a socket, so all of it is unit-tested
without one.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

import attrs
from cattrs.preconf.json import JsonConverter

from ._exceptions import (
    APIError,
    RateLimitError,
    UnexpectedResponseError,
    ValidationError,
    error_class_for_status,
)
from ._models import Clip, CloneVoiceRequest, CreateMp3Request, Voice

__all__ = [
    "AnswerShape",
    "NoBody",
    "Redactor",
    "WireRequest",
    "accounts_request",
    "audio_list_request",
    "clean_text",
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
#: How much server text (an error field, or the readable text of a non-JSON body) an
#: exception message quotes.
MAX_MESSAGE_CHARS: Final = 300
#: How much of a body is ever looked at to build a message: a bounded prefix, so that the
#: time to describe a hostile 20 MB body does not depend on its size.
MAX_SCANNED_BYTES: Final = 16 * 1024
_JSON_HEADERS: Final = "application/json"


@attrs.frozen
class AnswerShape:
    """What a 2xx answer must hold to be believed: the fields that decide what happened.

    Every answer must be a JSON object that is not an error envelope
    (``{"error": ..., "code": ...}``). Beyond that the check is lenient: extra keys and missing
    optional fields are fine, the decisive ones are not.

    Attributes:
        text: Keys whose value must be a non-empty string (``voice_id`` of a clone).
        lists: Keys whose value must be a list of JSON objects (``voice_list``).
        map_of_objects: The answer is a map whose every value is a JSON object (GET accounts).
        error_is_data: The object may carry an ``error`` field of its own (an account whose
            stored session is broken); only ``error`` with ``code`` is then an envelope.
    """

    text: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    map_of_objects: bool = False
    error_is_data: bool = False

    def problem(self, payload: dict[str, Any]) -> str | None:
        """Why ``payload`` (a decoded JSON object) is not this answer, or ``None``."""
        if "error" in payload and ("code" in payload or not self.error_is_data):
            error = payload.get("error")
            code = payload.get("code")
            return f"is an error envelope (code {clean_text(str(code))}: {clean_text(str(error))})"
        for key in self.text:
            value = payload.get(key)
            if not isinstance(value, str) or not value.strip():
                return f"has no {key} (a non-empty string), got {_kind(value)}"
        for key in self.lists:
            value = payload.get(key)
            if not isinstance(value, list):
                return f"has no {key} (a list), got {_kind(value)}"
            for index, entry in enumerate(value):
                if not isinstance(entry, dict):
                    return f"has a {key}[{index}] that is {_kind(entry)}, not an object"
        if self.map_of_objects:
            for key, entry in payload.items():
                if not isinstance(entry, dict):
                    return f"has an entry {clean_text(key)!r} that is {_kind(entry)}, not an object"
        return None


#: Any JSON object that is not an error envelope.
_OBJECT: Final = AnswerShape()


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")


@attrs.define(eq=False)
class WireRequest:
    """One HTTP request, before any I/O (built once, then only read: not frozen, because
    a frozen attrs class sets each field through ``object.__setattr__``, and one of these
    is built per request on the clone path).

    Attributes:
        method: ``"GET"``, ``"POST"`` or ``"DELETE"``.
        path: Path below the base URL, e.g. ``"audio/clone-voice"``.
        endpoint: The endpoint's name for errors and records (the path without ids).
        account: The account the request is for (for errors and scheduling), if known.
        params: Query parameters.
        body: Raw body bytes, if any.
        content_type: The body's content type.
        idempotent: Whether sending it twice is harmless (retries depend on it).
        answer: What a 2xx answer must hold to be believed.
    """

    method: str
    path: str
    endpoint: str
    account: str | None = None
    params: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | None = attrs.field(default=None, repr=False)
    content_type: str | None = None
    idempotent: bool = True
    answer: AnswerShape = attrs.field(default=_OBJECT, repr=False)


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
    path: str,
    payload: dict[str, Any],
    account: str | None,
    *,
    idempotent: bool,
    answer: AnswerShape = _OBJECT,
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
        answer=answer,
    )


#: A listing of voices (cloned or system): ``voice_list`` decides what the account holds.
_VOICE_LISTING: Final = AnswerShape(lists=("voice_list",))
#: GET accounts: a map of account objects.
_ACCOUNT_MAP: Final = AnswerShape(map_of_objects=True)
#: One account object (may carry its own ``error`` field).
_ACCOUNT: Final = AnswerShape(error_is_data=True)
#: A clone answer: no ``voice_id``, no voice.
_CLONED: Final = AnswerShape(text=("voice_id",))
#: An upload answer: no ``fileID``, nothing to clone from.
_UPLOADED: Final = AnswerShape(text=("fileID",))
#: A page of GET audio/.
_CLIP_LISTING: Final = AnswerShape(lists=("audio_list",))


def _path_id(identifier: str) -> str:
    """An id as one URL path segment: percent-encoded, never a dot segment."""
    if identifier in ("", ".", ".."):
        raise ValidationError("id", f"{identifier!r} cannot be a URL path segment")
    return quote(identifier, safe="")


# --------------------------------------------------------------------------- requests


def accounts_request() -> WireRequest:
    """GET accounts: every configured MiniMax account."""
    return WireRequest("GET", "accounts", "accounts", answer=_ACCOUNT_MAP)


def get_account_request(account: str) -> WireRequest:
    """GET accounts/{account}."""
    return WireRequest(
        "GET", f"accounts/{_path_id(account)}", "accounts/{account}", account, answer=_ACCOUNT
    )


def config_request(account: str | None) -> WireRequest:
    """GET audio/config."""
    return WireRequest("GET", "audio/config", "audio/config", account, _account_params(account))


def cloned_voices_request(account: str | None) -> WireRequest:
    """GET audio/voices?is_system=false: every cloned voice of the account, unpaged."""
    return WireRequest(
        "GET",
        "audio/voices",
        "audio/voices",
        account,
        _account_params(account, is_system="false"),
        answer=_VOICE_LISTING,
    )


def system_voices_request(
    account: str | None, *, page: int, page_size: int, tag_list: str | None
) -> WireRequest:
    """GET audio/voices: one page of the system catalogue."""
    params = _account_params(account, page=str(page), page_size=str(page_size), tag_list=tag_list)
    return WireRequest(
        "GET", "audio/voices", "audio/voices", account, params, answer=_VOICE_LISTING
    )


def upload_sample_request(account: str | None, data: bytes, content_type: str) -> WireRequest:
    """POST audio/upload-sample: the raw bytes, with their audio content type.

    Safe to send again (``idempotent``), although each upload creates a file id: a second
    upload of the same bytes only leaves a file id that nothing uses (no voice slot, no
    credit), so an upload is retried after a 5xx or a lost answer too.
    """
    return WireRequest(
        "POST",
        "audio/upload-sample",
        "audio/upload-sample",
        account,
        _account_params(account),
        body=data,
        content_type=content_type,
        idempotent=True,
        answer=_UPLOADED,
    )


def clone_voice_request(
    converter: JsonConverter, request: CloneVoiceRequest, account: str | None
) -> WireRequest:
    """POST audio/clone-voice (JSON; ``files`` comma-joined by the converter).

    Not idempotent: each call creates a voice and takes one of the account's slots.
    """
    payload = converter.unstructure(request)
    payload.pop("account", None)
    return _post_json("audio/clone-voice", payload, account, idempotent=False, answer=_CLONED)


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
    return WireRequest("GET", "audio/", "audio/", account, params, answer=_CLIP_LISTING)


def clip_request(audio_id: str, account: str | None) -> WireRequest:
    """GET audio/{audio_id}."""
    return WireRequest("GET", f"audio/{_path_id(audio_id)}", "audio/{audio_id}", account)


def delete_clip_request(audio_id: str, account: str | None) -> WireRequest:
    """DELETE audio/{audio_id} (idempotent)."""
    return WireRequest("DELETE", f"audio/{_path_id(audio_id)}", "audio/{audio_id}", account)


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

    A 2xx answer is believed only when it has the shape ``request.answer`` describes: a JSON
    object, not an error envelope, with its decisive fields. Extra keys and missing optional
    fields are fine.

    Raises:
        APIError: (a subclass by status) for any status outside 200-299.
        UnexpectedResponseError: a 2xx answer that is not the expected JSON.
    """
    if not 200 <= status <= 299:
        raise error_from_response(request, status, headers, body)
    if model is NoBody:
        # Any 2xx is success for deletes, except an error envelope in a 2xx's clothing.
        if body[:1] == b"{" or body.lstrip()[:1] == b"{":
            payload = _json_object(body)
            if payload is not None and "error" in payload:
                raise _unexpected(request, status, body, _OBJECT.problem(payload) or "")
        return NoBody()  # type: ignore[return-value]  # T is NoBody here
    payload = _json_object(body)
    if payload is None:
        # Every answer of this API is a JSON object; cattrs would read [] or "" as an
        # all-default model rather than fail.
        raise _unexpected(request, status, body, f"is not a {model.__name__} (a JSON object)")
    problem = request.answer.problem(payload)
    if problem is not None:
        raise _unexpected(request, status, body, problem)
    try:
        return converter.structure(payload, model)
    except Exception:  # cattrs raises many types; all mean "not our shape"
        # Not chained: the cattrs error would quote the server's values, unbounded.
        pass
    raise _unexpected(request, status, body, f"is not a valid {model.__name__}")


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` when it is anything else (linear time).

    A body that starts with ``{`` is UTF-8 (or ASCII): it is decoded as such, which spares
    ``json.loads`` its encoding detection on every answer.
    """
    if body[:1] != b"{" and body.lstrip()[:1] != b"{":
        return None
    try:
        payload = json.loads(body.decode())
    except (ValueError, RecursionError):  # invalid JSON or UTF-8; absurd nesting
        return None
    return payload if isinstance(payload, dict) else None


def _unexpected(
    request: WireRequest, status: int, body: bytes, problem: str
) -> UnexpectedResponseError:
    return UnexpectedResponseError(
        f"HTTP {status} answer {problem}: {_readable(body)}",
        endpoint=request.endpoint,
        account=request.account,
        status=status,
    )


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


def _error_message(body: bytes) -> str:
    head = body.lstrip()[:1]
    if not head:
        return ""
    if head == b"{":
        payload = _json_object(body)
        if payload is not None:
            error = payload.get("error", payload.get("message"))
            if isinstance(error, list):
                return clean_text("; ".join(map(str, error)))
            if error is not None:
                return clean_text(str(error))
    return _readable(body)


def _readable(body: bytes) -> str:
    """A short readable text of a body: a page's title, else its text without tags.

    Only a bounded prefix of the body is looked at, in one linear pass (no regex that
    backtracks: ``<<<<...`` once made a quadratic one block the event loop for seconds).
    """
    text = body[:MAX_SCANNED_BYTES].decode("utf-8", errors="replace")
    lower = text.lower()
    start = lower.find("<title")
    if start != -1:
        opened = text.find(">", start)
        closed = lower.find("</title", opened) if opened != -1 else -1
        if closed != -1:
            text = text[opened + 1 : closed]
    return clean_text(_strip_tags(text)) or "<empty body>"


def _strip_tags(text: str) -> str:
    """``text`` with every ``<...>`` replaced by a space; linear in ``len(text)``."""
    if "<" not in text:
        return text
    parts: list[str] = []
    position = 0
    while True:
        opened = text.find("<", position)
        closed = text.find(">", opened + 1) if opened != -1 else -1
        if closed == -1:  # no further tag: the rest is text (an unclosed "<" included)
            parts.append(text[position:])
            return " ".join(parts)
        parts.append(text[position:opened])
        position = closed + 1


_CONTROLS: Final = dict.fromkeys(range(32), " ") | {0x7F: " "}


def clean_text(text: str) -> str:
    """Server text made safe to show: bounded, one line, no control characters."""
    text = text[: MAX_MESSAGE_CHARS * 4]
    if not text.isprintable():
        text = "".join(
            " " if unicodedata.category(c)[0] == "C" else c for c in text.translate(_CONTROLS)
        )
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


# --------------------------------------------------------------------------- redaction

_REDACTED: Final = "[redacted]"
#: Secret parts shorter than this are not scrubbed on their own (they would match ordinary
#: text); the whole token always is.
_MIN_SECRET_CHARS: Final = 8
_TOKEN_SECRET = re.compile(r"^user:\d+-(?P<secret>.+)$")
#: JSON's \uXXXX escapes of the characters a token is made of: a server could spell the
#: token that way, and the JSON decoder would spell it out again.
_TOKEN_ESCAPES = re.compile(rb"\\u00(?:3[0-9a]|2d|[46][1-9a-f]|[57][0-9a])", re.IGNORECASE)


#: Each escape _TOKEN_ESCAPES matches (either case of its hex letter), to its character.
_UNESCAPED: Final = {
    b"\\u" + (f"{c:04x}" if upper else f"{c:04X}").encode(): bytes([c])
    for c in b"0123456789:-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for upper in (False, True)
}


def _unescape(match: re.Match[bytes]) -> bytes:
    escape = match[0]
    return _UNESCAPED.get(escape) or bytes([int(escape[2:], 16)])


@attrs.frozen
class Redactor:
    """Scrubs the API token out of everything that came from the server.

    The token is removed whole, and so is its secret part (after ``user:N-``), in bytes
    and in text. Linear time.

    Args:
        token: The API token.
    """

    token: str = attrs.field(repr=False)
    _secrets: tuple[str, ...] = attrs.field(init=False, repr=False)
    _byte_secrets: tuple[bytes, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        secrets = [self.token]
        match = _TOKEN_SECRET.match(self.token)
        if match and len(match["secret"]) >= _MIN_SECRET_CHARS:
            secrets.append(match["secret"])
        object.__setattr__(self, "_secrets", tuple(secrets))
        object.__setattr__(self, "_byte_secrets", tuple(s.encode() for s in secrets))

    def text(self, text: str) -> str:
        """``text`` without the token."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text

    def body(self, body: bytes) -> bytes:
        """A body without the token, also where JSON escapes spell it."""
        if b"\\u" in body:
            body = _TOKEN_ESCAPES.sub(_unescape, body)
        for secret in self._byte_secrets:
            if secret in body:
                body = body.replace(secret, _REDACTED.encode())
        return body


# Envelopes of list answers (moved from _client): internal, only their items reach users.


@attrs.frozen(kw_only=True)
class _VoiceList:
    voice_list: tuple[Voice, ...] = ()
    total: int | None = None
    has_more: bool = False


@attrs.frozen(kw_only=True)
class _ClipList:
    audio_list: tuple[Clip, ...] = ()
    total: int | None = None
    has_more: bool = False
