"""``clone --coordinator URL``: several CLI runs (on several hosts) sharing the same accounts.

The coordinator is ``minimax_async.fleet.RedisCoordinator`` (the ``redis`` extra). Every run
given the same Redis URL and namespace keeps the per-account limits together, and a resumed
run adopts the in-doubt clones of a crashed one instead of cloning them again.
"""

from __future__ import annotations

import importlib
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import attrs

from minimax_async.cli._output import add_secret
from minimax_async.cli._session import EXIT_USAGE, CliError

__all__ = [
    "COORDINATOR_ENV_VAR",
    "DEFAULT_NAMESPACE",
    "NAMESPACE_ENV_VAR",
    "CoordinatorOption",
    "make_coordinator",
]

#: The environment variable read when ``--coordinator`` is not given.
COORDINATOR_ENV_VAR: Final = "MINIMAX_ASYNC_COORDINATOR"
#: The environment variable read when ``--namespace`` is not given.
NAMESPACE_ENV_VAR: Final = "MINIMAX_ASYNC_NAMESPACE"
#: The namespace of CLI runs that name none: every such run shares it.
DEFAULT_NAMESPACE: Final = "minimax-async"
_SCHEMES: Final = ("redis", "rediss", "unix")


@attrs.frozen
class CoordinatorOption:
    """``--coordinator`` and ``--namespace`` as given.

    Attributes:
        url: A ``redis://``, ``rediss://`` or ``unix://`` URL.
        namespace: The namespace every run sharing these accounts uses.
        liveness_ttl: ``RedisCoordinator(liveness_ttl=...)``; ``None``: its default.
        inflight_hold: ``RedisCoordinator(inflight_hold=...)``; ``None``: its default.
    """

    url: str
    namespace: str = DEFAULT_NAMESPACE
    liveness_ttl: float | None = None
    inflight_hold: float | None = None

    def __attrs_post_init__(self) -> None:
        # A password in the URL must never be printed, not even in an error about the URL.
        password = urlsplit(self.url).password
        if password:
            add_secret(password)
            add_secret(unquote(password))
        scheme = self.url.partition("://")[0]
        if scheme not in _SCHEMES:
            raise CliError("--coordinator must be a redis://, rediss:// or unix:// URL", EXIT_USAGE)
        if not self.namespace.strip():
            raise CliError("--namespace must not be empty", EXIT_USAGE)


def make_coordinator(option: CoordinatorOption) -> Any:
    """Build the ``RedisCoordinator`` for ``option`` (the client opens its connection).

    Raises:
        CliError: The ``redis`` extra is not installed.
    """
    try:
        fleet = importlib.import_module("minimax_async.fleet")
    except ImportError as exc:
        raise CliError(
            "--coordinator needs the redis extra: pip install 'minimax_async[redis]'", EXIT_USAGE
        ) from exc
    settings = {
        name: value
        for name, value in (
            ("liveness_ttl", option.liveness_ttl),
            ("inflight_hold", option.inflight_hold),
        )
        if value is not None
    }
    return fleet.RedisCoordinator(option.url, namespace=option.namespace, **settings)
