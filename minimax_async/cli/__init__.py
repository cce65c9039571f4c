"""The ``minimax-async`` command line (the optional ``cli`` extra: typer and rich).

Commands: ``clone`` (bulk cloning from a manifest, resumable), ``demo``, ``accounts``,
``config``, ``voices``, ``upload`` and ``delete``; ``--sandbox`` runs any of them against
the built-in fake server. The user reference is ``docs/cli.md``.

This module imports neither typer nor rich, so that :func:`main` can tell a user without
the extra how to install it instead of failing with a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Final

__all__ = ["INSTALL_HINT", "main"]

#: What the command line needs beyond the library (the ``cli`` extra).
_CLI_DEPENDENCIES: Final = frozenset({"typer", "rich", "click", "shellingham"})
#: The one line printed when the extra is missing.
INSTALL_HINT: Final = (
    "minimax-async: the command line needs the 'cli' extra: pip install 'minimax_async[cli]'"
)
#: Exit status for bad input or usage (as click uses for usage errors).
_EXIT_USAGE: Final = 2


def _program(argv0: str) -> list[str]:
    if os.path.basename(argv0) == "__main__.py":
        return [sys.executable, "-m", "minimax_async"]
    return ["minimax-async"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line (the ``minimax-async`` script and ``python -m minimax_async``).

    Args:
        argv: The arguments, without the program name; ``sys.argv[1:]`` when ``None``.

    Raises:
        SystemExit: Always, with the command's exit status (2 and a one-line hint when the
            ``cli`` extra is not installed).
    """
    try:
        from minimax_async.cli._app import app, remember_invocation
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in _CLI_DEPENDENCIES:
            sys.stderr.write(INSTALL_HINT + "\n")
            raise SystemExit(_EXIT_USAGE) from None
        raise
    args = list(sys.argv[1:] if argv is None else argv)
    program = _program(sys.argv[0])
    remember_invocation(program, args)
    prog_name = "python -m minimax_async" if len(program) > 1 else program[0]
    app(args=args, prog_name=prog_name)
