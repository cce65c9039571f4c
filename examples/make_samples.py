"""Regenerate the example voice samples (short 8 kHz tones, 10.5-12 s each).

Run from the repository root: ``python examples/make_samples.py``. Real manifests name real
recordings of a voice; these tones only satisfy the API's format and length rules.
"""

from __future__ import annotations

from pathlib import Path

from minimax_async.testing import make_wav

SAMPLES = {
    "alice-1.wav": (10.5, 196.0),
    "alice-2.wav": (11.0, 220.0),
    "bruno.wav": (11.5, 131.0),
    "chiara.wav": (12.0, 262.0),
    "dmitri.wav": (10.5, 110.0),
}


def main() -> None:
    """Write every sample of ``SAMPLES`` into ``examples/samples/``."""
    folder = Path(__file__).parent / "samples"
    folder.mkdir(exist_ok=True)
    for name, (seconds, pitch) in SAMPLES.items():
        (folder / name).write_bytes(make_wav(seconds, frequency=pitch))


if __name__ == "__main__":
    main()
