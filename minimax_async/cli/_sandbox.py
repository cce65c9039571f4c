"""The sandbox: the built-in fake server, started in-process, and generated demo samples.

``--sandbox`` (and ``clone`` without any token) talks to :class:`FakeMiniMax` on 127.0.0.1
with three accounts and short, realistic latencies, so that everything can be tried without
a useapi.net account. Nothing leaves the machine, and the server's voices vanish with the
process.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from minimax_async import MAX_VOICES_PER_ACCOUNT, VoiceJob
from minimax_async.cli._manifest import Manifest, ManifestRow

if TYPE_CHECKING:
    from minimax_async.testing import FakeMiniMax

# minimax_async.testing (an aiohttp server) is imported only when the sandbox is used: it
# would add a tenth of a second to every command's start.

__all__ = [
    "DEMO_VOICES",
    "SANDBOX_ACCOUNTS",
    "SANDBOX_CLONE_LATENCY",
    "demo_manifest",
    "describe_accounts",
    "sandbox_accounts",
    "start_sandbox",
]

#: The sandbox's MiniMax accounts (useapi.net allows three per service).
SANDBOX_ACCOUNTS: Final = ("100001", "100002", "100003")
#: Seconds one sandbox clone takes, drawn uniformly (the real API: up to 60 s).
SANDBOX_CLONE_LATENCY: Final = (0.3, 1.5)
#: Seconds every other sandbox request takes.
SANDBOX_REQUEST_LATENCY: Final = 0.02
#: The ``Retry-After`` of the sandbox's over-capacity 429.
SANDBOX_RETRY_AFTER: Final = 0.2
#: Voices ``demo`` clones by default: four per sandbox account, the real per-account limit
#: (more voices get more sandbox accounts, never more voices per account).
DEMO_VOICES: Final = 12
_DEMO_SAMPLE_SECONDS: Final = (10.5, 11.0, 11.5)
_DEMO_BASE_PITCH: Final = 160.0
_DEMO_PITCH_STEP: Final = 15.0
_DEMO_LANGUAGES: Final = ("English", "French", "German", "Italian", "Spanish", "Japanese")
_DEMO_NAMES: Final = (
    "Ada", "Bruno", "Chiara", "Dmitri", "Elena", "Farid",
    "Greta", "Hiro", "Ines", "Jonas", "Keiko", "Luca",
)  # fmt: skip


def sandbox_accounts(voices: int, *, voice_slots: int = MAX_VOICES_PER_ACCOUNT) -> tuple[str, ...]:
    """The sandbox accounts that hold ``voices`` voices at ``voice_slots`` each: the three
    usual ones, or as many more (``100004``, ...) as it takes."""
    needed = max(len(SANDBOX_ACCOUNTS), math.ceil(voices / voice_slots))
    first = int(SANDBOX_ACCOUNTS[0])
    return tuple(str(first + i) for i in range(needed))


def describe_accounts(accounts: Sequence[str]) -> str:
    """``"100001, 100002, 100003"``, or ``"100001 to 100025 (25)"`` for many."""
    if len(accounts) <= len(SANDBOX_ACCOUNTS):
        return ", ".join(accounts)
    return f"{accounts[0]} to {accounts[-1]} ({len(accounts)})"


@asynccontextmanager
async def start_sandbox(
    *, voice_slots: int, accounts: Sequence[str] = SANDBOX_ACCOUNTS
) -> AsyncIterator[FakeMiniMax]:
    """Serve the fake API on 127.0.0.1 for the duration of the block.

    Args:
        voice_slots: Cloned voices each sandbox account holds.
        accounts: The sandbox's accounts.
    """
    from minimax_async.testing import FakeMiniMax

    async with FakeMiniMax(
        accounts=accounts,
        max_voices_per_account=voice_slots,
        clone_latency=SANDBOX_CLONE_LATENCY,
        request_latency=SANDBOX_REQUEST_LATENCY,
        retry_after=SANDBOX_RETRY_AFTER,
        seed=time.time_ns(),
    ) as fake:
        yield fake


def demo_manifest(folder: Path, count: int) -> Manifest:
    """Write ``count`` short WAV samples into ``folder`` and return a manifest cloning them.

    Each voice gets its own sample (a tone of its own pitch, 10.5-11.5 s at 8 kHz) and a
    language of its own; no voice is pinned, so the client spreads them over the accounts.
    """
    from minimax_async.testing import make_wav

    rows: list[ManifestRow] = []
    for i in range(count):
        name = _DEMO_NAMES[i % len(_DEMO_NAMES)]
        if i >= len(_DEMO_NAMES):
            name = f"{name} {i // len(_DEMO_NAMES) + 1}"
        seconds = _DEMO_SAMPLE_SECONDS[i % len(_DEMO_SAMPLE_SECONDS)]
        sample = folder / f"demo-{i + 1:02d}.wav"
        sample.write_bytes(make_wav(seconds, frequency=_DEMO_BASE_PITCH + _DEMO_PITCH_STEP * i))
        language = _DEMO_LANGUAGES[i % len(_DEMO_LANGUAGES)]
        job = VoiceJob(f"Demo {name}", language, str(sample))
        rows.append(ManifestRow(i + 1, job, None))
    return Manifest(None, tuple(rows))
