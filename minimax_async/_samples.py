"""Local checks of voice samples before they are uploaded (contract §4.3).

``POST audio/upload-sample`` takes the raw bytes of one MP3 or WAV file, 10 to 60 seconds long,
with its MIME type as ``Content-Type``. Everything here runs before a byte is sent, so a bad
file fails fast with an :class:`~minimax_async.InvalidSampleError` naming it, instead of costing
an upload (or a whole clone) and coming back as a vague HTTP 400.

Durations come from mutagen; the only hand-written parsing is the magic-byte sniff that tells
MP3 from WAV.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import stat
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import anyio.to_thread
import attrs
import mutagen
import mutagen.mp3
import mutagen.wave

from ._exceptions import InvalidSampleError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CONTENT_TYPE_BY_SUFFIX",
    "MAX_SAMPLES_PER_VOICE",
    "MAX_SAMPLE_BYTES",
    "MAX_SAMPLE_SECONDS",
    "MIN_SAMPLE_SECONDS",
    "SAMPLE_CONTENT_TYPES",
    "LocalSample",
    "SampleSource",
    "load_sample",
    "read_sample",
    "sniff_content_type",
]

_MPEG: Final = "audio/mpeg"
_WAV: Final = "audio/wav"
_WAVE: Final = "audio/wave"

#: The ``Content-Type`` values upload-sample accepts (contract §4.3).
SAMPLE_CONTENT_TYPES: Final = frozenset({_MPEG, _WAV, _WAVE})
#: File suffixes (lower case) the client recognises, and the type each is uploaded as.
CONTENT_TYPE_BY_SUFFIX: Final[Mapping[str, str]] = {".mp3": _MPEG, ".wav": _WAV, ".wave": _WAV}
#: Shortest sample the API accepts, in seconds.
MIN_SAMPLE_SECONDS: Final = 10.0
#: Longest sample the API accepts, in seconds.
MAX_SAMPLE_SECONDS: Final = 60.0
_BYTES_PER_MB: Final = 1024 * 1024
#: Largest sample the client uploads. useapi states no limit; MiniMax's own upload takes
#: at most 20 MB, so larger files are refused here rather than by a vague upstream error.
MAX_SAMPLE_BYTES: Final = 20 * _BYTES_PER_MB
_MAX_SAMPLE_MB: Final = MAX_SAMPLE_BYTES / _BYTES_PER_MB
#: Most samples (uploaded files) one clone request may name (contract §4.4: ``files``).
MAX_SAMPLES_PER_VOICE: Final = 10

#: What a sample can be given as: its bytes, or a path to an ``.mp3`` / ``.wav`` file.
SampleSource: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str]

_WAV_TYPES: Final = frozenset({_WAV, _WAVE})
_FORMAT_NAME: Final[Mapping[str, str]] = {_MPEG: "MP3", _WAV: "WAV"}

# Magic bytes: "RIFF" <4-byte size> "WAVE"; an ID3v2 tag; or an MPEG audio frame sync, i.e.
# eleven set bits (0xFF, then the top three bits of the next byte).
_RIFF: Final = b"RIFF"
_WAVE_ID: Final = b"WAVE"
_WAVE_ID_SLICE: Final = slice(8, 12)
_ID3: Final = b"ID3"
_FRAME_SYNC_FIRST: Final = 0xFF
_FRAME_SYNC_MASK: Final = 0xE0

_DEFAULT_BYTES_LABEL: Final = "<bytes>"
_MAX_REASON_CHARS: Final = 120
_MAX_SHOWN_DECIMALS: Final = 6


def sniff_content_type(data: bytes) -> str | None:
    """Guess a sample's MIME type from its first bytes.

    Args:
        data: The file's bytes (only the first twelve are looked at).

    Returns:
        ``"audio/wav"`` for a RIFF/WAVE header, ``"audio/mpeg"`` for an ID3 tag or an MPEG
        frame sync, else ``None``. Never raises, whatever the bytes.
    """
    head = bytes(data[:12])
    if head.startswith(_RIFF) and head[_WAVE_ID_SLICE] == _WAVE_ID:
        return _WAV
    if head.startswith(_ID3):
        return _MPEG
    frame_sync = (
        len(head) >= 2
        and head[0] == _FRAME_SYNC_FIRST
        and head[1] & _FRAME_SYNC_MASK == _FRAME_SYNC_MASK
    )
    if frame_sync:
        return _MPEG
    return None


@attrs.frozen(slots=False)  # slots=False: room for the cached digest
class LocalSample:
    """A voice sample read and checked locally, ready to upload.

    Attributes:
        label: How the sample is named in errors and logs: the path as given, or a caller's
            label such as ``"<bytes #2>"``.
        data: The file's bytes (left out of ``repr``).
        content_type: The ``Content-Type`` to upload it with, one of
            :data:`SAMPLE_CONTENT_TYPES`.
        duration: Its length in seconds as mutagen reads it; ``None`` only when it was read
            with ``check_duration=False``.
    """

    label: str
    data: bytes = attrs.field(repr=False)
    content_type: str
    duration: float | None

    @property
    def size(self) -> int:
        """The sample's size in bytes."""
        return len(self.data)

    @functools.cached_property
    def digest(self) -> bytes:
        """A 128-bit BLAKE2b digest of the bytes (identifies identical uploads)."""
        return hashlib.blake2b(self.data, digest_size=16).digest()


def read_sample(
    source: SampleSource,
    *,
    content_type: str | None = None,
    label: str | None = None,
    check_duration: bool = True,
) -> LocalSample:
    """Read a voice sample (if given as a path), decide its content type and check it.

    This blocks on file I/O; in async code use :func:`load_sample`.

    The content type is ``content_type`` if given, else the one of the file's suffix
    (see :data:`CONTENT_TYPE_BY_SUFFIX`), else sniffed from the bytes (for bytes sources and
    paths without a suffix). Whichever it is, the bytes must look like that format.

    Args:
        source: The sample's bytes, or a path to an ``.mp3`` or ``.wav`` file.
        content_type: Upload it as this type (one of :data:`SAMPLE_CONTENT_TYPES`,
            case-insensitive), overriding the suffix.
        label: Name the sample by this in errors; default the path as given, or ``"<bytes>"``.
        check_duration: Read the duration with mutagen and require it within
            :data:`MIN_SAMPLE_SECONDS` to :data:`MAX_SAMPLE_SECONDS`. ``False`` skips mutagen
            (the size and magic-byte checks still run) and leaves ``duration`` ``None``.

    Returns:
        The checked sample.

    Raises:
        InvalidSampleError: The sample cannot be used: the file is missing, a directory or
            unreadable; it is empty or bigger than :data:`MAX_SAMPLE_BYTES`; its type is not
            MP3 or WAV, or its bytes do not match its type; mutagen cannot read it; or it is
            shorter or longer than allowed. The message names the sample and the reason.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = label if label is not None else _DEFAULT_BYTES_LABEL
        declared = _declared_content_type(name, content_type)
        data = source.tobytes() if isinstance(source, memoryview) else bytes(source)
        _check_size(name, len(data))
    else:
        path = os.fspath(source)
        name = label if label is not None else os.fsdecode(path)
        declared = _declared_content_type(name, content_type)
        if declared is None:
            declared = _content_type_from_suffix(name, path)
        data = _read_file(name, path)
    if declared is None:
        declared = sniff_content_type(data)
        if declared is None:
            raise InvalidSampleError(
                name, "not an MP3 or WAV file (no ID3 tag, MPEG frame sync or RIFF/WAVE header)"
            )
    kind = _WAV if declared in _WAV_TYPES else _MPEG
    _check_magic(name, data, kind)
    duration = _read_duration(name, data, kind) if check_duration else None
    return LocalSample(label=name, data=data, content_type=declared, duration=duration)


async def load_sample(
    source: SampleSource,
    *,
    content_type: str | None = None,
    label: str | None = None,
    check_duration: bool = True,
) -> LocalSample:
    """Read and check a voice sample without blocking the event loop.

    Paths are read in a worker thread; bytes are checked directly (there is no I/O).

    Args:
        source: The sample's bytes, or a path to an ``.mp3`` or ``.wav`` file.
        content_type: As for :func:`read_sample`.
        label: As for :func:`read_sample`.
        check_duration: As for :func:`read_sample`.

    Returns:
        The checked sample.

    Raises:
        InvalidSampleError: As for :func:`read_sample`.
    """
    read = functools.partial(
        read_sample,
        source,
        content_type=content_type,
        label=label,
        check_duration=check_duration,
    )
    if isinstance(source, (bytes, bytearray, memoryview)):
        return read()
    return await anyio.to_thread.run_sync(read)


def _declared_content_type(name: str, content_type: str | None) -> str | None:
    if content_type is None:
        return None
    normalised = content_type.strip().lower()
    if normalised not in SAMPLE_CONTENT_TYPES:
        raise InvalidSampleError(
            name,
            f"content type {content_type!r} is not allowed; use one of "
            + ", ".join(sorted(SAMPLE_CONTENT_TYPES)),
        )
    return normalised


def _content_type_from_suffix(name: str, path: str | bytes) -> str | None:
    suffix = os.path.splitext(os.fsdecode(path))[1].lower()
    if not suffix:
        return None
    found = CONTENT_TYPE_BY_SUFFIX.get(suffix)
    if found is None:
        raise InvalidSampleError(name, f"unsupported file type {suffix!r}; use .mp3 or .wav")
    return found


def _read_file(name: str, path: str | bytes) -> bytes:
    try:
        # stat first: opening a FIFO would block, and a huge file is refused unread.
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise InvalidSampleError(name, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise InvalidSampleError(name, "is not a regular file")
        _check_size(name, info.st_size)
        with open(path, "rb") as file:
            # One byte over the limit is enough to notice a file that grew since stat.
            data = file.read(MAX_SAMPLE_BYTES + 1)
    except FileNotFoundError as exc:
        raise InvalidSampleError(name, "no such file") from exc
    except IsADirectoryError as exc:
        raise InvalidSampleError(name, "is a directory") from exc
    except PermissionError as exc:
        raise InvalidSampleError(name, "cannot be read: permission denied") from exc
    except OSError as exc:
        raise InvalidSampleError(name, f"cannot be read: {exc.strerror or exc}") from exc
    _check_size(name, len(data))
    return data


def _check_size(name: str, size: int) -> None:
    if size == 0:
        raise InvalidSampleError(name, "is empty (0 bytes)")
    if size > MAX_SAMPLE_BYTES:
        raise InvalidSampleError(
            name,
            f"is {_show_outside(size / _BYTES_PER_MB, 0.0, _MAX_SAMPLE_MB)} MB; "
            f"samples must be at most {_MAX_SAMPLE_MB:g} MB",
        )


def _check_magic(name: str, data: bytes, kind: str) -> None:
    found = sniff_content_type(data)
    if found == kind:
        return
    expected = _FORMAT_NAME[kind]
    if found is not None:
        raise InvalidSampleError(
            name, f"not a valid {expected} file: it looks like {_FORMAT_NAME[found]}"
        )
    header = "a RIFF/WAVE header" if kind == _WAV else "an ID3 tag or MPEG frame sync"
    raise InvalidSampleError(name, f"not a valid {expected} file: it does not start with {header}")


def _read_duration(name: str, data: bytes, kind: str) -> float:
    parser = mutagen.wave.WAVE if kind == _WAV else mutagen.mp3.MP3
    try:
        # mutagen types FileType.info as None (each format sets its own StreamInfo, and
        # every StreamInfo has .length), so the untyped access stays on this line.
        info: Any = parser(io.BytesIO(data)).info
        length = float(info.length)
    except mutagen.MutagenError as exc:  # HeaderNotFoundError, InvalidChunk, ... all derive
        reason = (str(exc).strip() or type(exc).__name__)[:_MAX_REASON_CHARS]
        raise InvalidSampleError(
            name, f"not a readable {_FORMAT_NAME[kind]} file: {reason}"
        ) from exc
    # Written so that a NaN length is refused too.
    if not MIN_SAMPLE_SECONDS <= length <= MAX_SAMPLE_SECONDS:
        raise InvalidSampleError(
            name,
            f"is {_show_outside(length, MIN_SAMPLE_SECONDS, MAX_SAMPLE_SECONDS)} s long; "
            "samples must be "
            f"{MIN_SAMPLE_SECONDS:g}\N{EN DASH}{MAX_SAMPLE_SECONDS:g} s",
        )
    return length


def _show_outside(value: float, low: float, high: float) -> str:
    # The fewest decimals (at least one) that still show a refused value outside the allowed
    # range: "60.004 s", not a puzzling "60.0 s; samples must be 10-60 s".
    for decimals in range(1, _MAX_SHOWN_DECIMALS + 1):
        shown = f"{value:.{decimals}f}"
        if not low <= float(shown) <= high:
            return shown
    return repr(value)
