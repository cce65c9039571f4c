"""One process's line to Redis: the library's scripts, failing closed.

Every coordination step is one of the Lua scripts in ``lua/`` (package data), run atomically
by Redis with its own clock. They are loaded with SCRIPT LOAD and run with EVALSHA; a
NOSCRIPT (a restarted or flushed server) reloads them once, for every caller at the same
time (single flight). When Redis cannot be reached for ``timeout`` seconds, the call raises
:class:`~minimax_async.CoordinatorUnavailableError`.
"""

from __future__ import annotations

import asyncio
import collections
import importlib.resources
import time
from collections.abc import Sequence
from typing import Any, Final

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from .._exceptions import CoordinatorUnavailableError

__all__ = ["SCRIPTS", "Link", "decode"]

#: The scripts, by name; each is ``prelude.lua`` followed by its own file.
SCRIPTS: Final = (
    "acquire",
    "admit",
    "cancel",
    "check",
    "events",
    "finish",
    "heartbeat",
    "leave",
    "recount",
    "release",
    "send",
    "setup",
    "stats",
)

#: Errors that mean "Redis is not reachable now" (retried until the deadline).
_UNREACHABLE = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError,
    OSError,
    asyncio.TimeoutError,
)


def _load_sources() -> dict[str, str]:
    folder = importlib.resources.files(__package__).joinpath("lua")
    prelude = folder.joinpath("prelude.lua").read_text(encoding="utf-8")
    return {
        name: prelude + "\n" + folder.joinpath(f"{name}.lua").read_text(encoding="utf-8")
        for name in SCRIPTS
    }


_SOURCES: dict[str, str] | None = None


def decode(value: object) -> Any:
    """Bytes (a client without ``decode_responses``) to str, recursively through lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [decode(v) for v in value]
    return value


class Link:
    """Runs the scripts on one Redis client for one namespace.

    Args:
        redis: The client (the caller owns it).
        config_key: ``{ns}:config``, the key every script is routed by.
        timeout: Seconds Redis may stay unreachable before a call fails.
        concurrency: Calls on the wire at once (bounds the connections a big burst opens).
    """

    def __init__(self, redis: Redis, config_key: str, *, timeout: float, concurrency: int) -> None:
        global _SOURCES
        if _SOURCES is None:
            _SOURCES = _load_sources()
        self._sources = _SOURCES
        self.redis = redis
        self._config_key = config_key
        #: ``{ns}``: what every key of the namespace starts with.
        self.prefix = config_key[: -len(":config")]
        self._timeout = timeout
        self._shas: dict[str, str] = {}
        self._loading: asyncio.Future[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        #: Commands sent to Redis (scripts, loads, pops): for measurements and tests.
        self.round_trips = 0
        #: Script runs by name (the same measurements, in detail).
        self.calls: collections.Counter[str] = collections.Counter()

    async def script(self, name: str, args: Sequence[str | int | float]) -> list[str]:
        """Run one script; its answer, decoded (first item: the script's own answer)."""
        deadline = time.monotonic() + self._timeout
        delay = 0.02
        async with self._slots:
            while True:
                try:
                    if not self._shas:
                        await self._load()
                    self.round_trips += 1
                    self.calls[name] += 1
                    answer = await self.redis.evalsha(self._shas[name], 1, self._config_key, *args)
                    return list(decode(answer))
                except redis_errors.NoScriptError:
                    self._shas.clear()
                except _UNREACHABLE as exc:
                    if time.monotonic() + delay > deadline:
                        raise CoordinatorUnavailableError(
                            f"the fleet coordinator (Redis) cannot be reached: {exc}"
                        ) from None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)

    async def command(self, *args: str | int | float, timeout: float | None = None) -> Any:
        """One plain command (no retry): for pops and the odd read."""
        self.round_trips += 1
        try:
            return decode(await self.redis.execute_command(*args))  # type: ignore[no-untyped-call]
        except _UNREACHABLE as exc:
            raise CoordinatorUnavailableError(
                f"the fleet coordinator (Redis) cannot be reached: {exc}"
            ) from None

    async def _load(self) -> None:
        """Load every script once; concurrent callers wait for the same load."""
        loading = self._loading
        if loading is not None:
            await asyncio.shield(loading)
            return
        loading = self._loading = asyncio.get_running_loop().create_future()
        try:
            shas: dict[str, str] = {}
            for name, source in self._sources.items():
                self.round_trips += 1
                shas[name] = decode(await self.redis.script_load(source))
            self._shas = shas
            loading.set_result(None)
        except BaseException as exc:
            loading.set_exception(exc)
            loading.exception()  # retrieved: the waiters get it through shield
            raise
        finally:
            self._loading = None
