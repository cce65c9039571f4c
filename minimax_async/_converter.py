"""The cattrs converter of the clients: wire dicts <-> models.

Private to minimax_async (never cattrs' global converter, so users' own hooks cannot change
what we send), and built once per process: building one generates code for every model
(about 10 ms), which a client would otherwise pay on construction. Its rules:

* ``files`` of a clone request goes out as one comma-joined string (contract §4.4);
* epoch-millisecond times become UTC datetimes, and back (0 means "not set");
* camelCase wire names (``fileID``, ``maxJobs``, ...) map to snake_case attributes;
* unknown keys in answers are ignored; a request omits the optional fields left unset.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any

from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import JsonConverter
from cattrs.preconf.json import make_converter as make_json_converter

from ._models import (
    Account,
    AccountUser,
    CloneVoiceRequest,
    CreateMp3Request,
    CreateStreamRequest,
    UploadedSample,
)

__all__ = ["make_converter", "shared_converter"]

_MS_PER_SECOND = 1000
_UTC = timezone.utc


def _optional(scalar: type[Any]) -> Any:
    def structure(value: Any, _: type) -> Any:
        if value is None or type(value) is scalar:
            return value
        if scalar is bool and isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return scalar(value)

    return structure


def _strings(value: Any, _: type) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(map(str, value))


def _datetime_from_ms(value: Any, _: type) -> datetime | None:
    if not value:  # None, or 0 for "not set"
        return None
    if type(value) is not int:
        value = float(value)
    return datetime.fromtimestamp(value / _MS_PER_SECOND, _UTC)


def _datetime_to_ms(value: datetime) -> int:
    return round(value.timestamp() * _MS_PER_SECOND)


def _join_files(files: tuple[str, ...]) -> str:
    return ",".join(files)


def make_converter() -> JsonConverter:
    """Return a new converter with every hook minimax_async needs.

    ``converter.loads(body, Voice)`` parses an answer's bytes straight into a model;
    ``converter.unstructure(request)`` gives the JSON body of a request.
    """
    converter = make_json_converter(detailed_validation=False, forbid_extra_keys=False)

    # Optional scalars are most of every answer: plain functions are several times faster
    # than cattrs' generic Optional handling, and as lenient ("2" becomes 2, 7 becomes "7").
    for scalar in (str, int, float, bool):
        converter.register_structure_hook(scalar | None, _optional(scalar))
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _strings)
    converter.register_structure_hook(datetime, _datetime_from_ms)
    converter.register_structure_hook(datetime | None, _datetime_from_ms)
    converter.register_unstructure_hook(datetime, _datetime_to_ms)

    # Requests: strict in what we send.
    converter.register_unstructure_hook(
        CloneVoiceRequest,
        make_dict_unstructure_fn(
            CloneVoiceRequest,
            converter,
            files=override(unstruct_hook=_join_files),
            account=override(omit_if_default=True),
        ),
    )
    for tts in (CreateMp3Request, CreateStreamRequest):
        converter.register_unstructure_hook(
            tts, make_dict_unstructure_fn(tts, converter, _cattrs_omit_if_default=True)
        )

    # Answers: camelCase wire names.
    renames: dict[type, dict[str, str]] = {
        UploadedSample: {"file_id": "fileID", "oss_path": "ossPath"},
        Account: {
            "max_jobs": "maxJobs",
            "support_audio": "supportAudio",
            "support_video": "supportVideo",
            "support_chat": "supportChat",
            "support_music": "supportMusic",
        },
        AccountUser: {"device_id": "deviceID", "is_anonymous": "isAnonymous"},
    }
    for cls, names in renames.items():
        overrides = {attr: override(rename=wire) for attr, wire in names.items()}
        converter.register_structure_hook(
            cls,
            make_dict_structure_fn(cls, converter, **overrides),  # type: ignore[arg-type]
        )
        converter.register_unstructure_hook(
            cls,
            make_dict_unstructure_fn(cls, converter, **overrides),  # type: ignore[arg-type]
        )
    return converter


@functools.cache
def shared_converter() -> JsonConverter:
    """Return the converter every client uses: :func:`make_converter`'s, built on first use.

    Nothing registers hooks on it after it is built; the hooks cattrs generates lazily (the
    answer models') are then generated once per process too.
    """
    return make_converter()
