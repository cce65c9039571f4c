"""Cleanup in bulk: choose cloned voices (all, by name pattern, by age, or the voices a results
file records) and delete them, a few at a time.

Choosing only lists (one ``GET audio/voices?is_system=false`` per account); ``delete-voices``
shows what it chose and asks before :func:`delete_found` sends a single delete.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

import attrs

from minimax_async import Voice
from minimax_async.cli._results import read_history
from minimax_async.cli._session import EXIT_USAGE, CliError, Session

__all__ = [
    "DELETE_CONCURRENCY",
    "Deletion",
    "VoiceFilter",
    "delete_found",
    "find_voices",
    "parse_moment",
    "results_voice_ids",
]

#: Deletes in flight at once.
DELETE_CONCURRENCY: Final = 4


def parse_moment(value: str) -> datetime:
    """An ISO 8601 date or date and time (``2025-01-24``, ``2025-01-24T10:00``,
    ``2025-01-24T10:00:00+01:00``, ``...Z``); without a zone it is UTC.

    Raises:
        ValueError: Not such a date.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def results_voice_ids(path: Path) -> frozenset[str]:
    """The voice ids a results file records as done (cloned or adopted by its runs).

    Raises:
        CliError: The file does not exist or cannot be read (exit status 2).
    """
    if not path.is_file():
        raise CliError(f"--from-results {path}: no such file", EXIT_USAGE)
    try:
        history = read_history(path)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE) from None
    return frozenset(history.claimed_voice_ids)


@attrs.frozen
class VoiceFilter:
    """Which cloned voices to choose; every given criterion must hold.

    Attributes:
        name: A shell-style pattern the voice's name must match (``*``, ``?``, ``[...]``;
            case-sensitive).
        older_than: The voice must have been created before this moment (a voice without a
            creation time is never chosen by age).
        voice_ids: The voice's id must be one of these.
    """

    name: str | None = None
    older_than: datetime | None = None
    voice_ids: frozenset[str] | None = None

    def matches(self, voice: Voice) -> bool:
        """Whether ``voice`` is chosen."""
        if self.name is not None and not fnmatch.fnmatchcase(voice.voice_name or "", self.name):
            return False
        if self.older_than is not None and (
            voice.create_time is None or voice.create_time >= self.older_than
        ):
            return False
        return self.voice_ids is None or voice.voice_id in self.voice_ids


async def find_voices(
    session: Session, accounts: Sequence[str], chosen: VoiceFilter
) -> list[tuple[str, Voice]]:
    """The cloned voices of ``accounts`` that ``chosen`` matches, with their accounts,
    oldest first per account (one listing per account)."""
    slots = await session.client.free_voice_slots(accounts=accounts)
    return [
        (str(account.account), voice)
        for account in slots
        for voice in account.voices
        if voice.voice_id and chosen.matches(voice)
    ]


@attrs.frozen
class Deletion:
    """How deleting one voice ended.

    Attributes:
        account: Its account.
        voice: The voice as listed.
        error: Why it could not be deleted (``None``: deleted).
    """

    account: str
    voice: Voice
    error: Exception | None = None


async def delete_found(session: Session, found: Sequence[tuple[str, Voice]]) -> list[Deletion]:
    """Delete every voice of ``found``, :data:`DELETE_CONCURRENCY` at a time; one
    :class:`Deletion` each, in order. A failed delete does not stop the others."""
    limit = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def one(account: str, voice: Voice) -> Deletion:
        assert voice.voice_id is not None
        async with limit:
            try:
                await session.client.delete_voice(voice.voice_id, account=account)
            except Exception as exc:  # reported per voice; the others go on
                return Deletion(account, voice, exc)
        return Deletion(account, voice)

    return list(await asyncio.gather(*(one(account, voice) for account, voice in found)))
