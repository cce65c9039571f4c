"""The fleet's public surface: documented, optional (importing minimax_async needs no redis)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import minimax_async
import minimax_async.fleet
from minimax_async import CoordinatorUnavailableError, MiniMaxError


def test_importing_minimax_async_does_not_import_redis() -> None:
    code = "import sys, minimax_async; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_fleet_module_is_documented() -> None:
    assert minimax_async.fleet.__all__ == ["RedisCoordinator"]
    cls = minimax_async.fleet.RedisCoordinator
    assert (cls.__doc__ or "").strip()
    for name, value in vars(cls).items():
        function = value.fget if isinstance(value, property) else value
        if not name.startswith("_") and inspect.isfunction(function):
            assert (function.__doc__ or "").strip(), name


def test_coordinator_unavailable_is_a_minimax_error() -> None:
    assert issubclass(CoordinatorUnavailableError, MiniMaxError)
    assert "CoordinatorUnavailableError" in minimax_async.__all__
    assert "CoordinatorUnavailableError" in (minimax_async._exceptions.__doc__ or "")
