"""What the benchmarks share: the hand-written peers' HTTP calls, samples, timing and RSS."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from collections.abc import Callable, Sequence
from typing import Any, Final

import aiohttp
import attrs

from minimax_async.testing import make_wav

__all__ = [
    "LANGUAGE",
    "SAMPLE_SECONDS",
    "Fixture",
    "clone_body",
    "median",
    "peak_rss_bytes",
    "raw_clone",
    "rss_bytes",
    "upload_samples",
    "voice_name",
]

#: A language tag the fake server knows.
LANGUAGE: Final = "English"
#: Length of the one sample uploaded per account (the API takes 10-60 s).
SAMPLE_SECONDS: Final = 11.0
_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")
_JSON: Final = "application/json"


@attrs.frozen
class Fixture:
    """One fake server, its accounts and the sample uploaded to each beforehand."""

    base_url: str
    token: str
    accounts: tuple[str, ...]
    file_ids: dict[str, str]

    def account_of(self, job: int) -> str:
        """The account of job number ``job`` under static round-robin."""
        return self.accounts[job % len(self.accounts)]

    @property
    def clone_url(self) -> str:
        """The clone-voice endpoint."""
        return f"{self.base_url}/audio/clone-voice"

    @property
    def headers(self) -> dict[str, str]:
        """The auth header every request carries."""
        return {"Authorization": f"Bearer {self.token}"}


def voice_name(job: int) -> str:
    """The (unique) voice name of job number ``job``."""
    return f"voice {job}"


def clone_body(fixture: Fixture, job: int, account: str | None = None) -> bytes:
    """The JSON body minimax_async sends for job ``job``: same fields, same order."""
    account = fixture.account_of(job) if account is None else account
    payload = {
        "voice_name": voice_name(job),
        "language_tag": LANGUAGE,
        "files": fixture.file_ids[account],
        "need_noise_reduction": True,
        "account": account,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def upload_samples(base_url: str, token: str, accounts: Sequence[str]) -> dict[str, str]:
    """Upload one sample to every account (the set-up all contenders share, untimed)."""
    sample = make_wav(SAMPLE_SECONDS)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "audio/wav"}
    file_ids: dict[str, str] = {}
    async with aiohttp.ClientSession(headers=headers) as session:
        for account in accounts:
            async with session.post(
                f"{base_url}/audio/upload-sample", params={"account": account}, data=sample
            ) as response:
                response.raise_for_status()
                file_ids[account] = json.loads(await response.read())["fileID"]
    return file_ids


class RawCloneError(Exception):
    """A hand-written peer got an answer it does not handle."""


async def raw_clone(session: aiohttp.ClientSession, url: str, body: bytes) -> dict[str, Any]:
    """One clone as a user would hand-write it with aiohttp: post, and on a 429 sleep the
    ``Retry-After`` and post again."""
    while True:
        async with session.post(url, data=body, headers={"Content-Type": _JSON}) as response:
            data = await response.read()
            if response.status == 429:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status != 200:
                raise RawCloneError(f"HTTP {response.status}: {data[:200]!r}")
            answer: dict[str, Any] = json.loads(data)
            return answer


def median(values: Sequence[float]) -> float:
    """The median (the benchmarks' summary of repeated runs)."""
    return statistics.median(values)


def rss_bytes() -> int:
    """This process's resident set size now."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


def peak_rss_bytes() -> int:
    """This process's peak resident set size (``VmHWM``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover - not Linux


def best_of(repeats: int, run: Callable[[], float]) -> float:
    """The smallest of ``repeats`` measurements."""
    return min(run() for _ in range(repeats))
