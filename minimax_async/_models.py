"""Value types: what the client sends (requests) and what the API answers (responses).

Requests validate the documented limits in their attrs validators, so a request that the API
would refuse cannot even be built. Responses are lenient: every field is optional and unknown
keys are ignored (see ``_converter.py``), so additions to the API do not break users.
No I/O and no cattrs here.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from ._exceptions import ValidationError

__all__ = [
    "MAX_FILES_PER_CLONE",
    "MAX_MP3_TEXT_LENGTH",
    "MAX_STREAM_TEXT_LENGTH",
    "MAX_VOICE_NAME_LENGTH",
    "Account",
    "AccountSession",
    "AccountUser",
    "AudioConfig",
    "AudioStream",
    "Clip",
    "ClipEffects",
    "CloneVoiceRequest",
    "CreateMp3Request",
    "CreateStreamRequest",
    "Emotion",
    "LanguageAccent",
    "Tag",
    "UploadedSample",
    "Voice",
    "account_from_id",
]

#: ``voice_name`` of POST audio/clone-voice: at most 30 characters (contract §4.4).
MAX_VOICE_NAME_LENGTH: Final = 30
#: ``files`` of POST audio/clone-voice: at most 10 file ids (contract §4.4).
MAX_FILES_PER_CLONE: Final = 10
#: ``text`` of POST audio/create-mp3: at most 500 characters (contract §4.6, since Jan 2025).
MAX_MP3_TEXT_LENGTH: Final = 500
#: ``text`` of POST audio/create-stream: at most 5000 characters (contract §4.7).
MAX_STREAM_TEXT_LENGTH: Final = 5000
#: ``speed`` range of the TTS endpoints.
SPEED_RANGE: Final = (0.5, 2.0)
#: ``pitch`` range of the TTS endpoints (semitones).
PITCH_RANGE: Final = (-12, 12)
#: Range of ``deepen_lighten``, ``stronger_softer`` and ``nasal_crisp``.
EFFECT_RANGE: Final = (-100, 100)

# Composite ids embed the account: user:<uid>-minimax:<account>-file:<id> (contract §2).
_ID_ACCOUNT = re.compile(r"^user:[^-]+-minimax:(?P<account>[^-]+)-(?:file|audio):.+$")


@functools.lru_cache(maxsize=4096)  # bulk runs reuse a few file ids many times
def account_from_id(identifier: str) -> str | None:
    """Return the MiniMax account embedded in a composite file, voice or clip id.

    ``"user:1-minimax:123456-file:42"`` gives ``"123456"``; ids of another shape (a system
    voice's numeric id, say) give ``None``.
    """
    match = _ID_ACCOUNT.match(identifier)
    return match["account"] if match else None


# --------------------------------------------------------------------------- validators


def _non_empty_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(attribute.name, "must be a non-empty string")


def _max_length(limit: int) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None and len(value) > limit:
            raise ValidationError(
                attribute.name, f"is {len(value)} characters long; the limit is {limit}"
            )

    return check


def optional_account(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError(attribute.name, "must be a non-empty string or None")


def _in_range(low: float, high: float) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(attribute.name, f"must be a number, not {type(value).__name__}")
        if not math.isfinite(value):  # inf would go out as ``Infinity``, which is not JSON
            raise ValidationError(
                attribute.name, f"is {value}; it must be a finite number from {low} to {high}"
            )
        if not low <= value <= high:
            raise ValidationError(attribute.name, f"is {value}; it must be from {low} to {high}")

    return check


def _optional_bool(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise ValidationError(attribute.name, f"must be True or False, not {value!r}")


def strict_bool(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ValidationError(attribute.name, f"must be True or False, not {value!r}")


def check_file_id(file_id: object, field: str = "files") -> None:
    """Refuse a file id that is empty, not a string, or holds the comma that joins ids."""
    if not isinstance(file_id, str) or not file_id.strip():
        raise ValidationError(field, f"file id {file_id!r} is empty or not a string")
    if "," in file_id:
        raise ValidationError(field, f"file id {file_id!r} contains a comma")


def _file_ids(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)):
        raise ValidationError(
            "files", "must be a sequence of file ids (the client joins them), not one string"
        )
    if not isinstance(value, Iterable):
        raise ValidationError(
            "files", f"must be a sequence of file ids, not {type(value).__name__}"
        )
    return tuple(value)


# --------------------------------------------------------------------------- requests


@attrs.frozen
class CloneVoiceRequest:
    """POST audio/clone-voice: clone a voice from uploaded samples.

    Args:
        voice_name: Display name, 1-30 characters.
        language_tag: A ``tag_name`` of ``AudioConfig.voice_tag_language`` (e.g. ``"English"``).
        files: 1-10 file ids from :meth:`Client.upload_sample`, all of one account. Sent as
            the single comma-joined string the API expects.
        account: The MiniMax account; derived from the file ids when omitted.
        need_noise_reduction: Ask MiniMax to denoise the samples (the API default).

    Raises:
        ValidationError: A limit is broken, or the file ids name two accounts (or another
            account than ``account``).
    """

    voice_name: str = attrs.field(validator=[_non_empty_text, _max_length(MAX_VOICE_NAME_LENGTH)])
    language_tag: str = attrs.field(validator=_non_empty_text)
    files: tuple[str, ...] = attrs.field(converter=_file_ids)
    account: str | None = attrs.field(default=None, validator=optional_account)
    need_noise_reduction: bool = attrs.field(default=True, validator=strict_bool)
    #: The account inside the file ids, found once by the files' check (not a field of the
    #: request: no init, eq, repr or wire).
    _embedded: str | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @files.validator
    def _check_files(self, _: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        if not 1 <= len(value) <= MAX_FILES_PER_CLONE:
            raise ValidationError(
                "files", f"has {len(value)} file ids; give 1 to {MAX_FILES_PER_CLONE}"
            )
        embedded: str | None = None
        for file_id in value:
            check_file_id(file_id)
            account = account_from_id(file_id)
            if account is None:
                continue
            if embedded is None:
                embedded = account
            elif account != embedded:
                accounts = {a for a in map(account_from_id, value) if a is not None}
                raise ValidationError(
                    "files",
                    f"file ids come from several accounts: {', '.join(sorted(accounts))}",
                )
        object.__setattr__(self, "_embedded", embedded)

    def __attrs_post_init__(self) -> None:
        embedded = self._embedded
        if self.account is not None and embedded is not None and embedded != self.account:
            raise ValidationError(
                "account",
                f"is {self.account!r} but the files were uploaded to account {embedded!r}",
            )

    @property
    def embedded_account(self) -> str | None:
        """The account named inside the file ids, if they are composite ids."""
        return self._embedded

    @property
    def target_account(self) -> str | None:
        """The account the clone runs on: ``account``, else the one in the file ids."""
        return self.account if self.account is not None else self.embedded_account


@attrs.frozen(kw_only=True)
class CreateMp3Request:
    """POST audio/create-mp3: synthesise up to 500 characters into an mp3.

    Only the fields you set are sent; the API applies its defaults to the rest.

    Args:
        text: 1-500 characters; ``<#0.5#>`` inserts a half-second pause.
        voice_id: A system voice id or a cloned voice's ``voice_id``.
        account: The MiniMax account (derived from a cloned voice id when omitted).
        model: e.g. ``"speech-02-hd"``; not checked against a list (names change).
        language_boost: A language ``tag_name``, or ``"Auto"``.
        emotion: A ``value`` of ``AudioConfig.t2a_emotion``, or ``"Auto"``.
        vol: Volume, greater than 0.
        speed: 0.5 to 2.
        pitch: -12 to 12.
        deepen_lighten: -100 to 100.
        stronger_softer: -100 to 100.
        nasal_crisp: -100 to 100.
        spacious_echo: Effect on or off.
        lofi_telephone: Effect on or off.
        robotic: Effect on or off.
        auditorium_echo: Effect on or off.
    """

    text: str = attrs.field(validator=[_non_empty_text, _max_length(MAX_MP3_TEXT_LENGTH)])
    voice_id: str = attrs.field(validator=_non_empty_text)
    account: str | None = attrs.field(default=None, validator=optional_account)
    model: str | None = attrs.field(default=None, validator=optional_account)
    language_boost: str | None = attrs.field(default=None, validator=optional_account)
    emotion: str | None = attrs.field(default=None, validator=optional_account)
    vol: float | None = attrs.field(default=None, validator=_in_range(1e-9, float("inf")))
    speed: float | None = attrs.field(default=None, validator=_in_range(*SPEED_RANGE))
    pitch: int | None = attrs.field(default=None, validator=_in_range(*PITCH_RANGE))
    deepen_lighten: int | None = attrs.field(default=None, validator=_in_range(*EFFECT_RANGE))
    stronger_softer: int | None = attrs.field(default=None, validator=_in_range(*EFFECT_RANGE))
    nasal_crisp: int | None = attrs.field(default=None, validator=_in_range(*EFFECT_RANGE))
    spacious_echo: bool | None = attrs.field(default=None, validator=_optional_bool)
    lofi_telephone: bool | None = attrs.field(default=None, validator=_optional_bool)
    robotic: bool | None = attrs.field(default=None, validator=_optional_bool)
    auditorium_echo: bool | None = attrs.field(default=None, validator=_optional_bool)

    @property
    def target_account(self) -> str | None:
        """The account to send: ``account``, else the one in a cloned ``voice_id``."""
        return self.account if self.account is not None else account_from_id(self.voice_id)


@attrs.frozen(kw_only=True)
class CreateStreamRequest(CreateMp3Request):
    """POST audio/create-stream: like :class:`CreateMp3Request`, text up to 5000 characters."""

    text: str = attrs.field(validator=[_non_empty_text, _max_length(MAX_STREAM_TEXT_LENGTH)])


# --------------------------------------------------------------------------- responses


@attrs.frozen(kw_only=True)
class Voice:
    """A voice: a cloned one (``list_cloned_voices``, ``clone_voice``) or a system one.

    Every field is optional because the API documents them all as optional. Times are
    timezone-aware UTC datetimes (the API sends epoch milliseconds).
    """

    voice_id: str | None = None
    voice_name: str | None = None
    parent_voice_id: str | None = None
    tag_list: tuple[str, ...] = ()
    file_id: str | None = None
    cover_url: str | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    collected: bool | None = None
    voice_status: int | None = None
    sample_audio: str | None = None
    uniq_id: str | None = None
    group_id: str | None = None

    @property
    def account(self) -> str | None:
        """The account embedded in a composite ``voice_id`` (``None`` for system voices)."""
        return account_from_id(self.voice_id) if self.voice_id else None


@attrs.frozen(kw_only=True)
class UploadedSample:
    """The answer of POST audio/upload-sample.

    Attributes:
        file_id: Pass it in ``CloneVoiceRequest.files`` (wire name ``fileID``).
        oss_path: Where MiniMax stored the file (wire name ``ossPath``).
    """

    file_id: str
    oss_path: str | None = None

    @property
    def account(self) -> str | None:
        """The account the sample was uploaded to (from the composite file id)."""
        return account_from_id(self.file_id)


@attrs.frozen(kw_only=True)
class Emotion:
    """One entry of ``t2a_emotion``: use ``value`` as ``CreateMp3Request.emotion``."""

    label: str | None = None
    value: str | None = None


@attrs.frozen(kw_only=True)
class LanguageAccent:
    """One entry of ``voice_tag_accent``."""

    language: str | None = None
    tag_name: str | None = None


@attrs.frozen(kw_only=True)
class Tag:
    """One entry of ``voice_tag_age``, ``voice_tag_gender`` or ``voice_tag_language``."""

    tag_name: str | None = None


@attrs.frozen(kw_only=True)
class AudioConfig:
    """The vocabularies of GET audio/config: emotions and voice tags."""

    t2a_emotion: tuple[Emotion, ...] = ()
    voice_tag_accent: tuple[LanguageAccent, ...] = ()
    voice_tag_age: tuple[Tag, ...] = ()
    voice_tag_gender: tuple[Tag, ...] = ()
    voice_tag_language: tuple[Tag, ...] = ()

    @property
    def languages(self) -> tuple[str, ...]:
        """The ``language_tag`` values clone-voice accepts."""
        return tuple(t.tag_name for t in self.voice_tag_language if t.tag_name)

    @property
    def emotions(self) -> tuple[str, ...]:
        """The ``emotion`` values create-mp3 accepts."""
        return tuple(e.value for e in self.t2a_emotion if e.value)


@attrs.frozen(kw_only=True)
class AccountUser:
    """The MiniMax user behind an account."""

    id: str | None = None
    name: str | None = None
    device_id: str | None = None
    is_anonymous: bool | None = None
    avatar: str | None = None


@attrs.frozen(kw_only=True)
class AccountSession:
    """The stored web session of an account (``jwt``). Its token is never shown in a repr."""

    token: str | None = attrs.field(default=None, repr=False)
    user: AccountUser | None = None
    exp: float | None = None
    iat: float | None = None
    host: str | None = None


@attrs.frozen(kw_only=True)
class Account:
    """A MiniMax account configured at useapi.net (GET accounts).

    Attributes:
        error: Set by useapi when the stored session is broken; such an account cannot work.
    """

    account: str | None = None
    max_jobs: int | None = None
    support_audio: bool | None = None
    support_video: bool | None = None
    support_chat: bool | None = None
    support_music: bool | None = None
    error: str | None = None
    jwt: AccountSession | None = None

    @property
    def usable_for_audio(self) -> bool:
        """True unless the account is in error or says it does not support audio."""
        return self.error is None and self.support_audio is not False


@attrs.frozen(kw_only=True)
class ClipEffects:
    """The voice effects of a generated clip."""

    deepen_lighten: int | None = None
    stronger_softer: int | None = None
    nasal_crisp: int | None = None
    spacious_echo: bool | None = None
    lofi_telephone: bool | None = None
    robotic: bool | None = None
    auditorium_echo: bool | None = None


@attrs.frozen(kw_only=True)
class Clip:
    """A generated audio clip (create-mp3, GET audio/, GET audio/{audio_id})."""

    audio_id: str | None = None
    audio_url: str | None = None
    audio_title: str | None = None
    audio_review: int | None = None
    user_id: int | None = None
    text: str | None = None
    voice_info: Voice | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    emotion: str | None = None
    language_boost: str | None = None
    speed: float | None = None
    pitch: float | None = None
    effects: ClipEffects | None = None


@attrs.frozen(kw_only=True)
class AudioStream:
    """The answer of POST audio/create-stream: a token and payload for the WSS endpoint.

    The token is a credential for the stream, so it is kept out of the repr.
    """

    token: str | None = attrs.field(default=None, repr=False)
    payload: Mapping[str, Any] | None = None
