"""Generated audio for tests, benchmarks and the sandbox: valid WAV and MP3 bytes."""

from __future__ import annotations

import io
import math
import struct
import wave

__all__ = ["make_mp3", "make_wav"]

# One MPEG-1 Layer III frame at 128 kbit/s, 44.1 kHz, no padding, no CRC: 1152 samples
# in 417 bytes. A run of such frames (silent payload) is a file every MP3 reader accepts.
_MP3_FRAME_HEADER = bytes((0xFF, 0xFB, 0x90, 0x64))
_MP3_FRAME_BYTES = 417
_MP3_BYTES_PER_SECOND = 128_000 // 8  # readers estimate length as size / bitrate


def make_wav(seconds: float, *, sample_rate: int = 8_000, frequency: float = 220.0) -> bytes:
    """Return a mono 16-bit PCM WAV file of ``seconds`` length holding a quiet tone.

    Args:
        seconds: Length of the audio.
        sample_rate: Samples per second (8 kHz keeps files small: 16 KB per second).
        frequency: Pitch of the tone, so that different samples differ.
    """
    frames = round(seconds * sample_rate)
    period = max(1, round(sample_rate / frequency))
    one_period = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * i / period))) for i in range(period)
    )
    reps, rest = divmod(frames, period)
    pcm = one_period * reps + one_period[: rest * 2]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def make_mp3(seconds: float) -> bytes:
    """Return an MP3 file (silent MPEG-1 Layer III frames) at least ``seconds`` long."""
    frames = max(1, math.ceil(seconds * _MP3_BYTES_PER_SECOND / _MP3_FRAME_BYTES))
    frame = _MP3_FRAME_HEADER + bytes(_MP3_FRAME_BYTES - len(_MP3_FRAME_HEADER))
    return frame * frames
