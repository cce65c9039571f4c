"""Local checks of voice samples (minimax_async._samples): files and bytes, good and bad."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import mutagen
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minimax_async import VoiceJob
from minimax_async._exceptions import InvalidSampleError, ValidationError
from minimax_async._samples import (
    CONTENT_TYPE_BY_SUFFIX,
    MAX_SAMPLE_BYTES,
    MAX_SAMPLE_SECONDS,
    MAX_SAMPLES_PER_VOICE,
    MIN_SAMPLE_SECONDS,
    SAMPLE_CONTENT_TYPES,
    LocalSample,
    load_sample,
    read_sample,
    sniff_content_type,
)
from minimax_async.testing._audio import make_mp3, make_wav

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from minimax_async._samples import SampleSource

MB = 1024 * 1024
RATE = 8_000  # make_wav's default sample rate: frames per second
GOOD_SECONDS = 12.0
TEXT = b"These are my meeting notes, not audio.\n" * 20
# Starts with a zero byte, so no magic (RIFF, ID3, 0xFF sync) can match by chance.
NOISE = b"\x00" + bytes(range(1, 256)) * 8

# kernfs (sysfs) attributes that have no read method: open(..., "rb") fails with EACCES even
# for root, which chmod 000 cannot achieve. Only ever opened for reading, never written.
WRITE_ONLY_SYSFS = (
    "/sys/bus/platform/uevent",
    "/sys/bus/pci/uevent",
    "/sys/bus/cpu/uevent",
    "/sys/module/kernel/uevent",
)


def write(path: Path, data: bytes) -> tuple[SampleSource, str | None, str]:
    """Write ``data`` to ``path``; the sample is the path, labelled as given."""
    path.write_bytes(data)
    return path, None, str(path)


def unreadable(tmp_path: Path) -> tuple[SampleSource, str | None, str]:
    """Make a .wav path that exists but cannot be opened for reading, even by root."""
    path = tmp_path / "locked.wav"
    if os.geteuid() != 0:
        path.write_bytes(make_wav(GOOD_SECONDS))
        path.chmod(0)
        return path, None, str(path)
    for target in WRITE_ONLY_SYSFS:
        try:
            with open(target, "rb"):
                continue
        except PermissionError:
            path.symlink_to(target)
            return path, None, str(path)
        except OSError:
            continue
    pytest.skip("running as root and no write-only sysfs file to make an unreadable path")


def sparse_big_wav(tmp_path: Path) -> tuple[SampleSource, str | None, str]:
    """Make a 21 MB sparse file that starts with a valid WAV header."""
    path = tmp_path / "big.wav"
    path.write_bytes(make_wav(GOOD_SECONDS))
    with path.open("r+b") as file:
        file.truncate(MAX_SAMPLE_BYTES + MB)
    return path, None, str(path)


def file_under_file(tmp_path: Path) -> tuple[SampleSource, str | None, str]:
    """Make a path whose parent is a regular file (ENOTDIR)."""
    (tmp_path / "parent.wav").write_bytes(make_wav(GOOD_SECONDS))
    path = tmp_path / "parent.wav" / "child.wav"
    return path, None, str(path)


def fifo(tmp_path: Path) -> tuple[SampleSource, str | None, str]:
    """Make a named pipe called .wav (opening it for reading would block)."""
    path = tmp_path / "pipe.wav"
    os.mkfifo(path)
    return path, None, str(path)


def directory(tmp_path: Path) -> tuple[SampleSource, str | None, str]:
    """Make a directory called .wav."""
    path = tmp_path / "folder.wav"
    path.mkdir()
    return path, None, str(path)


def explicit_type(
    name: str, data: bytes, content_type: str
) -> Callable[[Path], tuple[SampleSource, str | None, str]]:
    """Write ``data`` to ``name`` and read it with an explicit ``content_type``."""

    def build(tmp_path: Path) -> tuple[SampleSource, str | None, str]:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path), content_type, str(path)

    return build


BAD_FILES = [
    pytest.param(
        lambda p: write(p / "short.wav", make_wav(4.2)),
        "is 4.2 s long; samples must be 10\N{EN DASH}60 s",
        id="too-short-wav",
    ),
    pytest.param(
        lambda p: write(p / "long.wav", make_wav(61)),
        "is 61.0 s long",
        id="too-long-wav",
    ),
    pytest.param(
        lambda p: write(p / "short.mp3", make_mp3(5)),
        "s long; samples must be 10",
        id="too-short-mp3",
    ),
    pytest.param(
        lambda p: write(p / "long.mp3", make_mp3(75)),
        "s long; samples must be 10",
        id="too-long-mp3",
    ),
    pytest.param(lambda p: write(p / "empty.wav", b""), "is empty (0 bytes)", id="empty-file"),
    pytest.param(
        lambda p: write(p / "notes.wav", TEXT),
        "not a valid WAV file: it does not start with a RIFF/WAVE header",
        id="text-named-wav",
    ),
    pytest.param(
        lambda p: write(p / "notes.mp3", TEXT),
        "not a valid MP3 file: it does not start with an ID3 tag or MPEG frame sync",
        id="text-named-mp3",
    ),
    pytest.param(
        lambda p: write(p / "voice.mp3", make_wav(GOOD_SECONDS)),
        "not a valid MP3 file: it looks like WAV",
        id="wav-named-mp3",
    ),
    pytest.param(
        lambda p: write(p / "noise", NOISE),
        "not an MP3 or WAV file",
        id="random-bytes-no-suffix",
    ),
    pytest.param(
        lambda p: write(p / "voice.ogg", make_wav(GOOD_SECONDS)),
        "unsupported file type '.ogg'; use .mp3 or .wav",
        id="wrong-extension-ogg",
    ),
    pytest.param(
        lambda p: (p / "missing.wav", None, str(p / "missing.wav")),
        "no such file",
        id="missing-path",
    ),
    pytest.param(directory, "is a directory", id="directory"),
    pytest.param(fifo, "is not a regular file", id="fifo"),
    pytest.param(file_under_file, "cannot be read: Not a directory", id="parent-is-a-file"),
    pytest.param(unreadable, "cannot be read: permission denied", id="unreadable"),
    pytest.param(sparse_big_wav, "is 21.0 MB; samples must be at most 20 MB", id="too-big"),
    pytest.param(
        explicit_type("voice.wav", make_wav(GOOD_SECONDS), "audio/ogg"),
        "content type 'audio/ogg' is not allowed; use one of audio/mpeg, audio/wav, audio/wave",
        id="explicit-type-not-allowed",
    ),
    pytest.param(
        explicit_type("voice.wav", make_wav(GOOD_SECONDS), "audio/mpeg"),
        "not a valid MP3 file: it looks like WAV",
        id="explicit-type-mismatch",
    ),
    pytest.param(
        lambda p: write(p / "broken.wav", b"RIFF\x04\x00\x00\x00WAVE" + TEXT),
        "not a readable WAV file: ",
        id="wav-header-then-garbage",
    ),
    pytest.param(
        lambda p: write(p / "broken.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00" + TEXT),
        "not a readable MP3 file: can't sync to MPEG frame",
        id="id3-tag-then-garbage",
    ),
]


@pytest.mark.parametrize(("build", "reason"), BAD_FILES)
def test_bad_file_is_refused_naming_it(
    tmp_path: Path,
    build: Callable[[Path], tuple[SampleSource, str | None, str]],
    reason: str,
) -> None:
    """A bad local sample raises InvalidSampleError naming the file and the reason."""
    source, content_type, label = build(tmp_path)
    with pytest.raises(InvalidSampleError) as caught:
        read_sample(source, content_type=content_type)
    assert caught.value.sample == label
    assert label in str(caught.value)
    assert reason in caught.value.reason
    assert caught.value.field == "samples"


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        pytest.param(b"RIFF\x04\x00\x00\x00WAVE" + TEXT, mutagen.MutagenError, id="mutagen"),
        pytest.param(None, PermissionError, id="permission"),
    ],
)
def test_refusal_is_chained_to_its_cause(
    tmp_path: Path, data: bytes | None, cause: type[BaseException]
) -> None:
    """The underlying mutagen or OS error is kept as ``__cause__``."""
    if data is None:
        source: SampleSource = unreadable(tmp_path)[0]
    else:
        source = tmp_path / "x.wav"
        source.write_bytes(data)
    with pytest.raises(InvalidSampleError) as caught:
        read_sample(source)
    assert isinstance(caught.value.__cause__, cause)


def test_wav_by_suffix(tmp_path: Path) -> None:
    """A .wav path is read, typed audio/wav and measured."""
    data = make_wav(GOOD_SECONDS)
    path = tmp_path / "voice.wav"
    path.write_bytes(data)
    sample = read_sample(path)
    assert sample == LocalSample(
        label=str(path), data=data, content_type="audio/wav", duration=GOOD_SECONDS
    )
    assert sample.size == len(data)


def test_mp3_by_suffix(tmp_path: Path) -> None:
    """A .mp3 path is read, typed audio/mpeg and measured (mutagen's estimate)."""
    path = tmp_path / "voice.mp3"
    path.write_bytes(make_mp3(15))
    sample = read_sample(path)
    assert sample.content_type == "audio/mpeg"
    assert sample.duration == pytest.approx(15, abs=0.2)


@pytest.mark.parametrize("name", ["voice.WAV", "voice.wave", "archive.v2.Wav"])
def test_suffix_is_case_insensitive_and_wave_is_wav(tmp_path: Path, name: str) -> None:
    """Suffixes match in any case, and .wave counts as WAV."""
    path = tmp_path / name
    path.write_bytes(make_wav(GOOD_SECONDS))
    assert read_sample(path).content_type == "audio/wav"


def test_path_without_suffix_is_sniffed(tmp_path: Path) -> None:
    """A path with no suffix gets its type from its bytes."""
    path = tmp_path / "recording"
    path.write_bytes(make_mp3(15))
    assert read_sample(path).content_type == "audio/mpeg"


@pytest.mark.parametrize("as_str", [True, False], ids=["str", "Path"])
def test_path_as_str_or_path(tmp_path: Path, as_str: bool) -> None:
    """A path may be a str or any os.PathLike; the label is the path as given."""
    path = tmp_path / "voice.wav"
    path.write_bytes(make_wav(GOOD_SECONDS))
    source: SampleSource = str(path) if as_str else path
    assert read_sample(source).label == str(path)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param(make_wav(GOOD_SECONDS), "audio/wav", id="wav"),
        pytest.param(make_mp3(15), "audio/mpeg", id="mp3"),
    ],
)
def test_bytes_are_sniffed(data: bytes, content_type: str) -> None:
    """In-memory bytes get their type from their magic bytes and a default label."""
    sample = read_sample(data)
    assert sample.content_type == content_type
    assert sample.label == "<bytes>"
    assert sample.data == data


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(bytes, id="bytes"),
        pytest.param(bytearray, id="bytearray"),
        pytest.param(memoryview, id="memoryview"),
    ],
)
def test_bytes_like_sources(wrap: Callable[[bytes], SampleSource]) -> None:
    """bytes, bytearray and memoryview are all accepted and stored as bytes."""
    data = make_wav(GOOD_SECONDS)
    sample = read_sample(wrap(data), label="<bytes #3>")
    assert type(sample.data) is bytes
    assert sample.data == data
    assert sample.label == "<bytes #3>"


def test_bytes_refusal_names_the_label() -> None:
    """Bad bytes are named by the caller's label."""
    with pytest.raises(InvalidSampleError, match=re.escape("<bytes #2>: is 3.0 s long")) as caught:
        read_sample(make_wav(3), label="<bytes #2>")
    assert caught.value.sample == "<bytes #2>"


def test_bytes_too_big() -> None:
    """Bytes over MAX_SAMPLE_BYTES are refused, showing a size above the limit."""
    with pytest.raises(InvalidSampleError, match=r"is 20\.000001 MB; samples must be at most 20"):
        read_sample(b"RIFF" + bytes(MAX_SAMPLE_BYTES - 3))


def test_empty_bytes() -> None:
    """Empty bytes are refused as empty."""
    with pytest.raises(InvalidSampleError, match=re.escape("<bytes>: is empty (0 bytes)")):
        read_sample(b"")


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        pytest.param("audio/wave", "audio/wave", id="wave"),
        pytest.param(" Audio/WAV ", "audio/wav", id="case-and-space"),
    ],
)
def test_explicit_content_type_wins(tmp_path: Path, content_type: str, expected: str) -> None:
    """An explicit content type overrides the suffix and is what gets uploaded."""
    path = tmp_path / "voice.dat"  # not a known suffix: it is never looked at
    path.write_bytes(make_wav(GOOD_SECONDS))
    assert read_sample(path, content_type=content_type).content_type == expected


def test_check_duration_false_skips_the_duration(tmp_path: Path) -> None:
    """check_duration=False accepts any length and leaves duration None."""
    path = tmp_path / "short.wav"
    path.write_bytes(make_wav(3))
    sample = read_sample(path, check_duration=False)
    assert sample.duration is None
    assert sample.content_type == "audio/wav"


def test_check_duration_false_still_checks_magic() -> None:
    """check_duration=False still refuses bytes that are not the declared type."""
    with pytest.raises(InvalidSampleError, match="not a valid WAV file"):
        read_sample(TEXT, content_type="audio/wav", check_duration=False)


def test_repr_hides_the_data() -> None:
    """The sample's repr shows its label and type, not its bytes."""
    text = repr(read_sample(make_wav(GOOD_SECONDS)))
    assert "data" not in text
    assert "audio/wav" in text


def test_constants_agree() -> None:
    """Every suffix maps to an allowed content type; the limits are the contract's."""
    assert set(CONTENT_TYPE_BY_SUFFIX.values()) <= SAMPLE_CONTENT_TYPES
    assert (MIN_SAMPLE_SECONDS, MAX_SAMPLE_SECONDS) == (10.0, 60.0)
    assert MAX_SAMPLE_BYTES == 20 * MB


@pytest.mark.anyio
async def test_load_sample_reads_paths_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_sample reads a path in a worker thread and returns the same as read_sample."""
    calls: list[object] = []
    original = anyio.to_thread.run_sync

    async def spy(func: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(func)
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", spy)
    path = tmp_path / "voice.wav"
    path.write_bytes(make_wav(GOOD_SECONDS))
    sample = await load_sample(path, label="mine")
    assert sample == read_sample(path, label="mine")
    assert len(calls) == 1


@pytest.mark.anyio
async def test_load_sample_checks_bytes_without_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_sample checks in-memory bytes directly, with no worker thread."""

    async def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("bytes must not go to a thread")

    monkeypatch.setattr(anyio.to_thread, "run_sync", forbidden)
    sample = await load_sample(make_mp3(15), content_type="audio/mpeg")
    assert sample.content_type == "audio/mpeg"


@pytest.mark.anyio
async def test_load_sample_raises_like_read_sample(tmp_path: Path) -> None:
    """load_sample raises the same InvalidSampleError for a bad path."""
    path = tmp_path / "missing.mp3"
    with pytest.raises(InvalidSampleError, match="no such file"):
        await load_sample(path)


@pytest.mark.parametrize(
    ("n", "ok"),
    [
        pytest.param(0, False, id="zero"),
        pytest.param(1, True, id="one"),
        pytest.param(MAX_SAMPLES_PER_VOICE, True, id="max"),
        pytest.param(MAX_SAMPLES_PER_VOICE + 1, False, id="max-plus-one"),
    ],
)
def test_a_voice_job_takes_1_to_10_samples(n: int, ok: bool) -> None:
    """1 to MAX_SAMPLES_PER_VOICE samples make a job; anything else is a ValidationError,
    raised when the job is built."""
    assert MAX_SAMPLES_PER_VOICE == 10
    samples = [b"audio"] * n
    if ok:
        assert len(VoiceJob("v", "English", samples).samples) == n
        return
    with pytest.raises(ValidationError) as caught:
        VoiceJob("v", "English", samples)
    assert caught.value.field == "samples"
    assert f"has {n} samples" in str(caught.value)


MIN_FRAMES = int(MIN_SAMPLE_SECONDS * RATE)
MAX_FRAMES = int(MAX_SAMPLE_SECONDS * RATE)


@settings(max_examples=15, deadline=None)
@given(st.integers(MIN_FRAMES, MAX_FRAMES))
@example(MIN_FRAMES)
@example(MAX_FRAMES)
def test_any_length_in_range_is_accepted(frames: int) -> None:
    """A WAV of any length from 10 s to 60 s inclusive is accepted and measured exactly."""
    sample = read_sample(make_wav(frames / RATE))
    assert sample.duration == frames / RATE


@settings(max_examples=15, deadline=None)
@given(
    st.integers(MIN_FRAMES - RATE, MIN_FRAMES - 1) | st.integers(MAX_FRAMES + 1, MAX_FRAMES + RATE)
)
@example(MIN_FRAMES - 1)
@example(MAX_FRAMES + 1)
def test_length_just_outside_is_refused(frames: int) -> None:
    """A WAV up to one second shorter than 10 s or longer than 60 s is refused."""
    with pytest.raises(InvalidSampleError) as caught:
        read_sample(make_wav(frames / RATE))
    shown = re.search(r"is ([0-9.]+) s long", caught.value.reason)
    assert shown is not None
    # The length is shown with enough decimals to be visibly out of range.
    assert not MIN_SAMPLE_SECONDS <= float(shown.group(1)) <= MAX_SAMPLE_SECONDS


@given(st.binary(max_size=64))
def test_sniff_never_raises(data: bytes) -> None:
    """sniff_content_type answers a known type or None for any bytes."""
    assert sniff_content_type(data) in {None, "audio/wav", "audio/mpeg"}


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        [b"RIFF\x00\x00\x00\x00WAVE", make_wav(GOOD_SECONDS)[:44], b"ID3", b"\xff\xfb"]
    ),
    st.binary(max_size=256),
)
def test_read_sample_raises_only_invalid_sample_error(prefix: bytes, tail: bytes) -> None:
    """Whatever follows a magic header, read_sample returns or raises InvalidSampleError."""
    try:
        sample = read_sample(prefix + tail)
    except InvalidSampleError:
        return
    assert MIN_SAMPLE_SECONDS <= (sample.duration or 0.0) <= MAX_SAMPLE_SECONDS
