"""The client's cattrs converter (minimax_async._converter): wire dicts and bytes <-> models."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import cattrs
import pytest
from cattrs.errors import BaseValidationError, ForbiddenExtraKeysError
from cattrs.preconf.json import JsonConverter
from cattrs.preconf.json import make_converter as make_json_converter
from hypothesis import given
from hypothesis import strategies as st

import minimax_async._converter as converter_module
from minimax_async import (
    Account,
    AccountSession,
    AudioConfig,
    AudioStream,
    Client,
    Clip,
    CloneVoiceRequest,
    CreateMp3Request,
    CreateStreamRequest,
    UploadedSample,
    Voice,
)
from minimax_async._converter import make_converter, shared_converter

UTC = timezone.utc

# ----------------------------------------------------------------- recorded example payloads
# Verbatim from the useapi.net documentation (shared/seed/clone-voice.md and the contract §3-4).

#: POST audio/clone-voice, 200 (seed page, 2025-01-24).
CLONE_VOICE_200 = b"""{
    "voice_id": "user:user_id-minimax:account_id-audio:voice_id",
    "parent_voice_id": "0",
    "voice_name": "Doctor Who",
    "tag_list": [
        "English"
    ],
    "file_id": "1234567890",
    "cover_url": "https://cdn.hailuoai.video/...png",
    "create_time": 1122334455667,
    "update_time": 1122334455667,
    "collected": false,
    "voice_status": 2,
    "sample_audio": "https://cdn.hailuoai.video/...mp3",
    "uniq_id": "<uniq_id>",
    "group_id": "<group_id>"
}"""

#: POST audio/upload-sample, 200 (contract §4.3).
UPLOAD_SAMPLE_200 = (
    b"""{ "ossPath": "<file url>", "fileID": "user:user_id-minimax:account-file:file_id" }"""
)

#: GET audio/config, 200 (contract §4.1).
AUDIO_CONFIG_200 = b"""{
  "t2a_emotion": [ { "label": "Happy", "value": "happy" }, { "label": "...", "value": "..." } ],
  "voice_tag_accent": [ { "language": "English", "tag_name": "US (General)" }, { "language": "...", "tag_name": "..." } ],
  "voice_tag_age": [ { "tag_name": "Young Adult" }, { "tag_name": "..." } ],
  "voice_tag_gender": [ { "tag_name": "Male" }, { "tag_name": "..." } ],
  "voice_tag_language": [ { "tag_name": "English" }, { "tag_name": "..." } ]
}"""  # noqa: E501 - verbatim

#: GET audio/{audio_id}, 200 (contract §4.10).
CLIP_200 = b"""{
  "audio_id": "user:user_id-minimax:account_id-audio:audio_id",
  "audio_review": 0,
  "voice_info": {
    "voice_id": "209533299589184", "parent_voice_id": "0", "voice_name": "Calm Woman",
    "tag_list": [ "English", "Female", "Adult", "Audiobook", "US (General)" ],
    "file_id": "", "cover_url": "https://cdn.hailuoai.video/...png",
    "create_time": 1122334455667, "update_time": 1122334455668, "collected": false,
    "voice_status": 2, "sample_audio": "https://cdn.hailuoai.video/...mp3",
    "uniq_id": "English_CalmWoman", "group_id": "0"
  },
  "text": "<Text>",
  "audio_url": "https://cdn.hailuoai.video/...mp3",
  "audio_title": "<Title>",
  "create_time": 1122334455667,
  "emotion": "Auto",
  "language_boost": "Auto",
  "speed": 1,
  "pitch": 0,
  "update_time": 0,
  "effects": { "deepen_lighten": 0, "stronger_softer": 0, "nasal_crisp": 0, "spacious_echo": true,
               "lofi_telephone": false, "robotic": false, "auditorium_echo": false }
}"""

#: GET audio/voices, 200: the items of ``voice_list`` (contract §4.2; stored copy truncated).
VOICE_LIST_ITEM = b"""{
  "voice_id": "209544421245048",
  "parent_voice_id": "0",
  "voice_name": "Diligent Leader",
  "tag_list": [ "Italian", "Female", "Adult", "Calm", "Standard" ],
  "file_id": "",
  "cover_url": "https://cdn.hailuoai.video/moss/staging/2024-11-21-14/moss-audio/voice_cover//1732171514479796864-207331589841022.png?x-oss-process=image/resize,p_50/format,webp",
  "create_time": 1732711650948,
  "update_time": 1732711650948,
  "collected": false,
  "voice_status": 2,
  "sample_audio": "https://cdn.hailuoai.video/moss/staging/2024-11-25-20/moss-audio/voice_sample_audio/1732537441602153587-official_sample_audio/4_it05.mp3",
  "uniq_id": "Italian_DiligentLeader",
  "group_id": "\xe2\x80\xa6"
}"""

#: GET audio/, 200: the items of ``audio_list`` (contract §4.9).
AUDIO_LIST_ITEM = b"""{ "audio_id": "user:user_id-minimax:account_id-audio:audio_id", "audio_review": 0, "user_id": 987654321,
  "audio_title": "<Audio title>", "audio_url": "https://cdn.hailuoai.video/...mp3", "update_time": 1122334455778 }"""  # noqa: E501 - verbatim

#: GET accounts, 200 (contract §3.1, 2025-03-17). The documented second entry is only a
#: truncation placeholder ("…": "…"), so it is left out.
ACCOUNTS_200 = b"""{
  "123456": {
    "account": "123456",
    "jwt": {
      "token": "abc\xe2\x80\xa6secured\xe2\x80\xa6xyz",
      "user": { "deviceID": "123456789", "id": "123456", "isAnonymous": true, "name": "<name>", "avatar": "<url>" },
      "exp": 1734858598.864,
      "iat": 1732266598.864,
      "host": "hailuoai.video",
      "searchParams": "device_platform=web&app_id=3001&version_code=22201&uuid=\xe2\x80\xa6&unix=1732266598000",
      "iat_Issued": "2024-01-01T00:00:00.000Z",
      "exp_Expire": "2024-12-01T00:00:00.000Z"
    },
    "maxJobs": 1,
    "supportVideo": true,
    "supportChat": true,
    "supportAudio": true
  }
}"""  # noqa: E501 - verbatim

RECORDED: list[Any] = [
    pytest.param(CLONE_VOICE_200, Voice, id="clone-voice"),
    pytest.param(UPLOAD_SAMPLE_200, UploadedSample, id="upload-sample"),
    pytest.param(AUDIO_CONFIG_200, AudioConfig, id="audio-config"),
    pytest.param(CLIP_200, Clip, id="audio-clip"),
    pytest.param(VOICE_LIST_ITEM, Voice, id="voices-item"),
    pytest.param(AUDIO_LIST_ITEM, Clip, id="audio-list-item"),
    pytest.param(ACCOUNTS_200, dict[str, Account], id="accounts"),
]

FILE_1 = "user:777-minimax:100001-file:1"
FILE_2 = "user:777-minimax:100001-file:2"


def ms(value: int) -> datetime:
    """The UTC datetime of an epoch-millisecond value, computed without the converter."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)


@pytest.fixture(scope="module")
def converter() -> JsonConverter:
    """A converter as each client makes one (shared: no test here registers hooks on it)."""
    return make_converter()


# --------------------------------------------------------------------------- requests


def test_clone_request_sends_files_as_one_comma_joined_string(converter: JsonConverter) -> None:
    """A clone request unstructures with files as ONE comma-joined string (contract §4.4)."""
    request = CloneVoiceRequest("Doctor Who", "English", [FILE_1, FILE_2])
    assert converter.unstructure(request) == {
        "voice_name": "Doctor Who",
        "language_tag": "English",
        "files": f"{FILE_1},{FILE_2}",
        "need_noise_reduction": True,
    }


def test_clone_request_account_sent_only_when_set(converter: JsonConverter) -> None:
    """account is omitted when None and sent when given."""
    without = converter.unstructure(CloneVoiceRequest("A", "English", [FILE_1]))
    assert "account" not in without
    with_account = converter.unstructure(
        CloneVoiceRequest("A", "English", [FILE_1], account="100001")
    )
    assert with_account["account"] == "100001"


@pytest.mark.parametrize("value", [pytest.param(True, id="true"), pytest.param(False, id="false")])
def test_clone_request_always_sends_noise_reduction(converter: JsonConverter, value: bool) -> None:
    """need_noise_reduction is sent whatever its value, the default True included."""
    body = converter.unstructure(
        CloneVoiceRequest("A", "English", [FILE_1], need_noise_reduction=value)
    )
    assert body["need_noise_reduction"] is value


def test_clone_request_body_is_json(converter: JsonConverter) -> None:
    """The clone body dumps to a JSON object whose files value is a string, not an array."""
    body = json.loads(converter.dumps(CloneVoiceRequest("A", "English", [FILE_1, FILE_2])))
    assert body["files"] == f"{FILE_1},{FILE_2}"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        pytest.param(
            CreateMp3Request(text="Hi", voice_id="209544421245048"),
            {"text": "Hi", "voice_id": "209544421245048"},
            id="mp3-minimal",
        ),
        pytest.param(
            CreateMp3Request(
                text="Hi", voice_id="v", speed=1.5, pitch=-3, robotic=False, emotion="happy"
            ),
            {
                "text": "Hi",
                "voice_id": "v",
                "speed": 1.5,
                "pitch": -3,
                "robotic": False,
                "emotion": "happy",
            },
            id="mp3-some-set",
        ),
        pytest.param(
            CreateStreamRequest(text="Hi " * 300, voice_id="v", account="100001"),
            {"text": "Hi " * 300, "voice_id": "v", "account": "100001"},
            id="stream-with-account",
        ),
    ],
)
def test_tts_request_omits_unset_fields(
    converter: JsonConverter, request_: CreateMp3Request, expected: dict[str, Any]
) -> None:
    """A create-mp3/create-stream request sends only the fields that were set (False too)."""
    assert converter.unstructure(request_) == expected


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize(("payload", "model"), RECORDED)
def test_recorded_payloads_parse(
    converter: JsonConverter, payload: bytes, model: type[Any]
) -> None:
    """Every recorded example payload parses from bytes into its model."""
    converter.loads(payload, model)


def test_clone_voice_example(converter: JsonConverter) -> None:
    """The clone-voice example parses field by field, times as UTC datetimes."""
    voice = converter.loads(CLONE_VOICE_200, Voice)
    assert voice == Voice(
        voice_id="user:user_id-minimax:account_id-audio:voice_id",
        parent_voice_id="0",
        voice_name="Doctor Who",
        tag_list=("English",),
        file_id="1234567890",
        cover_url="https://cdn.hailuoai.video/...png",
        create_time=ms(1122334455667),
        update_time=ms(1122334455667),
        collected=False,
        voice_status=2,
        sample_audio="https://cdn.hailuoai.video/...mp3",
        uniq_id="<uniq_id>",
        group_id="<group_id>",
    )
    assert voice.account == "account_id"
    assert voice.create_time is not None
    assert voice.create_time.tzinfo is UTC


def test_clip_example(converter: JsonConverter) -> None:
    """The GET audio/{audio_id} example parses, nested voice and effects included."""
    clip = converter.loads(CLIP_200, Clip)
    assert clip.audio_id == "user:user_id-minimax:account_id-audio:audio_id"
    assert clip.audio_review == 0
    assert clip.voice_info is not None
    assert clip.voice_info.voice_name == "Calm Woman"
    assert clip.voice_info.tag_list == ("English", "Female", "Adult", "Audiobook", "US (General)")
    assert clip.voice_info.update_time == ms(1122334455668)
    assert clip.create_time == ms(1122334455667)
    assert clip.update_time is None  # "update_time": 0 means not set
    assert clip.speed == 1.0
    assert clip.pitch == 0
    assert clip.emotion == "Auto"
    assert clip.effects is not None
    assert clip.effects.spacious_echo is True
    assert clip.effects.robotic is False
    assert clip.effects.nasal_crisp == 0


def test_audio_config_example(converter: JsonConverter) -> None:
    """The GET audio/config example parses; languages and emotions list the usable values."""
    config = converter.loads(AUDIO_CONFIG_200, AudioConfig)
    assert config.t2a_emotion[0].label == "Happy"
    assert config.voice_tag_accent[0].language == "English"
    assert config.voice_tag_accent[0].tag_name == "US (General)"
    assert config.voice_tag_age[0].tag_name == "Young Adult"
    assert config.voice_tag_gender[0].tag_name == "Male"
    assert config.languages == ("English", "...")
    assert config.emotions == ("happy", "...")


def test_accounts_example_with_camel_case_names(converter: JsonConverter) -> None:
    """GET accounts parses by id; maxJobs, supportAudio and jwt.user.deviceID are renamed."""
    accounts = converter.loads(ACCOUNTS_200, dict[str, Account])
    account = accounts["123456"]
    assert account.account == "123456"
    assert account.max_jobs == 1
    assert account.support_audio is True
    assert account.support_video is True
    assert account.support_chat is True
    assert account.support_music is None
    assert account.error is None
    assert account.usable_for_audio
    assert account.jwt is not None
    assert account.jwt.host == "hailuoai.video"
    assert account.jwt.exp == 1734858598.864
    assert account.jwt.user is not None
    assert account.jwt.user.device_id == "123456789"
    assert account.jwt.user.id == "123456"
    assert account.jwt.user.is_anonymous is True


def test_account_in_error_is_not_usable(converter: JsonConverter) -> None:
    """An account carrying an error, or not supporting audio, is not usable for audio."""
    broken = converter.structure({"account": "1", "error": "session expired"}, Account)
    assert broken.error == "session expired"
    assert not broken.usable_for_audio
    assert not converter.structure({"supportAudio": False}, Account).usable_for_audio


def test_upload_sample_example(converter: JsonConverter) -> None:
    """The upload-sample answer {ossPath, fileID} parses into file_id and oss_path."""
    sample = converter.loads(UPLOAD_SAMPLE_200, UploadedSample)
    assert sample == UploadedSample(
        file_id="user:user_id-minimax:account-file:file_id", oss_path="<file url>"
    )
    assert sample.account == "account"


def test_unknown_keys_are_ignored(converter: JsonConverter) -> None:
    """Keys the models do not know are ignored, at the top level and nested."""
    payload = json.loads(CLIP_200)
    payload["brand_new"] = {"x": 1}
    payload["voice_info"]["also_new"] = [1, 2]
    assert converter.structure(payload, Clip) == converter.loads(CLIP_200, Clip)
    assert converter.structure(
        {"fileID": "f", "error": "", "code": 0}, UploadedSample
    ) == UploadedSample(file_id="f")


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(Voice, id="Voice"),
        pytest.param(Clip, id="Clip"),
        pytest.param(AudioConfig, id="AudioConfig"),
        pytest.param(Account, id="Account"),
        pytest.param(AccountSession, id="AccountSession"),
        pytest.param(AudioStream, id="AudioStream"),
    ],
)
def test_missing_keys_give_defaults(converter: JsonConverter, model: type[Any]) -> None:
    """An empty object parses into the model's defaults (every answer field is optional)."""
    assert converter.loads(b"{}", model) == model()


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param(0, None, id="zero-is-unset"),
        pytest.param(None, None, id="null"),
        pytest.param(1, ms(1), id="one-ms"),
        pytest.param(1732711650948, ms(1732711650948), id="voices-example"),
        pytest.param(1732711650948.0, ms(1732711650948), id="float"),
    ],
)
def test_epoch_ms_to_utc_datetime(
    converter: JsonConverter, wire: float | None, expected: datetime | None
) -> None:
    """Epoch milliseconds become timezone-aware UTC datetimes; 0 and null become None."""
    voice = converter.structure({"create_time": wire, "update_time": wire}, Voice)
    assert voice.create_time == expected
    assert voice.update_time == expected
    if expected is not None:
        assert voice.create_time is not None
        assert voice.create_time.utcoffset() == timedelta(0)


def test_datetime_to_epoch_ms(converter: JsonConverter) -> None:
    """Datetimes unstructure to integer epoch milliseconds, whatever their time zone."""
    paris = timezone(timedelta(hours=1))
    moment = datetime(2024, 11, 27, 13, 47, 30, 948000, tzinfo=paris)
    body = converter.unstructure(Voice(create_time=moment))
    assert body["create_time"] == 1732711650948
    assert isinstance(body["create_time"], int)
    assert body["update_time"] is None


ms_datetimes = st.integers(
    min_value=1, max_value=int(datetime(2100, 1, 1, tzinfo=UTC).timestamp() * 1000)
).map(ms)
optional_text = st.none() | st.text(max_size=40)
voices = st.builds(
    Voice,
    voice_id=optional_text,
    voice_name=optional_text,
    parent_voice_id=optional_text,
    tag_list=st.lists(st.text(max_size=20), max_size=5).map(tuple),
    file_id=optional_text,
    cover_url=optional_text,
    create_time=st.none() | ms_datetimes,
    update_time=st.none() | ms_datetimes,
    collected=st.none() | st.booleans(),
    voice_status=st.none() | st.integers(min_value=-(2**53), max_value=2**53),
    sample_audio=optional_text,
    uniq_id=optional_text,
    group_id=optional_text,
)


#: One converter for every example (making one per example costs more than the test).
ROUND_TRIP_CONVERTER = make_converter()


@given(voices)
def test_voice_round_trip(voice: Voice) -> None:
    """A Voice survives unstructure/structure and dumps/loads unchanged (times at ms)."""
    converter = ROUND_TRIP_CONVERTER
    assert converter.structure(converter.unstructure(voice), Voice) == voice
    assert converter.loads(converter.dumps(voice), Voice) == voice


def test_tokens_never_in_repr(converter: JsonConverter) -> None:
    """The session token of an account and the stream token never show in a repr."""
    account = converter.loads(ACCOUNTS_200, dict[str, Account])["123456"]
    assert account.jwt is not None
    assert account.jwt.token == "abc…secured…xyz"
    assert "secured" not in repr(account)
    assert "secured" not in repr(account.jwt)
    assert "s3cret" not in repr(AccountSession(token="s3cret"))
    stream = converter.structure({"token": "s3cret", "payload": {"a": 1}}, AudioStream)
    assert stream.token == "s3cret"
    assert "s3cret" not in repr(stream)


# --------------------------------------------------------------------------- ownership


def test_each_call_makes_a_new_converter() -> None:
    """make_converter() returns a distinct instance each time, never the global one."""
    first, second = make_converter(), make_converter()
    assert first is not second
    assert first is not cattrs.global_converter
    assert second is not cattrs.global_converter


def test_clients_share_one_private_converter() -> None:
    """Clients use one converter built once per process (building one costs ~10 ms), and it is
    make_converter's, not cattrs' global one."""
    first = Client(token="user:1-Token012345", base_url="http://127.0.0.1:1/v1/minimax")
    second = Client(
        token="user:1-Token012345", base_url="http://127.0.0.1:1/v1/minimax", accounts=["100001"]
    )
    assert first._converter is second._converter is shared_converter()
    assert first._converter is not cattrs.global_converter
    request = CloneVoiceRequest("A", "English", [FILE_1, FILE_2])
    assert first._converter.unstructure(request)["files"] == f"{FILE_1},{FILE_2}"


def test_hooks_do_not_leak_between_converters() -> None:
    """A hook registered on one converter changes neither another nor cattrs' global one."""
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    changed, other = make_converter(), make_converter()
    changed.register_unstructure_hook(datetime, lambda _: "changed")
    assert changed.unstructure(Voice(create_time=moment))["create_time"] == "changed"
    assert other.unstructure(Voice(create_time=moment))["create_time"] == 1704067200000
    assert cattrs.global_converter.unstructure(moment) != "changed"


def test_global_converter_is_untouched() -> None:
    """make_converter registers nothing on cattrs' global converter (files stay a list)."""
    make_converter()
    request = CloneVoiceRequest("A", "English", [FILE_1, FILE_2])
    files = cattrs.global_converter.unstructure(request)["files"]
    assert not isinstance(files, str)
    assert list(files) == [FILE_1, FILE_2]


# --------------------------------------------------------------------------- drift

#: Documented keys the models leave out on purpose. The rest of ``jwt`` is useapi's session
#: bookkeeping: ``searchParams`` carries the device uuid, ``iat_Issued``/``exp_Expire`` repeat
#: ``iat``/``exp`` as ISO strings. None of it is of use to a client of the audio API.
UNMODELLED_KEYS = frozenset(
    {
        "AccountSession.searchParams",
        "AccountSession.iat_Issued",
        "AccountSession.exp_Expire",
    }
)


@pytest.fixture
def strict_converter(monkeypatch: pytest.MonkeyPatch) -> JsonConverter:
    """The client's converter built by make_converter itself, but refusing unknown keys and
    reporting every error (not only the first)."""

    def strict(**kwargs: Any) -> JsonConverter:
        return make_json_converter(
            **{**kwargs, "forbid_extra_keys": True, "detailed_validation": True}
        )

    monkeypatch.setattr(converter_module, "make_json_converter", strict)
    return make_converter()


def unknown_keys(error: BaseException) -> set[str]:
    """Every ``Model.key`` that a (nested) cattrs error reports as an extra key."""
    if isinstance(error, ForbiddenExtraKeysError):
        return {f"{error.cl.__name__}.{key}" for key in error.extra_fields}
    if isinstance(error, BaseValidationError):
        found: set[str] = set()
        for inner in error.exceptions:
            found |= unknown_keys(inner)
        return found
    raise error


def test_strict_converter_is_strict(strict_converter: JsonConverter) -> None:
    """The drift converter does refuse an unknown key (so the drift test can see drift)."""
    with pytest.raises(BaseValidationError) as info:
        strict_converter.structure({"voice_id": "1", "surprise": 1}, Voice)
    assert unknown_keys(info.value) == {"Voice.surprise"}


def test_models_know_every_documented_key(strict_converter: JsonConverter) -> None:
    """Over the recorded payloads, the only keys the models do not know are the allow-list."""
    found: set[str] = set()
    for param in RECORDED:
        payload, model = param.values
        try:
            strict_converter.loads(payload, model)
        except BaseValidationError as exc:
            found |= unknown_keys(exc)
    assert found == UNMODELLED_KEYS
