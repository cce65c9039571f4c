"""Benchmark 4: structure and unstructure of ``Voice`` and ``CloneVoiceRequest``.

The project's converter (``make_converter()`` as shipped) against pydantic v2 and msgspec
models that do the same work: the same fields and defaults, the same validation of a clone
request (name 1-30 characters, 1-10 file ids without commas and of one account, the account
matching the file ids), epoch milliseconds to UTC datetimes (0 meaning "not set"), the
comma-joined ``files`` out, unknown keys ignored.

A fourth row, "cattrs, tuned", is the shipped converter with the hooks this module's
:func:`tuned_converter` adds: what cattrs allows without changing the models.
"""

from __future__ import annotations

import json
import timeit
import types
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Final

import attrs
import msgspec
import pydantic
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.json import JsonConverter

from minimax_async import MAX_FILES_PER_CLONE, MAX_VOICE_NAME_LENGTH, account_from_id
from minimax_async import CloneVoiceRequest as AttrsRequest
from minimax_async import Voice as AttrsVoice
from minimax_async._converter import make_converter

__all__ = ["SerdeResult", "run_serde", "tuned_converter"]

_MS: Final = 1000
_CALIBRATION_CALLS: Final = 200
_NONE: Final = type(None)

#: A cloned voice as the fake server (and the API) answers it.
VOICE_WIRE: Final[Mapping[str, Any]] = {
    "voice_id": "user:1234-minimax:100001-audio:17",
    "parent_voice_id": "0",
    "voice_name": "voice 17",
    "tag_list": ["English"],
    "file_id": "42",
    "cover_url": "https://cdn.example/voice_cover/100001/17.png",
    "create_time": 1732580000123,
    "update_time": 1732580000123,
    "collected": False,
    "voice_status": 2,
    "sample_audio": "https://cdn.example/voice_sample_audio/100001/17.mp3",
    "uniq_id": "moss_audio_100001_17",
    "group_id": "100001",
}
VOICE_BODY: Final = json.dumps(VOICE_WIRE, separators=(",", ":")).encode()
#: A clone request as Python data (files as a list, before the wire's comma join).
REQUEST_DATA: Final[Mapping[str, Any]] = {
    "voice_name": "voice 17",
    "language_tag": "English",
    "files": ["user:1234-minimax:100001-file:1", "user:1234-minimax:100001-file:2"],
    "account": "100001",
    "need_noise_reduction": True,
}


def _from_ms(value: Any) -> datetime | None:
    if value is None or value == 0:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value) / _MS, tz=timezone.utc)


def _to_ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * _MS)


def _check_files(files: tuple[str, ...]) -> None:
    if not 1 <= len(files) <= MAX_FILES_PER_CLONE:
        raise ValueError(f"files has {len(files)} file ids")
    for file_id in files:
        if not file_id.strip() or "," in file_id:
            raise ValueError(f"bad file id {file_id!r}")
    if len({a for a in map(account_from_id, files) if a is not None}) > 1:
        raise ValueError("file ids from several accounts")


def _check_account(account: str | None, files: tuple[str, ...]) -> None:
    embedded = next((a for a in map(account_from_id, files) if a is not None), None)
    if account is not None and embedded is not None and embedded != account:
        raise ValueError("account does not match the file ids")


def _check_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


# --------------------------------------------------------------------------- cattrs, tuned


def _is_optional(t: Any) -> bool:
    return isinstance(t, types.UnionType) and len(t.__args__) == 2 and _NONE in t.__args__


def tuned_converter() -> JsonConverter:
    """The shipped converter plus the structure hooks that make it faster.

    * ``X | None``: cattrs' ``_structure_optional`` looks the inner hook up on every call;
      a hook factory resolves it once, and ``str``/``int``/``bool`` skip the call entirely
      when the value already has the type (JSON gives exactly these);
    * ``datetime | None`` goes straight to an epoch-millisecond hook that takes None and
      calls ``datetime.fromtimestamp(ms / 1000, UTC)`` positionally (the shipped
      ``float(value) / 1000`` with ``tz=`` as a keyword costs twice as much);
    * ``tuple[str, ...]``: ``tuple(map(str, v))`` instead of a generator of hook calls.
    The structure functions of the models are regenerated so that they bind these hooks.
    """
    converter = make_converter()
    utc = timezone.utc
    fromtimestamp = datetime.fromtimestamp

    def datetime_hook(value: Any, _: Any) -> datetime | None:
        if value is None or value == 0:
            return None
        if value.__class__ is not int:
            value = float(value)
        return fromtimestamp(value / _MS, utc)

    converter.register_structure_hook(datetime, datetime_hook)

    def optional_hook(t: Any) -> Callable[[Any, Any], Any]:
        inner = t.__args__[0] if t.__args__[1] is _NONE else t.__args__[1]
        if inner in (str, int, bool):
            cast = inner

            def exact(value: Any, _: Any) -> Any:
                return value if value is None or value.__class__ is cast else cast(value)

            return exact
        if inner is datetime:
            return datetime_hook
        hook = converter.get_structure_hook(inner)

        def other(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        return other

    def str_tuple(value: Any, _: Any) -> tuple[str, ...]:
        return tuple(map(str, value))

    converter.register_structure_hook_factory(_is_optional, optional_hook)
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], str_tuple)
    for cls in (AttrsVoice, AttrsRequest):
        converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter))
    return converter


# --------------------------------------------------------------------------- pydantic v2

_PydanticTime = Annotated[
    datetime | None,
    pydantic.BeforeValidator(_from_ms),
    pydantic.PlainSerializer(_to_ms),
]


class PydanticVoice(pydantic.BaseModel):
    """``Voice`` in pydantic v2."""

    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")

    voice_id: str | None = None
    voice_name: str | None = None
    parent_voice_id: str | None = None
    tag_list: tuple[str, ...] = ()
    file_id: str | None = None
    cover_url: str | None = None
    create_time: _PydanticTime = None
    update_time: _PydanticTime = None
    collected: bool | None = None
    voice_status: int | None = None
    sample_audio: str | None = None
    uniq_id: str | None = None
    group_id: str | None = None


class PydanticRequest(pydantic.BaseModel):
    """``CloneVoiceRequest`` in pydantic v2."""

    model_config = pydantic.ConfigDict(frozen=True, strict=True)

    voice_name: Annotated[str, pydantic.StringConstraints(max_length=MAX_VOICE_NAME_LENGTH)]
    language_tag: str
    files: tuple[str, ...]
    account: str | None = None
    need_noise_reduction: bool = True

    _text = pydantic.field_validator("voice_name", "language_tag")(
        classmethod(lambda cls, v: _check_text(v))
    )

    @pydantic.field_validator("files", mode="before")
    @classmethod
    def _files(cls, value: Any) -> tuple[str, ...]:
        files = tuple(value)
        _check_files(files)
        return files

    @pydantic.model_validator(mode="after")
    def _account(self) -> PydanticRequest:
        _check_account(self.account, self.files)
        return self

    @pydantic.field_serializer("files")
    def _join(self, files: tuple[str, ...]) -> str:
        return ",".join(files)


# --------------------------------------------------------------------------- msgspec


class MsgspecVoice(msgspec.Struct, frozen=True, kw_only=True):
    """``Voice`` as a msgspec Struct; times arrive as ints and become datetimes."""

    voice_id: str | None = None
    voice_name: str | None = None
    parent_voice_id: str | None = None
    tag_list: tuple[str, ...] = ()
    file_id: str | None = None
    cover_url: str | None = None
    create_time: datetime | int | None = None
    update_time: datetime | int | None = None
    collected: bool | None = None
    voice_status: int | None = None
    sample_audio: str | None = None
    uniq_id: str | None = None
    group_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.create_time, datetime | None):
            msgspec.structs.force_setattr(self, "create_time", _from_ms(self.create_time))
        if not isinstance(self.update_time, datetime | None):
            msgspec.structs.force_setattr(self, "update_time", _from_ms(self.update_time))


class MsgspecRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``CloneVoiceRequest`` as a msgspec Struct."""

    voice_name: Annotated[str, msgspec.Meta(max_length=MAX_VOICE_NAME_LENGTH)]
    language_tag: str
    files: tuple[str, ...]
    account: str | None = None
    need_noise_reduction: bool = True

    def __post_init__(self) -> None:
        _check_text(self.voice_name)
        _check_text(self.language_tag)
        _check_files(self.files)
        _check_account(self.account, self.files)


_VOICE_DECODER: Final = msgspec.json.Decoder(MsgspecVoice)


def _msgspec_unstructure_voice(voice: MsgspecVoice) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(voice)
    for name, value in (("create_time", voice.create_time), ("update_time", voice.update_time)):
        data[name] = _to_ms(value) if isinstance(value, datetime) else value
    return data


def _msgspec_unstructure_request(request: MsgspecRequest) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(request)
    data["files"] = ",".join(request.files)
    if request.account is None:
        del data["account"]
    return data


# --------------------------------------------------------------------------- the runs


@attrs.frozen
class SerdeResult:
    """Microseconds per operation, per library (``None``: not measured)."""

    operation: str
    micros: dict[str, float]


#: Column order of the table.
LIBRARIES: Final = ("minimax_async", "cattrs, tuned", "pydantic v2", "msgspec")


def _time_interleaved(
    peers: Mapping[str, Callable[[], object]], budget: float, repeats: int
) -> dict[str, float]:
    """Best microseconds per call of each peer; the peers take turns in every repeat, so
    that a burst of load from elsewhere on the machine hits them all alike."""
    timers = {name: timeit.Timer(run) for name, run in peers.items()}
    numbers = {}
    for name, timer in timers.items():
        seconds = timer.timeit(_CALIBRATION_CALLS) / _CALIBRATION_CALLS
        numbers[name] = max(1, int(budget / seconds))
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(repeats):
        for name, timer in timers.items():
            seconds = timer.timeit(numbers[name]) / numbers[name]
            best[name] = min(best[name], seconds * 1e6)
    return best


def _as_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _operations() -> dict[str, dict[str, Callable[[], object]]]:
    shipped = make_converter()
    tuned = tuned_converter()
    voice = shipped.structure(VOICE_WIRE, AttrsVoice)
    request = shipped.structure(REQUEST_DATA, AttrsRequest)
    p_voice = PydanticVoice.model_validate(VOICE_WIRE)
    p_request = PydanticRequest.model_validate(REQUEST_DATA)
    m_voice = msgspec.convert(VOICE_WIRE, MsgspecVoice)
    m_request = msgspec.convert(REQUEST_DATA, MsgspecRequest)
    expected_request = shipped.unstructure(request)
    expected_voice = shipped.unstructure(voice)
    # The peers must give the same answers, or the comparison means nothing.
    checks: list[tuple[object, object]] = [
        (tuned.structure(VOICE_WIRE, AttrsVoice), voice),
        (tuned.structure(REQUEST_DATA, AttrsRequest), request),
        (p_request.model_dump(exclude_none=True), expected_request),
        (_msgspec_unstructure_request(m_request), expected_request),
        (p_voice.model_dump(), expected_voice),
        (_msgspec_unstructure_voice(m_voice), expected_voice),
        (p_voice.create_time, voice.create_time),
        (m_voice.create_time, voice.create_time),
    ]
    for got, want in checks:
        if got != want and _as_json(got) != _as_json(want):
            raise AssertionError(f"peer disagrees: {got!r} != {want!r}")
    return {
        "Voice: structure (dict -> model)": {
            "minimax_async": lambda: shipped.structure(VOICE_WIRE, AttrsVoice),
            "cattrs, tuned": lambda: tuned.structure(VOICE_WIRE, AttrsVoice),
            "pydantic v2": lambda: PydanticVoice.model_validate(VOICE_WIRE),
            "msgspec": lambda: msgspec.convert(VOICE_WIRE, MsgspecVoice),
        },
        "Voice: loads (JSON bytes -> model)": {
            "minimax_async": lambda: shipped.loads(VOICE_BODY, AttrsVoice),
            "cattrs, tuned": lambda: tuned.loads(VOICE_BODY, AttrsVoice),
            "pydantic v2": lambda: PydanticVoice.model_validate_json(VOICE_BODY),
            "msgspec": lambda: _VOICE_DECODER.decode(VOICE_BODY),
        },
        "Voice: unstructure (model -> dict)": {
            "minimax_async": lambda: shipped.unstructure(voice),
            "cattrs, tuned": lambda: tuned.unstructure(voice),
            "pydantic v2": lambda: p_voice.model_dump(),
            "msgspec": lambda: _msgspec_unstructure_voice(m_voice),
        },
        "CloneVoiceRequest: structure (dict -> validated model)": {
            "minimax_async": lambda: shipped.structure(REQUEST_DATA, AttrsRequest),
            "cattrs, tuned": lambda: tuned.structure(REQUEST_DATA, AttrsRequest),
            "pydantic v2": lambda: PydanticRequest.model_validate(REQUEST_DATA),
            "msgspec": lambda: msgspec.convert(REQUEST_DATA, MsgspecRequest),
        },
        "CloneVoiceRequest: unstructure (model -> wire dict)": {
            "minimax_async": lambda: shipped.unstructure(request),
            "cattrs, tuned": lambda: tuned.unstructure(request),
            "pydantic v2": lambda: p_request.model_dump(exclude_none=True),
            "msgspec": lambda: _msgspec_unstructure_request(m_request),
        },
    }


def run_serde(*, quick: bool, progress: Callable[[str], None] = print) -> list[SerdeResult]:
    """Time every operation of every library (best of several repeats)."""
    budget, repeats = (0.02, 5) if quick else (0.05, 15)
    operations = _operations()
    for peers in operations.values():  # warm up (caches, the CPU's clock)
        _time_interleaved(peers, budget / 4, 1)
    results = []
    for operation, peers in operations.items():
        micros = _time_interleaved(peers, budget, repeats)
        progress(f"  {operation}: " + ", ".join(f"{k} {v:.2f} us" for k, v in micros.items()))
        results.append(SerdeResult(operation, micros))
    return results
