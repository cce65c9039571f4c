"""The package's version, from its installed metadata (the bottom layer: imports nothing of
the package, so that ``__init__`` and ``_transport``'s User-Agent both read it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("minimax_async")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
