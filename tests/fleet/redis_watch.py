"""Reading a namespace's state in Redis from a test: whose holds are left, and when they go.

The holds are the members of the coordinator's sorted sets of admissions (``adm``), clone
slots (``slots``), hand-overs (``granted``), temporary-voice leases (``leased``) and waiters
(``wait``, ``cwait``): ``"<proc>|<n>..."``, a ticket or a waiter of process ``proc``. What is
meant to outlive a process (the intents in ``{ns}:doubt``, the strike history, the voices
the fleet owns) and the name registry (whose dead entries are dropped when the name is
next asked for) are not holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import attrs
from redis.asyncio import Redis

__all__ = ["HOLD_KINDS", "WAITER_KINDS", "Gone", "Hold", "holds", "intent_owner", "wait_until_gone"]

#: The kinds of key (``{ns}:<kind>:<account>``) whose members hold capacity.
HOLD_KINDS = frozenset({"adm", "slots", "granted", "leased", "wait", "cwait"})


@attrs.frozen
class Hold:
    """One entry of a process left in Redis."""

    key: str
    member: str
    #: The sorted-set score: ms of the Redis clock (a waiter's: its seq).
    score: float


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def holds(redis: Redis, namespace: str, procs: Iterable[str] | None = None) -> list[Hold]:
    """Every entry of the namespace that belongs to a process (one of ``procs``, or any).

    Args:
        redis: A client of the server.
        namespace: The coordinator's namespace.
        procs: Only these process ids; ``None`` for every process.
    """
    wanted = None if procs is None else {f"{proc}|" for proc in procs}

    def belongs(member: str) -> bool:
        return "|" in member and (
            wanted is None or any(member.startswith(prefix) for prefix in wanted)
        )

    prefix = "{" + namespace + "}:"
    found: list[Hold] = []
    async for raw_key in redis.scan_iter(match=prefix.replace("[", "\\[") + "*", count=1000):
        key = _text(raw_key)
        kind = key[len(prefix) :].split(":", 1)[0]
        if kind not in HOLD_KINDS or _text(await redis.type(key)) != "zset":
            continue
        for entry in await redis.zrange(key, 0, -1, withscores=True):
            member, score = _text(entry[0]), float(entry[1])
            if belongs(member):
                found.append(Hold(key, member, score))
    return found


async def intent_owner(redis: Redis, namespace: str, account: str, name: str) -> str | None:
    """The process id in the intent record of the clone of ``name`` on ``account``."""
    value = await redis.hget("{" + namespace + "}:doubt", f"{account}|{name}")
    if value is None:
        return None
    return _text(value).split("|", 1)[0]


#: The kinds of key that hold waiters (in seq order), rather than capacity.
WAITER_KINDS = frozenset({"wait", "cwait"})


@attrs.define
class Gone:
    """When (``time.monotonic()``) each kind of a process's holds had gone; ``None``: not
    within the watch's timeout."""

    #: Its waiters (``wait``, ``cwait``).
    waiters: float | None = None
    #: Its capacity holds that were not on the wire (admissions, unsent slots).
    unsent: float | None = None
    #: Everything, its clones on the wire included.
    everything: float | None = None


async def wait_until_gone(
    redis: Redis,
    namespace: str,
    proc: str,
    *,
    timeout: float,
    poll: float = 0.05,
    sent_after_ms: float = float("inf"),
) -> Gone:
    """Poll until ``proc`` holds nothing, noting when each kind of hold went.

    A capacity hold scored above ``sent_after_ms`` (a Redis-clock time at the kill) is a clone
    on the wire, kept for the in-flight hold; the others are "unsent".
    """
    gone = Gone()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = await holds(redis, namespace, [proc])
        now = time.monotonic()
        kinds = [(h.key.split("}:", 1)[1].split(":", 1)[0], h.score) for h in left]
        if gone.waiters is None and not any(kind in WAITER_KINDS for kind, _ in kinds):
            gone.waiters = now
        if gone.unsent is None and not any(
            kind not in WAITER_KINDS and score <= sent_after_ms for kind, score in kinds
        ):
            gone.unsent = now
        if not left:
            gone.everything = now
            return gone
        # Expiry runs on the Redis clock; nothing in this process signals it.
        await asyncio.sleep(poll)
    return gone
