"""Reading a namespace's state in Redis from a test: whose holds are left, and when they go.

Members of the coordinator's sorted sets are ``"<proc>|<n>..."`` (a ticket or a waiter), and
the ``names`` hashes map a voice name to such a ticket; ``{ns}:doubt`` (the intents of clones
on the wire) is meant to outlive its process and is left out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import attrs
from redis.asyncio import Redis

__all__ = ["Hold", "holds", "intent_owner", "wait_until_gone"]

#: The keys whose entries outlive a dead process on purpose (until resolved).
_KEPT = ("doubt",)


@attrs.frozen
class Hold:
    """One entry of a process left in Redis."""

    key: str
    member: str
    #: The sorted-set score (ms of the Redis clock), ``None`` for a hash entry.
    score: float | None


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
        if kind in _KEPT:
            continue
        key_type = _text(await redis.type(key))
        if key_type == "zset":
            for entry in await redis.zrange(key, 0, -1, withscores=True):
                member, score = _text(entry[0]), float(entry[1])
                if belongs(member):
                    found.append(Hold(key, member, score))
        elif key_type == "hash" and kind == "names":
            for field, value in (await redis.hgetall(key)).items():
                if belongs(_text(value)):
                    found.append(Hold(key, f"{_text(field)}={_text(value)}", None))
    return found


async def intent_owner(redis: Redis, namespace: str, account: str, name: str) -> str | None:
    """The process id in the intent record of the clone of ``name`` on ``account``."""
    value = await redis.hget("{" + namespace + "}:doubt", f"{account}|{name}")
    if value is None:
        return None
    return _text(value).split("|", 1)[0]


async def wait_until_gone(
    redis: Redis,
    namespace: str,
    proc: str,
    *,
    timeout: float,
    poll: float = 0.05,
    sent_after_ms: float | None = None,
) -> tuple[float | None, float | None]:
    """Poll until ``proc`` holds nothing; return (unsent gone, all gone) as monotonic times.

    A sorted-set entry scored above ``sent_after_ms`` (a Redis-clock time at the kill) is a
    clone on the wire, kept for the in-flight hold; the other sorted-set entries are
    "unsent"; name entries only count for "all gone". A time is ``None`` when that did not
    happen within ``timeout``.
    """
    unsent_gone: float | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = await holds(redis, namespace, [proc])
        now = time.monotonic()
        unsent = [
            h for h in left if sent_after_ms is None or h.score is None or h.score <= sent_after_ms
        ]
        if not unsent and unsent_gone is None:
            unsent_gone = now
        if not left:
            return unsent_gone, now
        # Expiry runs on the Redis clock; nothing in this process signals it.
        await asyncio.sleep(poll)
    return unsent_gone, None
