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
from typing import Any

import attrs
from redis import Redis as SyncRedis
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


async def _hold_keys(redis: Redis, namespace: str, accounts: Iterable[str] | None) -> list[str]:
    prefix = "{" + namespace + "}:"
    if accounts is not None:  # known keys: no SCAN, one pipelined round trip
        return _known_keys(namespace, accounts)
    found = []
    async for raw_key in redis.scan_iter(match=prefix.replace("[", "\\[") + "*", count=1000):
        key = _text(raw_key)
        if key[len(prefix) :].split(":", 1)[0] in HOLD_KINDS:
            found.append(key)
    return found


async def holds(
    redis: Redis,
    namespace: str,
    procs: Iterable[str] | None = None,
    *,
    accounts: Iterable[str] | None = None,
) -> list[Hold]:
    """Every hold of the namespace that belongs to a process (one of ``procs``, or any).

    Args:
        redis: A client of the server.
        namespace: The coordinator's namespace.
        procs: Only these process ids; ``None`` for every process.
        accounts: Read only these accounts' keys (one round trip, for polling); ``None``
            finds every key of the namespace with SCAN.
    """
    wanted = None if procs is None else tuple(f"{proc}|" for proc in procs)
    keys = await _hold_keys(redis, namespace, None if accounts is None else list(accounts))
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.zrange(key, 0, -1, withscores=True)
        answers = await pipe.execute(raise_on_error=False)
    return _collect(keys, answers, wanted)


def _known_keys(namespace: str, accounts: Iterable[str]) -> list[str]:
    prefix = "{" + namespace + "}:"
    keys = [f"{prefix}{kind}:{account}" for kind in sorted(HOLD_KINDS) for account in accounts]
    return [*keys, f"{prefix}wait:any"]


def _collect(keys: list[str], answers: list[Any], wanted: tuple[str, ...] | None) -> list[Hold]:
    found: list[Hold] = []
    for key, entries in zip(keys, answers, strict=True):
        if not isinstance(entries, list):  # not a sorted set (or gone): no holds there
            continue
        for entry in entries:
            member, score = _text(entry[0]), float(entry[1])
            if "|" in member and (wanted is None or member.startswith(wanted)):
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
    url: str,
    namespace: str,
    proc: str,
    *,
    accounts: Iterable[str],
    timeout: float,
    poll: float = 0.02,
    sent_after_ms: float = float("inf"),
) -> Gone:
    """Poll until ``proc`` holds nothing on ``accounts``, noting when each kind of hold went.

    A capacity hold scored above ``sent_after_ms`` (a Redis-clock time at the kill) is a clone
    on the wire, kept for the in-flight hold; the others are "unsent". The polling runs in a
    thread with a client of its own, so that a busy event loop (a fake server serving
    thousands of clones) does not make the times late.
    """
    keys = _known_keys(namespace, accounts)
    return await asyncio.to_thread(_watch, url, keys, f"{proc}|", timeout, poll, sent_after_ms)


def _watch(
    url: str, keys: list[str], prefix: str, timeout: float, poll: float, sent_after_ms: float
) -> Gone:
    gone = Gone()
    client = SyncRedis.from_url(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.zrange(key, 0, -1, withscores=True)
            left = _collect(keys, pipe.execute(raise_on_error=False), (prefix,))
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
            # Expiry runs on the Redis clock; nothing here can signal it.
            time.sleep(poll)
        return gone
    finally:
        client.close()
