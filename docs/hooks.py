"""mkdocs hooks: the ``minimax-async`` command as the click command mkdocs-click documents.

mkdocs-click imports ``:module:`` and reads ``:command:``, which must be a click command; the
command line is a typer app, turned into its click command here (``typer.main.get_command``)
and offered as the module ``minimax_async_cli_reference`` (docs/reference/cli.md uses it).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import typer.main

from minimax_async.cli._app import app


def on_startup(**kwargs: Any) -> None:
    """Register ``minimax_async_cli_reference.command`` before any page is rendered."""
    module = types.ModuleType("minimax_async_cli_reference")
    module.command = typer.main.get_command(app)  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
