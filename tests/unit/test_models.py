"""Request and response models (minimax_async._models, VoiceJob): limits, ids, properties."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimax_async import (
    MAX_FILES_PER_CLONE,
    MAX_MP3_TEXT_LENGTH,
    MAX_SAMPLES_PER_VOICE,
    MAX_STREAM_TEXT_LENGTH,
    MAX_VOICE_NAME_LENGTH,
    CloneVoiceRequest,
    CreateMp3Request,
    CreateStreamRequest,
    UploadedSample,
    ValidationError,
    Voice,
    VoiceJob,
    account_from_id,
)


def file_id(account: str = "100001", n: int = 1) -> str:
    """A composite upload-sample file id (contract §2) on ``account``."""
    return f"user:777-minimax:{account}-file:{n}"


def files(count: int, account: str = "100001") -> list[str]:
    """``count`` distinct file ids on one account."""
    return [file_id(account, n) for n in range(count)]


def clone(**overrides: Any) -> CloneVoiceRequest:
    """A valid clone request, with ``overrides`` applied."""
    kwargs: dict[str, Any] = {
        "voice_name": "Doctor Who",
        "language_tag": "English",
        "files": [file_id()],
    }
    kwargs.update(overrides)
    return CloneVoiceRequest(**kwargs)


def mp3(**overrides: Any) -> CreateMp3Request:
    """A valid create-mp3 request, with ``overrides`` applied."""
    kwargs: dict[str, Any] = {"text": "Hello there.", "voice_id": "209544421245048"}
    kwargs.update(overrides)
    return CreateMp3Request(**kwargs)


def stream(**overrides: Any) -> CreateStreamRequest:
    """A valid create-stream request, with ``overrides`` applied."""
    kwargs: dict[str, Any] = {"text": "Hello there.", "voice_id": "209544421245048"}
    kwargs.update(overrides)
    return CreateStreamRequest(**kwargs)


def job(**overrides: Any) -> VoiceJob:
    """A valid bulk job of one local sample, with ``overrides`` applied."""
    kwargs: dict[str, Any] = {
        "voice_name": "Doctor Who",
        "language_tag": "English",
        "samples": ["doctor.mp3"],
    }
    kwargs.update(overrides)
    return VoiceJob(**kwargs)


def assert_refused(build: Callable[[], object], field: str, *fragments: str) -> None:
    """``build()`` raises a ValidationError (also a ValueError) about ``field``, saying
    every one of ``fragments``."""
    with pytest.raises(ValidationError) as info:
        build()
    error = info.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    for fragment in fragments:
        assert fragment in str(error), (fragment, str(error))


# --------------------------------------------------------------------------- CloneVoiceRequest

CLONE_ACCEPTED = [
    pytest.param({"voice_name": "x" * MAX_VOICE_NAME_LENGTH}, id="voice_name-30"),
    pytest.param({"voice_name": "D"}, id="voice_name-1"),
    pytest.param({"voice_name": "Célèste 😀"}, id="voice_name-unicode"),
    pytest.param({"files": files(1)}, id="files-1"),
    pytest.param({"files": files(MAX_FILES_PER_CLONE)}, id="files-10"),
    pytest.param({"files": tuple(files(3))}, id="files-tuple"),
    pytest.param({"files": iter(files(3))}, id="files-iterator"),
    pytest.param({"files": ["1234567890", "987"]}, id="files-non-composite"),
    pytest.param({"account": "100001"}, id="account-matches-files"),
    pytest.param({"files": ["1234567890"], "account": "100002"}, id="account-opaque-files"),
    pytest.param({"need_noise_reduction": False}, id="need_noise_reduction-false"),
]


@pytest.mark.parametrize("overrides", CLONE_ACCEPTED)
def test_clone_request_accepts(overrides: dict[str, Any]) -> None:
    """A clone request within every documented limit builds, files kept as a tuple."""
    request = clone(**overrides)
    assert isinstance(request.files, tuple)
    assert all(isinstance(f, str) for f in request.files)


CLONE_REFUSED = [
    pytest.param(
        {"voice_name": "x" * (MAX_VOICE_NAME_LENGTH + 1)},
        "voice_name",
        ("31 characters", "limit is 30"),
        id="voice_name-31",
    ),
    pytest.param({"voice_name": ""}, "voice_name", ("non-empty",), id="voice_name-empty"),
    pytest.param({"voice_name": " \t\n"}, "voice_name", ("non-empty",), id="voice_name-blank"),
    pytest.param({"voice_name": None}, "voice_name", ("non-empty",), id="voice_name-none"),
    pytest.param({"language_tag": ""}, "language_tag", ("non-empty",), id="language_tag-empty"),
    pytest.param({"language_tag": "  "}, "language_tag", ("non-empty",), id="language_tag-blank"),
    pytest.param({"files": []}, "files", ("0 file ids", "1 to 10"), id="files-0"),
    pytest.param(
        {"files": files(MAX_FILES_PER_CLONE + 1)},
        "files",
        ("11 file ids", "1 to 10"),
        id="files-11",
    ),
    pytest.param({"files": [""]}, "files", ("empty",), id="file-id-empty"),
    pytest.param({"files": [file_id(), " "]}, "files", ("empty",), id="file-id-blank"),
    pytest.param({"files": [b"bytes"]}, "files", ("not a string",), id="file-id-bytes"),
    pytest.param(
        {"files": [f"{file_id(n=1)},{file_id(n=2)}"]},
        "files",
        ("comma",),
        id="file-id-with-comma",
    ),
    pytest.param({"files": file_id()}, "files", ("not one string",), id="files-one-string"),
    pytest.param(
        {"files": f"{file_id(n=1)},{file_id(n=2)}"},
        "files",
        ("not one string",),
        id="files-comma-joined-string",
    ),
    pytest.param({"files": file_id().encode()}, "files", ("not one string",), id="files-one-bytes"),
    pytest.param(
        {"files": [file_id("100001"), file_id("100002")]},
        "files",
        ("several accounts", "100001", "100002"),
        id="files-two-accounts",
    ),
    pytest.param(
        {"account": "100002"},
        "account",
        ("'100002'", "'100001'"),
        id="account-mismatches-files",
    ),
    pytest.param({"account": ""}, "account", ("non-empty",), id="account-empty"),
    pytest.param({"account": "  "}, "account", ("non-empty",), id="account-blank"),
    pytest.param({"account": 100001}, "account", ("non-empty",), id="account-int"),
]


@pytest.mark.parametrize(("overrides", "field", "fragments"), CLONE_REFUSED)
def test_clone_request_refuses(
    overrides: dict[str, Any], field: str, fragments: tuple[str, ...]
) -> None:
    """A clone request breaking a limit cannot be built; the error names field and limit."""
    assert_refused(lambda: clone(**overrides), field, *fragments)


@pytest.mark.parametrize("value", [pytest.param("yes", id="str"), pytest.param(1, id="int")])
def test_clone_request_refuses_non_bool_noise_reduction(value: object) -> None:
    """A non-bool need_noise_reduction is refused with a ValidationError naming the field."""
    assert_refused(lambda: clone(need_noise_reduction=value), "need_noise_reduction")


def test_clone_request_accounts() -> None:
    """The clone's account is the explicit one, else the one inside the file ids."""
    derived = clone(files=files(2, "100003"))
    assert derived.account is None
    assert derived.embedded_account == "100003"
    assert derived.target_account == "100003"
    opaque = clone(files=["1234567890"], account="100004")
    assert opaque.embedded_account is None
    assert opaque.target_account == "100004"
    assert clone(files=["1234567890"]).target_account is None


def test_clone_request_defaults() -> None:
    """need_noise_reduction defaults to True and account to None, as the API does."""
    request = clone()
    assert request.need_noise_reduction is True
    assert request.account is None


@given(st.text(min_size=1, max_size=MAX_VOICE_NAME_LENGTH).filter(lambda s: s.strip() != ""))
def test_any_short_non_blank_voice_name_builds(name: str) -> None:
    """Any voice_name of 1-30 characters, not all blank, builds a request and a job."""
    assert clone(voice_name=name).voice_name == name
    assert job(voice_name=name).voice_name == name


@given(st.text(min_size=MAX_VOICE_NAME_LENGTH + 1, max_size=200))
def test_no_long_voice_name_builds(name: str) -> None:
    """No voice_name of 31 or more characters builds a request or a job."""
    assert_refused(lambda: clone(voice_name=name), "voice_name")
    assert_refused(lambda: job(voice_name=name), "voice_name")


# --------------------------------------------------------------------------- TTS requests

EFFECTS = ("deepen_lighten", "stronger_softer", "nasal_crisp")
SWITCHES = ("spacious_echo", "lofi_telephone", "robotic", "auditorium_echo")

MP3_ACCEPTED = [
    pytest.param({"text": "x" * MAX_MP3_TEXT_LENGTH}, id="text-500"),
    pytest.param({"text": "x"}, id="text-1"),
    pytest.param({"text": "Hello <#0.5#> world"}, id="text-pause-markup"),
    pytest.param({"speed": 0.5}, id="speed-0.5"),
    pytest.param({"speed": 2}, id="speed-2"),
    pytest.param({"speed": 1.0}, id="speed-1.0"),
    pytest.param({"pitch": -12}, id="pitch-minus-12"),
    pytest.param({"pitch": 12}, id="pitch-12"),
    *(pytest.param({name: -100}, id=f"{name}-minus-100") for name in EFFECTS),
    *(pytest.param({name: 100}, id=f"{name}-100") for name in EFFECTS),
    pytest.param({"vol": 0.01}, id="vol-small"),
    pytest.param({"vol": 10}, id="vol-10"),
    *(pytest.param({name: True}, id=f"{name}-true") for name in SWITCHES),
    *(pytest.param({name: False}, id=f"{name}-false") for name in SWITCHES),
    pytest.param({"model": "speech-02-hd", "emotion": "happy"}, id="model-and-emotion"),
    pytest.param({"language_boost": "Auto", "account": "100001"}, id="boost-and-account"),
]


@pytest.mark.parametrize("overrides", MP3_ACCEPTED)
def test_mp3_request_accepts(overrides: dict[str, Any]) -> None:
    """A create-mp3 request within every documented range builds."""
    request = mp3(**overrides)
    for name, value in overrides.items():
        assert getattr(request, name) == value


MP3_REFUSED = [
    pytest.param(
        {"text": "x" * (MAX_MP3_TEXT_LENGTH + 1)},
        "text",
        ("501 characters", "limit is 500"),
        id="text-501",
    ),
    pytest.param({"text": ""}, "text", ("non-empty",), id="text-empty"),
    pytest.param({"text": "   "}, "text", ("non-empty",), id="text-blank"),
    pytest.param({"voice_id": ""}, "voice_id", ("non-empty",), id="voice_id-empty"),
    pytest.param({"speed": 0.49}, "speed", ("0.49", "0.5", "2"), id="speed-0.49"),
    pytest.param({"speed": 2.01}, "speed", ("2.01", "0.5", "2"), id="speed-2.01"),
    pytest.param({"speed": float("nan")}, "speed", ("0.5", "2"), id="speed-nan"),
    pytest.param({"speed": True}, "speed", ("number", "bool"), id="speed-bool"),
    pytest.param({"speed": "1"}, "speed", ("number", "str"), id="speed-str"),
    pytest.param({"pitch": 13}, "pitch", ("13", "-12", "12"), id="pitch-13"),
    pytest.param({"pitch": -13}, "pitch", ("-13", "-12", "12"), id="pitch-minus-13"),
    *(
        pytest.param({name: 101}, name, ("101", "-100", "100"), id=f"{name}-101")
        for name in EFFECTS
    ),
    *(
        pytest.param({name: -101}, name, ("-101", "-100", "100"), id=f"{name}-minus-101")
        for name in EFFECTS
    ),
    # The limit of vol is "greater than 0"; the message renders it as "from 1e-09 to inf".
    pytest.param({"vol": 0}, "vol", ("is 0",), id="vol-0"),
    pytest.param({"vol": -1}, "vol", ("is -1",), id="vol-negative"),
    *(pytest.param({name: 1}, name, ("True or False", "1"), id=f"{name}-int") for name in SWITCHES),
    *(
        pytest.param({name: "true"}, name, ("True or False", "'true'"), id=f"{name}-str")
        for name in SWITCHES
    ),
    pytest.param({"model": ""}, "model", ("non-empty",), id="model-empty"),
    pytest.param({"emotion": " "}, "emotion", ("non-empty",), id="emotion-blank"),
    pytest.param({"account": ""}, "account", ("non-empty",), id="account-empty"),
]


@pytest.mark.parametrize(("overrides", "field", "fragments"), MP3_REFUSED)
def test_mp3_request_refuses(
    overrides: dict[str, Any], field: str, fragments: tuple[str, ...]
) -> None:
    """A create-mp3 request out of range cannot be built; the error names field and limit."""
    assert_refused(lambda: mp3(**overrides), field, *fragments)


@pytest.mark.parametrize(
    ("overrides", "field", "fragments"),
    [
        pytest.param(
            {"text": "x" * (MAX_STREAM_TEXT_LENGTH + 1)},
            "text",
            ("5001 characters", "limit is 5000"),
            id="text-5001",
        ),
        pytest.param({"text": ""}, "text", ("non-empty",), id="text-empty"),
        pytest.param({"speed": 0.49}, "speed", ("0.5",), id="speed-inherited"),
        pytest.param({"robotic": "no"}, "robotic", ("True or False",), id="switch-inherited"),
    ],
)
def test_stream_request_refuses(
    overrides: dict[str, Any], field: str, fragments: tuple[str, ...]
) -> None:
    """A create-stream request over 5000 characters, or out of range, cannot be built."""
    assert_refused(lambda: stream(**overrides), field, *fragments)


@pytest.mark.parametrize(
    "length",
    [
        pytest.param(MAX_MP3_TEXT_LENGTH + 1, id="501"),
        pytest.param(MAX_STREAM_TEXT_LENGTH, id="5000"),
    ],
)
def test_stream_request_accepts_long_text(length: int) -> None:
    """create-stream takes up to 5000 characters, beyond create-mp3's 500."""
    assert len(stream(text="x" * length).text) == length


def test_tts_target_account() -> None:
    """The TTS account is the explicit one, else the one inside a cloned voice id."""
    cloned = "user:777-minimax:100005-audio:42"
    assert mp3(voice_id=cloned).target_account == "100005"
    assert mp3(voice_id=cloned, account="100006").target_account == "100006"
    assert mp3().target_account is None
    assert stream(voice_id=cloned).target_account == "100005"


# --------------------------------------------------------------------------- VoiceJob

JOB_ACCEPTED = [
    pytest.param({"voice_name": "x" * MAX_VOICE_NAME_LENGTH}, 1, id="voice_name-30"),
    pytest.param({"samples": "one.wav"}, 1, id="samples-one-path"),
    pytest.param({"samples": b"RIFF....WAVE"}, 1, id="samples-one-bytes"),
    pytest.param({"samples": ["a.mp3"]}, 1, id="samples-1"),
    pytest.param(
        {"samples": [f"s{n}.mp3" for n in range(MAX_SAMPLES_PER_VOICE)]},
        MAX_SAMPLES_PER_VOICE,
        id="samples-10",
    ),
    pytest.param({"samples": [file_id(), "local.mp3"]}, 2, id="samples-mixed"),
    pytest.param({"samples": ["a.mp3"], "account": "100009"}, 1, id="pinned"),
    pytest.param({"need_noise_reduction": False}, 1, id="need_noise_reduction-false"),
]


@pytest.mark.parametrize(("overrides", "count"), JOB_ACCEPTED)
def test_voice_job_accepts(overrides: dict[str, Any], count: int) -> None:
    """A job within the limits builds; one path or one bytes object is one sample."""
    assert len(job(**overrides).samples) == count


JOB_REFUSED = [
    pytest.param(
        {"voice_name": "x" * (MAX_VOICE_NAME_LENGTH + 1)},
        "voice_name",
        ("31 characters", "limit is 30"),
        id="voice_name-31",
    ),
    pytest.param({"voice_name": ""}, "voice_name", ("non-empty",), id="voice_name-empty"),
    pytest.param({"voice_name": "  "}, "voice_name", ("non-empty",), id="voice_name-blank"),
    pytest.param({"language_tag": ""}, "language_tag", ("non-empty",), id="language_tag-empty"),
    pytest.param({"samples": []}, "samples", ("0 samples", "1 to 10"), id="samples-0"),
    pytest.param(
        {"samples": [f"s{n}.mp3" for n in range(MAX_SAMPLES_PER_VOICE + 1)]},
        "samples",
        ("11 samples", "1 to 10"),
        id="samples-11",
    ),
    pytest.param(
        {"samples": [file_id("100001"), file_id("100002")]},
        "samples",
        ("several accounts", "100001", "100002"),
        id="file-ids-two-accounts",
    ),
    pytest.param(
        {"samples": [file_id("100001")], "account": "100002"},
        "account",
        ("'100002'", "'100001'"),
        id="account-mismatches-file-ids",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "fragments"), JOB_REFUSED)
def test_voice_job_refuses(
    overrides: dict[str, Any], field: str, fragments: tuple[str, ...]
) -> None:
    """A job breaking a limit cannot be built; the error names field and limit."""
    assert_refused(lambda: job(**overrides), field, *fragments)


def test_voice_job_refuses_non_bool_noise_reduction() -> None:
    """A non-bool need_noise_reduction is refused with a ValidationError naming the field."""
    assert_refused(lambda: job(need_noise_reduction="no"), "need_noise_reduction")


def test_voice_job_refuses_file_id_with_comma() -> None:
    """A sample file id holding a comma (two ids run together) is refused when built."""
    joined = f"{file_id(n=1)},{file_id(n=2)}"
    assert_refused(lambda: job(samples=[joined, "local.mp3"]), "samples", "comma")


@pytest.mark.parametrize("account", [pytest.param("", id="empty"), pytest.param(" ", id="blank")])
def test_voice_job_refuses_blank_account(account: str) -> None:
    """A blank account pin is refused when the job is built, as for CloneVoiceRequest."""
    assert_refused(lambda: job(account=account), "account", "non-empty")


def test_voice_job_splits_file_ids_from_local_samples() -> None:
    """Uploaded file ids are used as they are and pin the job; the rest is read locally."""
    uploaded = file_id("100007")
    mixed = job(samples=["a.mp3", uploaded, b"bytes"])
    assert mixed.file_ids == (uploaded,)
    assert mixed.local_samples == ("a.mp3", b"bytes")
    assert mixed.embedded_account == "100007"
    assert mixed.pinned_account == "100007"
    local = job()
    assert local.file_ids == ()
    assert local.pinned_account is None
    assert job(account="100008").pinned_account == "100008"


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("identifier", "account"),
    [
        pytest.param("user:1-minimax:123456-file:42", "123456", id="file-id"),
        pytest.param("user:user_id-minimax:account-file:file_id", "account", id="doc-file-id"),
        pytest.param(
            "user:user_id-minimax:account_id-audio:voice_id", "account_id", id="doc-voice-id"
        ),
        pytest.param(
            "user:987654321-minimax:100001-audio:7f3a9c", "100001", id="clip-or-cloned-voice"
        ),
        pytest.param("209544421245048", None, id="system-voice-id"),
        pytest.param("Italian_DiligentLeader", None, id="system-uniq-id"),
        pytest.param("1234567890", None, id="bare-cloned-voice-id"),
        pytest.param("", None, id="empty"),
        pytest.param("user:1-minimax:123456-voice:42", None, id="unknown-kind"),
        pytest.param("user:1-minimax:123456-file:", None, id="no-file-part"),
        pytest.param("user:1-minimax:-file:42", None, id="no-account"),
        pytest.param("xuser:1-minimax:123456-file:42", None, id="prefix"),
    ],
)
def test_account_from_id(identifier: str, account: str | None) -> None:
    """account_from_id finds the account inside composite ids and None in any other id."""
    assert account_from_id(identifier) == account


def test_response_models_expose_their_account() -> None:
    """Voice and UploadedSample read their account from their composite ids."""
    assert Voice(voice_id="user:1-minimax:100001-audio:9").account == "100001"
    assert Voice(voice_id="209544421245048").account is None
    assert Voice().account is None
    assert UploadedSample(file_id=file_id("100002")).account == "100002"
    assert UploadedSample(file_id="42").account is None
