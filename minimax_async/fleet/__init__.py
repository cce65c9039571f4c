"""Several processes, one set of limits: the Redis coordinator (``minimax_async[redis]``).

::

    from minimax_async import Client
    from minimax_async.fleet import RedisCoordinator

    coordinator = RedisCoordinator("redis://localhost:6379/0", namespace="minimax:prod")
    async with Client(accounts=["123456"], coordinator=coordinator) as client:
        ...

Importing :mod:`minimax_async` never imports redis; this module does.
"""

from __future__ import annotations

try:
    import redis.asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "minimax_async.fleet needs the redis package: pip install 'minimax_async[redis]'"
    ) from exc

from ._coordinator import RedisCoordinator

__all__ = ["RedisCoordinator"]
