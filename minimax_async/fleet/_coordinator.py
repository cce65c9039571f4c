"""The public face of the fleet: :class:`RedisCoordinator`."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable

from redis.asyncio import Redis

from .._coordinator import CoordinatorFactory
from .._exceptions import ConfigurationError
from .._models import Voice
from ._link import Link
from ._scheduler import FleetScheduler

__all__ = ["RedisCoordinator"]

_SCHEMES = ("redis://", "rediss://", "unix://")


class RedisCoordinator:
    """Share the accounts' limits with every process on the same Redis namespace.

    Pass it to :class:`minimax_async.Client`::

        coordinator = RedisCoordinator("redis://cache:6379/0", namespace="minimax:prod")
        async with Client(accounts=["123456"], coordinator=coordinator) as client:
            ...

    Everything the client promises within one process then holds for every process (and
    host) that uses the namespace: per-account FIFO, at most ``max_parallel_clones`` clones
    at once per account (narrowed to one after a 429 beside another clone), the voice slots,
    the 429 pause and the 596/412 hold, one live job per (account, name), and adoption
    instead of a duplicate when a crashed process's clone may have happened. The client
    fails closed: when Redis cannot be reached for ``coordinator_timeout`` seconds, what
    waits fails with :class:`~minimax_async.CoordinatorUnavailableError`.

    One coordinator may serve several clients; each client is one process of the fleet.

    Args:
        redis: A URL (``redis://``, ``rediss://`` or ``unix://``), or a
            ``redis.asyncio.Redis`` of your own, which the library never closes.
        namespace: The name every cooperating process uses (its keys share the hash tag
            ``{namespace}``, so Redis Cluster works). Required.
        liveness_ttl: Seconds after which a dead process's holds that are not on the wire
            are freed (its lease key is renewed every ``liveness_ttl / 3``).
        inflight_hold: Seconds a dead process's clone on the wire keeps its slot (the
            server may still be running it); default: the client's ``clone_timeout``.
        check_interval: Seconds between the checks that catch a lost wake-up (default
            ``liveness_ttl / 3``).
        coordinator_timeout: Seconds Redis may be unreachable before a call fails.
        max_connections: Commands on the wire at once per client (besides the one BLPOP).

    Raises:
        ConfigurationError: A bad URL, an empty namespace or a bad duration.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        namespace: str,
        liveness_ttl: float = 15.0,
        inflight_hold: float | None = None,
        check_interval: float | None = None,
        coordinator_timeout: float = 10.0,
        max_connections: int = 16,
    ) -> None:
        if isinstance(redis, str):
            if not redis.startswith(_SCHEMES):
                raise ConfigurationError(
                    "redis must be a redis://, rediss:// or unix:// URL or a redis.asyncio.Redis"
                )
        elif not isinstance(redis, Redis):
            raise ConfigurationError(
                f"redis must be a URL or a redis.asyncio.Redis, not {type(redis).__name__}"
            )
        if not isinstance(namespace, str) or not namespace or "{" in namespace or "}" in namespace:
            raise ConfigurationError("namespace must be a non-empty string without braces")
        for name, value in (
            ("liveness_ttl", liveness_ttl),
            ("inflight_hold", inflight_hold),
            ("check_interval", check_interval),
            ("coordinator_timeout", coordinator_timeout),
        ):
            if value is not None and not (
                isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            ):
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or (max_connections < 1)
        ):
            raise ConfigurationError("max_connections must be a positive integer")
        self._redis = redis
        self.namespace = namespace
        self.liveness_ttl = float(liveness_ttl)
        self.inflight_hold = inflight_hold
        self.check_interval = check_interval if check_interval is not None else liveness_ttl / 3
        self.coordinator_timeout = float(coordinator_timeout)
        self.max_connections = max_connections

    def __repr__(self) -> str:
        target = "<own Redis>" if not isinstance(self._redis, str) else _redact(self._redis)
        return f"RedisCoordinator({target!r}, namespace={self.namespace!r})"

    @property
    def key_prefix(self) -> str:
        """What every key of the namespace starts with (``{namespace}``)."""
        return "{" + self.namespace + "}"

    def scheduler(
        self,
        *,
        accounts: Iterable[str] | None,
        max_parallel: int,
        max_voices: int | None,
        list_voices: Callable[[str | None], Awaitable[list[Voice]]],
        cap_lowering_strikes: int,
        cap_lowered_for: float,
        account_cooldown: float,
        clone_timeout: float,
        recheck_delay: float,
    ) -> FleetScheduler:
        """The scheduler of one client (one process of the fleet). Called by ``Client``."""
        owned = isinstance(self._redis, str)
        if isinstance(self._redis, str):
            client: Redis = Redis.from_url(self._redis)
        else:
            client = self._redis
        link = Link(
            client,
            self.key_prefix + ":config",
            timeout=self.coordinator_timeout,
            concurrency=self.max_connections,
        )
        return FleetScheduler(
            link,
            owned_client=owned,
            accounts=accounts,
            max_parallel=max_parallel,
            max_voices=max_voices,
            list_voices=list_voices,
            cap_lowering_strikes=cap_lowering_strikes,
            cap_lowered_for=cap_lowered_for,
            account_cooldown=account_cooldown,
            liveness_ttl=self.liveness_ttl,
            inflight_hold=self.inflight_hold if self.inflight_hold is not None else clone_timeout,
            check_interval=self.check_interval,
            recheck_delay=recheck_delay,
        )


def _redact(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def _is_a_factory(coordinator: RedisCoordinator) -> CoordinatorFactory:
    """mypy checks here that RedisCoordinator (and its scheduler) fit the client's seam."""
    return coordinator
