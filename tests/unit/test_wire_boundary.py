"""The strict answer boundary of minimax_async._wire: shapes, bounded text, redaction."""

from __future__ import annotations

import json
from typing import Any

import pytest

from minimax_async import (
    Account,
    AudioConfig,
    Clip,
    UnexpectedResponseError,
    UploadedSample,
    ValidationError,
    Voice,
)
from minimax_async._converter import make_converter
from minimax_async._models import CloneVoiceRequest
from minimax_async._wire import (
    MAX_MESSAGE_CHARS,
    NoBody,
    Redactor,
    WireRequest,
    accounts_request,
    audio_list_request,
    clip_request,
    clone_voice_request,
    cloned_voices_request,
    config_request,
    delete_clip_request,
    delete_voice_request,
    error_from_response,
    get_account_request,
    parse_response,
    system_voices_request,
    upload_sample_request,
)

CONVERTER = make_converter()
ACCOUNT = "100001"
FILE_ID = f"user:777-minimax:{ACCOUNT}-file:1"
CLONE = clone_voice_request(CONVERTER, CloneVoiceRequest("n", "English", [FILE_ID]), ACCOUNT)
UPLOAD = upload_sample_request(ACCOUNT, b"x", "audio/mpeg")
LISTING = cloned_voices_request(ACCOUNT)
SYSTEM = system_voices_request(ACCOUNT, page=1, page_size=10, tag_list=None)
ACCOUNTS = accounts_request()
ONE_ACCOUNT = get_account_request(ACCOUNT)
CONFIG = config_request(ACCOUNT)
CLIPS = audio_list_request(ACCOUNT, page=1, page_size=10)
DELETE = delete_voice_request("v", ACCOUNT)
ENVELOPE = b'{"error": "Service unavailable", "code": 503}'


def parse(wire: WireRequest, body: bytes | str, model: Any) -> Any:
    """Parse a 200 answer."""
    raw = body.encode() if isinstance(body, str) else body
    return parse_response(CONVERTER, wire, 200, {}, raw, model)


REFUSED = [
    pytest.param(CLONE, ENVELOPE, Voice, "error envelope", id="clone-envelope"),
    pytest.param(CLONE, b"{}", Voice, "no voice_id", id="clone-without-voice-id"),
    pytest.param(CLONE, b'{"voice_id": ""}', Voice, "no voice_id", id="clone-empty-voice-id"),
    pytest.param(CLONE, b'{"voice_id": 42}', Voice, "no voice_id", id="clone-numeric-voice-id"),
    pytest.param(CLONE, b'{"voice_id": null}', Voice, "no voice_id", id="clone-null-voice-id"),
    pytest.param(CLONE, b'{"error": "busy"}', Voice, "error envelope", id="clone-bare-error"),
    pytest.param(CLONE, b'[{"voice_id": "v"}]', Voice, "JSON object", id="clone-list"),
    pytest.param(UPLOAD, b'{"ossPath": "x"}', UploadedSample, "no fileID", id="upload-no-id"),
    pytest.param(UPLOAD, ENVELOPE, UploadedSample, "error envelope", id="upload-envelope"),
    pytest.param(UPLOAD, b'{"fileID": ["a"]}', UploadedSample, "no fileID", id="upload-list-id"),
    pytest.param(LISTING, ENVELOPE, dict, "error envelope", id="listing-envelope"),
    pytest.param(LISTING, b"{}", dict, "no voice_list", id="listing-without-list"),
    pytest.param(LISTING, b'{"voice_list": {"a": 1}}', dict, "no voice_list", id="listing-object"),
    pytest.param(LISTING, b'{"voice_list": null}', dict, "no voice_list", id="listing-null"),
    pytest.param(
        LISTING, b'{"voice_list": ["v1"]}', dict, "voice_list[0]", id="listing-string-entry"
    ),
    pytest.param(LISTING, b"[]", dict, "JSON object", id="listing-json-list"),
    pytest.param(SYSTEM, b'{"has_more": true}', dict, "no voice_list", id="system-no-list"),
    pytest.param(CLIPS, b'{"total": 3}', dict, "no audio_list", id="clips-no-list"),
    pytest.param(ACCOUNTS, ENVELOPE, dict, "error envelope", id="accounts-envelope"),
    pytest.param(
        ACCOUNTS, b'{"1": {"account": "1"}, "2": "broken"}', dict, "entry '2'", id="accounts-str"
    ),
    pytest.param(ACCOUNTS, b'{"1": [1]}', dict, "entry '1'", id="accounts-list-entry"),
    pytest.param(ONE_ACCOUNT, ENVELOPE, Account, "error envelope", id="account-envelope"),
    pytest.param(ONE_ACCOUNT, b"[]", Account, "JSON object", id="account-list"),
    pytest.param(CONFIG, ENVELOPE, AudioConfig, "error envelope", id="config-envelope"),
    pytest.param(CONFIG, b'{"t2a_emotion": 5}', AudioConfig, "valid", id="config-bad-field"),
    pytest.param(CONFIG, b"{not json", AudioConfig, "JSON object", id="config-invalid-json"),
    pytest.param(CONFIG, b"\xff{}", AudioConfig, "JSON object", id="config-binary"),
    pytest.param(CONFIG, b"[" * 100_000, AudioConfig, "JSON object", id="config-deep-list"),
    pytest.param(CONFIG, b'{"a":' * 100_000, AudioConfig, "JSON object", id="config-deep-objects"),
]


@pytest.mark.parametrize(("wire", "body", "model", "says"), REFUSED)
def test_2xx_answer_of_the_wrong_shape_is_refused(
    wire: WireRequest, body: bytes, model: Any, says: str
) -> None:
    """A 2xx answer without its decisive fields, an envelope or a non-object is refused."""
    if model is dict:
        model = dict[str, Account] if wire is ACCOUNTS else dict[str, Any]
    with pytest.raises(UnexpectedResponseError) as info:
        parse(wire, body, model)
    assert says in str(info.value)
    assert info.value.status == 200
    assert info.value.endpoint == wire.endpoint
    assert len(str(info.value)) < 2 * MAX_MESSAGE_CHARS


def test_lenient_about_extra_and_optional_fields() -> None:
    """Extra keys and missing optional fields are fine; the decisive ones decide."""
    voice = parse(CLONE, '{"voice_id": "v1", "surprise": [1, {"x": 2}]}', Voice)
    assert voice == Voice(voice_id="v1")
    sample = parse(UPLOAD, '{"fileID": "f1", "extra": null}', UploadedSample)
    assert sample.file_id == "f1"
    assert parse(CONFIG, "{}", AudioConfig) == AudioConfig()
    assert parse(CLIPS, '{"audio_list": [], "new": 1}', dict[str, Any])["audio_list"] == []
    assert parse(clip_request("a1", None), '{"audio_id": "a1"}', Clip).audio_id == "a1"


def test_an_account_may_carry_its_own_error() -> None:
    """An account object's own ``error`` (a broken session) is data, not an envelope."""
    account = parse(ONE_ACCOUNT, '{"account": "1", "error": "session expired"}', Account)
    assert account.error == "session expired"
    assert not account.usable_for_audio
    listed = parse(ACCOUNTS, '{"1": {"error": "expired"}}', dict[str, Account])
    assert listed["1"].error == "expired"


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        pytest.param(b"", False, id="empty"),
        pytest.param(b"OK", False, id="text"),
        pytest.param(b"{}", False, id="empty-object"),
        pytest.param(b'{"success": true}', False, id="object"),
        pytest.param(b"{broken", False, id="broken-json"),
        pytest.param(ENVELOPE, True, id="envelope"),
        pytest.param(b' {"error": "no such voice"}', True, id="bare-error"),
    ],
)
def test_delete_accepts_any_2xx_but_an_envelope(body: bytes, refused: bool) -> None:
    """A delete's 2xx is success whatever its body, except an error envelope."""
    if refused:
        with pytest.raises(UnexpectedResponseError, match="error envelope"):
            parse(DELETE, body, NoBody)
    else:
        assert parse(DELETE, body, NoBody) == NoBody()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<" * 200_000, id="lt-run"),
        pytest.param(b"<a" * 100_000, id="unclosed-tags"),
        pytest.param(b"<title>" * 30_000, id="unclosed-titles"),
        pytest.param(b"x" * 1_000_000, id="long-text"),
        pytest.param(b" \n\t" * 100_000, id="whitespace"),
        pytest.param(json.dumps({"error": "e" * 1_000_000}).encode(), id="long-error-field"),
        pytest.param(b"\x1b[31m\r\nFAKE LOG LINE\x00" * 1000, id="control-characters"),
    ],
)
def test_error_message_is_bounded_and_one_line(body: bytes) -> None:
    """However long or odd the body, the message quotes a bounded, one-line prefix."""
    error = error_from_response(CLONE, 502, {}, body)
    assert len(error.message) <= MAX_MESSAGE_CHARS
    assert "\n" not in str(error)
    assert "\r" not in str(error)
    assert "\x1b" not in str(error)
    assert "\x00" not in str(error)


def test_readable_text_of_html() -> None:
    """An HTML page reads as its title; tag soup as its text."""
    page = b"<html><head><title>502 Bad Gateway</title></head><body>x</body></html>"
    assert error_from_response(CLONE, 502, {}, page).message == "502 Bad Gateway"
    soup = b"<div><b>Upstream</b> <i>failed</i></div> <unclosed"
    assert error_from_response(CLONE, 502, {}, soup).message == "Upstream failed <unclosed"


@pytest.mark.parametrize(
    "identifier",
    [pytest.param("", id="empty"), pytest.param(".", id="dot"), pytest.param("..", id="dotdot")],
)
def test_dot_segments_never_become_paths(identifier: str) -> None:
    """``.`` and ``..`` cannot be a path segment; other ids are percent-encoded."""
    for build in (clip_request, delete_clip_request):
        with pytest.raises(ValidationError):
            build(identifier, None)
    with pytest.raises(ValidationError):
        get_account_request(identifier)
    assert clip_request("../x?y#z", None).path == "audio/..%2Fx%3Fy%23z"


TOKEN = "user:4242-SecretPart0123456789abcdef"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(TOKEN.encode(), id="whole"),
        pytest.param(b"Bearer " + TOKEN.encode(), id="bearer"),
        pytest.param(b"SecretPart0123456789abcdef", id="secret-part"),
        pytest.param(
            json.dumps({"error": TOKEN}, ensure_ascii=False).replace("S", "\\u0053").encode(),
            id="json-escaped",
        ),
        pytest.param(b'{"error": "\\u0075ser:4242-\\u0053ecretPart0123456789abcdef"}', id="esc"),
    ],
)
def test_redactor_scrubs_every_spelling(body: bytes) -> None:
    """The token goes, whole or its secret part, also spelled with JSON escapes."""
    scrubbed = Redactor(TOKEN).body(body)
    decoded = scrubbed.decode()
    if decoded.startswith("{"):
        decoded = json.loads(decoded)["error"]
    assert "SecretPart0123456789abcdef" not in decoded
    assert "[redacted]" in decoded


def test_redactor_keeps_other_text() -> None:
    """Ordinary answers pass unchanged, JSON escapes of other characters included."""
    body = (
        b'{"voice_name": "caf\\u00e9 \\u0022q\\u0022", "voice_id": "user:4242-minimax:1-audio:2"}'
    )
    assert Redactor(TOKEN).body(body) == body
    assert Redactor("short").text("a short text") == "a short text".replace("short", "[redacted]")
    assert "token" not in repr(Redactor(TOKEN))
    assert TOKEN not in repr(Redactor(TOKEN))
