"""Sans-I/O wire rules (minimax_async._wire): request builders and answer parsing."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from minimax_async import (
    AccountOnHoldError,
    AccountPreconditionError,
    APIError,
    AudioConfig,
    AuthenticationError,
    BadRequestError,
    CloneVoiceRequest,
    ContentModeratedError,
    CreateMp3Request,
    CreateStreamRequest,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    UploadedSample,
    Voice,
)
from minimax_async._converter import make_converter
from minimax_async._wire import (
    WireRequest,
    accounts_request,
    audio_list_request,
    clip_request,
    clone_voice_request,
    cloned_voices_request,
    config_request,
    create_mp3_request,
    create_stream_request,
    delete_clip_request,
    delete_voice_request,
    error_from_response,
    get_account_request,
    parse_response,
    parse_retry_after,
    system_voices_request,
    upload_sample_request,
)

CONVERTER = make_converter()
ACCOUNT = "100001"
FILE_1 = f"user:777-minimax:{ACCOUNT}-file:1"
FILE_2 = f"user:777-minimax:{ACCOUNT}-file:2"
CLIP_ID = f"user:777-minimax:{ACCOUNT}-audio:9f8e"
CLIP_PATH = f"audio/user%3A777-minimax%3A{ACCOUNT}-audio%3A9f8e"
VOICE_ID = f"user:777-minimax:{ACCOUNT}-audio:55"
JSON = "application/json"
MP3_BYTES = b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00"

#: What nginx answers when its upstream is down: the page a gateway puts in front of the API.
NGINX_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""
NOT_CONFIGURED = b"Configuration not found. To create configuration use POST /accounts/123456."


def body_json(wire: WireRequest) -> Any:
    """The decoded JSON body of a request."""
    assert wire.body is not None
    return json.loads(wire.body.decode("utf-8"))


# --------------------------------------------------------------------------- builders

BUILT: list[Any] = [
    pytest.param(
        accounts_request(),
        ("GET", "accounts", "accounts", None, {}, None, True),
        id="accounts",
    ),
    pytest.param(
        get_account_request(ACCOUNT),
        ("GET", f"accounts/{ACCOUNT}", "accounts/{account}", ACCOUNT, {}, None, True),
        id="get-account",
    ),
    pytest.param(
        config_request(ACCOUNT),
        ("GET", "audio/config", "audio/config", ACCOUNT, {"account": ACCOUNT}, None, True),
        id="config",
    ),
    pytest.param(
        config_request(None),
        ("GET", "audio/config", "audio/config", None, {}, None, True),
        id="config-no-account",
    ),
    pytest.param(
        cloned_voices_request(ACCOUNT),
        (
            "GET",
            "audio/voices",
            "audio/voices",
            ACCOUNT,
            {"account": ACCOUNT, "is_system": "false"},
            None,
            True,
        ),
        id="cloned-voices",
    ),
    pytest.param(
        cloned_voices_request(None),
        ("GET", "audio/voices", "audio/voices", None, {"is_system": "false"}, None, True),
        id="cloned-voices-no-account",
    ),
    pytest.param(
        system_voices_request(ACCOUNT, page=2, page_size=500, tag_list="Italian,Female"),
        (
            "GET",
            "audio/voices",
            "audio/voices",
            ACCOUNT,
            {"account": ACCOUNT, "page": "2", "page_size": "500", "tag_list": "Italian,Female"},
            None,
            True,
        ),
        id="system-voices",
    ),
    pytest.param(
        system_voices_request(None, page=1, page_size=50, tag_list=None),
        ("GET", "audio/voices", "audio/voices", None, {"page": "1", "page_size": "50"}, None, True),
        id="system-voices-no-tags",
    ),
    pytest.param(
        upload_sample_request(ACCOUNT, MP3_BYTES, "audio/mpeg"),
        (
            "POST",
            "audio/upload-sample",
            "audio/upload-sample",
            ACCOUNT,
            {"account": ACCOUNT},
            "audio/mpeg",
            True,  # safe to resend: a second upload only leaves an unused file id
        ),
        id="upload-sample",
    ),
    pytest.param(
        clone_voice_request(
            CONVERTER, CloneVoiceRequest("Doctor Who", "English", [FILE_1, FILE_2]), ACCOUNT
        ),
        ("POST", "audio/clone-voice", "audio/clone-voice", ACCOUNT, {}, JSON, False),
        id="clone-voice",
    ),
    pytest.param(
        delete_voice_request(VOICE_ID, ACCOUNT),
        ("POST", "audio/delete-voice", "audio/delete-voice", ACCOUNT, {}, JSON, True),
        id="delete-voice",
    ),
    pytest.param(
        create_mp3_request(CONVERTER, CreateMp3Request(text="Hi", voice_id=VOICE_ID), ACCOUNT),
        ("POST", "audio/create-mp3", "audio/create-mp3", ACCOUNT, {}, JSON, False),
        id="create-mp3",
    ),
    pytest.param(
        create_stream_request(
            CONVERTER, CreateStreamRequest(text="Hi", voice_id=VOICE_ID), ACCOUNT
        ),
        ("POST", "audio/create-stream", "audio/create-stream", ACCOUNT, {}, JSON, False),
        id="create-stream",
    ),
    pytest.param(
        audio_list_request(ACCOUNT, page=3, page_size=100),
        (
            "GET",
            "audio/",
            "audio/",
            ACCOUNT,
            {"account": ACCOUNT, "page": "3", "page_size": "100"},
            None,
            True,
        ),
        id="audio-list",
    ),
    pytest.param(
        clip_request(CLIP_ID, ACCOUNT),
        ("GET", CLIP_PATH, "audio/{audio_id}", ACCOUNT, {}, None, True),
        id="clip",
    ),
    pytest.param(
        delete_clip_request(CLIP_ID, ACCOUNT),
        ("DELETE", CLIP_PATH, "audio/{audio_id}", ACCOUNT, {}, None, True),
        id="delete-clip",
    ),
]


@pytest.mark.parametrize(("wire", "expected"), BUILT)
def test_request_builders(
    wire: WireRequest,
    expected: tuple[str, str, str, str | None, dict[str, str], str | None, bool],
) -> None:
    """Each builder gives the documented method, path, endpoint, params, type and idempotence."""
    method, path, endpoint, account, params, content_type, idempotent = expected
    assert wire.method == method
    assert wire.path == path
    assert wire.endpoint == endpoint
    assert wire.account == account
    assert dict(wire.params) == params
    assert wire.content_type == content_type
    assert wire.idempotent is idempotent
    assert not wire.path.startswith("/")
    if method in ("GET", "DELETE"):
        assert wire.body is None


def test_upload_sends_the_raw_bytes() -> None:
    """upload-sample sends the sample's bytes as they are: not JSON, not multipart."""
    wire = upload_sample_request(ACCOUNT, MP3_BYTES, "audio/wav")
    assert wire.body == MP3_BYTES
    assert wire.content_type == "audio/wav"


def test_clone_voice_body() -> None:
    """The clone body is JSON with files comma-joined and account in the body."""
    request = CloneVoiceRequest("Doctor Who", "English", [FILE_1, FILE_2])
    wire = clone_voice_request(CONVERTER, request, ACCOUNT)
    assert body_json(wire) == {
        "voice_name": "Doctor Who",
        "language_tag": "English",
        "files": f"{FILE_1},{FILE_2}",
        "need_noise_reduction": True,
        "account": ACCOUNT,
    }


def test_clone_voice_body_account_comes_from_the_argument() -> None:
    """The body's account is the builder's account argument; None leaves it out."""
    request = CloneVoiceRequest("A", "English", [FILE_1], account=ACCOUNT)
    assert "account" not in body_json(clone_voice_request(CONVERTER, request, None))
    request = CloneVoiceRequest("A", "English", ["1234567890"])
    assert body_json(clone_voice_request(CONVERTER, request, "100002"))["account"] == "100002"


def test_json_bodies_are_utf8_not_escaped() -> None:
    """Non-ASCII text is sent as UTF-8, not as \\u escapes."""
    request = CloneVoiceRequest("Célèste", "French", [FILE_1])
    wire = clone_voice_request(CONVERTER, request, ACCOUNT)
    assert wire.body is not None
    assert "Célèste".encode() in wire.body
    assert b"\\u" not in wire.body


def test_delete_voice_body() -> None:
    """delete-voice sends the voice id, and the account when known, as JSON."""
    assert body_json(delete_voice_request(VOICE_ID, ACCOUNT)) == {
        "voice_id": VOICE_ID,
        "account": ACCOUNT,
    }
    assert body_json(delete_voice_request("1234567890", None)) == {"voice_id": "1234567890"}


@pytest.mark.parametrize(
    ("builder", "request_"),
    [
        pytest.param(
            create_mp3_request,
            CreateMp3Request(text="Hi", voice_id=VOICE_ID, speed=1.25, robotic=False),
            id="create-mp3",
        ),
        pytest.param(
            create_stream_request,
            CreateStreamRequest(text="Hi", voice_id=VOICE_ID, speed=1.25, robotic=False),
            id="create-stream",
        ),
    ],
)
def test_tts_body(builder: Any, request_: CreateMp3Request) -> None:
    """The TTS bodies hold the set fields and the account, nothing else."""
    wire = builder(CONVERTER, request_, ACCOUNT)
    assert body_json(wire) == {
        "text": "Hi",
        "voice_id": VOICE_ID,
        "speed": 1.25,
        "robotic": False,
        "account": ACCOUNT,
    }


def test_tts_body_account_only_from_argument() -> None:
    """A request's own account is replaced by the builder's (None: no account sent)."""
    request = CreateMp3Request(text="Hi", voice_id="v", account="100009")
    assert "account" not in body_json(create_mp3_request(CONVERTER, request, None))


@pytest.mark.parametrize(
    ("wire", "path"),
    [
        pytest.param(clip_request("a:b/c d", None), "audio/a%3Ab%2Fc%20d", id="clip"),
        pytest.param(delete_clip_request("a:b/c d", None), "audio/a%3Ab%2Fc%20d", id="delete"),
        pytest.param(get_account_request("a:b/c?d"), "accounts/a%3Ab%2Fc%3Fd", id="account"),
    ],
)
def test_ids_are_percent_quoted_in_paths(wire: WireRequest, path: str) -> None:
    """Ids in paths are percent-quoted: ':' '/' '?' and spaces cannot break the URL."""
    assert wire.path == path


def test_body_hidden_from_repr() -> None:
    """A request's body (sample audio, text) is kept out of its repr."""
    wire = upload_sample_request(ACCOUNT, b"SECRET-AUDIO", "audio/mpeg")
    assert "SECRET-AUDIO" not in repr(wire)


# --------------------------------------------------------------------------- answers

CLONE = clone_voice_request(CONVERTER, CloneVoiceRequest("A", "English", [FILE_1]), ACCOUNT)
VOICE_BODY = json.dumps(
    {"voice_id": VOICE_ID, "voice_name": "A", "create_time": 1732711650948}
).encode()


@pytest.mark.parametrize("status", [pytest.param(200, id="200"), pytest.param(201, id="201")])
def test_success_parses_into_model(status: int) -> None:
    """A 2xx JSON answer parses into the model."""
    voice = parse_response(CONVERTER, CLONE, status, {}, VOICE_BODY, Voice)
    assert voice.voice_id == VOICE_ID
    assert voice.create_time == datetime(2024, 11, 27, 12, 47, 30, 948000, tzinfo=timezone.utc)


STATUS_CLASSES = [
    pytest.param(400, BadRequestError, id="400"),
    pytest.param(401, AuthenticationError, id="401"),
    pytest.param(402, PaymentRequiredError, id="402"),
    pytest.param(403, PermissionDeniedError, id="403"),
    pytest.param(404, NotFoundError, id="404"),
    pytest.param(412, AccountPreconditionError, id="412"),
    pytest.param(422, ContentModeratedError, id="422"),
    pytest.param(429, RateLimitError, id="429"),
    pytest.param(500, ServerError, id="500"),
    pytest.param(502, ServerError, id="502"),
    pytest.param(503, ServerError, id="503"),
    pytest.param(504, ServerError, id="504"),
    pytest.param(596, AccountOnHoldError, id="596"),
    pytest.param(599, ServerError, id="599-unknown-5xx"),
    pytest.param(418, APIError, id="418-unknown"),
    pytest.param(409, APIError, id="409-unknown"),
    pytest.param(302, APIError, id="302-redirect"),
    pytest.param(600, APIError, id="600-out-of-range"),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_error_status_raises_its_class(status: int, cls: type[APIError]) -> None:
    """Each error status raises its class, carrying status, message, endpoint and account."""
    body = json.dumps({"error": "Something went wrong", "code": status}).encode()
    with pytest.raises(APIError) as info:
        parse_response(CONVERTER, CLONE, status, {}, body, Voice)
    error = info.value
    assert type(error) is cls
    assert error.status == status
    assert error.message == "Something went wrong"
    assert error.endpoint == "audio/clone-voice"
    assert error.account == ACCOUNT
    assert f"HTTP {status}" in str(error)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        pytest.param(
            400,
            b'{"error": "Parameter voice_name is required", "code": 400}',
            "Parameter voice_name is required",
            id="json-envelope",
        ),
        pytest.param(
            401, b'{"error":"Unauthorized","code":401}', "Unauthorized", id="json-unauthorized"
        ),
        pytest.param(
            400,
            b'{"error": ["voice_name too long", "files missing"]}',
            "voice_name too long; files missing",
            id="json-error-list",
        ),
        pytest.param(400, b'{"message": "Bad thing"}', "Bad thing", id="json-message-key"),
        pytest.param(404, NOT_CONFIGURED, NOT_CONFIGURED.decode(), id="plain-text-404"),
        pytest.param(502, NGINX_502, "502 Bad Gateway", id="nginx-html-502"),
        pytest.param(
            504,
            b"<html><body><h1>Gateway Timeout</h1>\n<p>The upstream timed out.</p></body></html>",
            "Gateway Timeout The upstream timed out.",
            id="html-without-title",
        ),
        pytest.param(502, b"", "HTTP 502", id="empty-body"),
        pytest.param(503, b"  \r\n ", "HTTP 503", id="blank-body"),
        pytest.param(500, b"{not json", "{not json", id="broken-json"),
        pytest.param(400, b'{"code": 400}', '{"code": 400}', id="json-without-error"),
        pytest.param(400, b"\xff\xfeoops", "\ufffd\ufffdoops", id="not-utf8"),
    ],
)
def test_error_message(status: int, body: bytes, message: str) -> None:
    """The message is the error field, else the readable text of the body, else the status."""
    error = error_from_response(CLONE, status, {}, body)
    assert error.message == message
    assert "<" not in error.message or body.startswith(b"{")


def test_long_text_error_is_shortened() -> None:
    """A long non-JSON error body is quoted shortened, ending with an ellipsis."""
    error = error_from_response(CLONE, 500, {}, b"x" * 5000)
    assert len(error.message) == 300
    assert error.message.endswith("…")


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        pytest.param({"Retry-After": "7"}, 7.0, id="seconds"),
        pytest.param({"Retry-After": "0.5"}, 0.5, id="fractional"),
        pytest.param({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0, id="date-in-past"),
        pytest.param({"Retry-After": "soon"}, None, id="garbage"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_rate_limit_retry_after(headers: Mapping[str, str], retry_after: float | None) -> None:
    """A 429 carries the Retry-After delay in seconds (None when absent or unreadable)."""
    with pytest.raises(RateLimitError) as info:
        parse_response(CONVERTER, CLONE, 429, headers, b'{"error":"busy","code":429}', Voice)
    assert info.value.retry_after == retry_after


def test_rate_limit_retry_after_future_date() -> None:
    """A 429 whose Retry-After is an HTTP date gives the seconds until that date."""
    when = time.time() + 90
    header = format_datetime(datetime.fromtimestamp(when, tz=timezone.utc), usegmt=True)
    error = error_from_response(CLONE, 429, {"Retry-After": header}, b"")
    assert isinstance(error, RateLimitError)
    assert error.retry_after is not None
    assert 80 <= error.retry_after <= 91


@pytest.mark.parametrize(
    ("body", "model"),
    [
        pytest.param(b"<html>OK</html>", Voice, id="html"),
        pytest.param(b"", Voice, id="empty"),
        pytest.param(b"42", Voice, id="json-number"),
        pytest.param(b"[1, 2]", UploadedSample, id="json-list-for-required-field"),
    ],
)
def test_success_with_unexpected_body(body: bytes, model: type[Any]) -> None:
    """A 200 whose body is not a JSON object raises UnexpectedResponseError naming the model.

    Nothing is chained: a converter's error would quote the server's values, unbounded.
    """
    with pytest.raises(UnexpectedResponseError) as info:
        parse_response(CONVERTER, CLONE, 200, {}, body, model)
    error = info.value
    assert error.endpoint == "audio/clone-voice"
    assert error.account == ACCOUNT
    assert error.status == 200
    assert model.__name__ in str(error)
    assert error.__cause__ is None


@pytest.mark.parametrize(
    ("body", "model"),
    [
        pytest.param(b"[]", Voice, id="empty-list-voice"),
        pytest.param(b"[1, 2]", Voice, id="list-voice"),
        pytest.param(b'"OK"', Voice, id="string-voice"),
        pytest.param(b'""', AudioConfig, id="empty-string-config"),
    ],
)
def test_success_with_non_object_json(body: bytes, model: type[Any]) -> None:
    """A 200 whose JSON is not an object is not the model's shape: UnexpectedResponseError."""
    with pytest.raises(UnexpectedResponseError):
        parse_response(CONVERTER, CLONE, 200, {}, body, model)


# --------------------------------------------------------------------------- Retry-After

NOW = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("7", 7.0, id="seconds"),
        pytest.param(" 7 ", 7.0, id="padded"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("2.5", 2.5, id="fractional"),
        pytest.param("-3", 0.0, id="negative"),
        pytest.param("Wed, 21 Oct 2015 07:28:30 GMT", 30.0, id="date-in-future"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, id="date-now"),
        pytest.param("Wed, 21 Oct 2015 07:27:00 GMT", 0.0, id="date-in-past"),
        pytest.param("Wednesday, 21-Oct-15 07:28:10 GMT", 10.0, id="rfc850-date"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param("nan", None, id="nan"),
        pytest.param(None, None, id="none"),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    """Retry-After: delta-seconds or an HTTP date; never negative; None when unreadable."""
    assert parse_retry_after(value, now=NOW) == seconds
