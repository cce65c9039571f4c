"""Where the command line writes: consoles, secret redaction, error lines.

Tables and JSON go to stdout; progress, banners, warnings and errors to stderr. Every piece
of text that may carry data from outside (error messages, tracebacks, log records) passes
through :func:`redact`, which removes the API token however it got there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Final
from urllib.parse import quote

from rich.console import Console
from rich.text import Text

__all__ = [
    "REDACTED",
    "add_secret",
    "console_logging",
    "emit_json",
    "err_console",
    "out_console",
    "print_error",
    "print_note",
    "print_traceback",
    "print_warning",
    "redact",
]

#: What a secret is replaced with.
REDACTED: Final = "***"
#: Shorter fragments are not redacted on their own (they would mangle ordinary text).
_MIN_SECRET_PART: Final = 8
#: Width of tables when the output is not a terminal (rich would assume 80 columns).
_PIPE_WIDTH: Final = 160

_secrets: set[str] = set()


def add_secret(secret: str) -> None:
    """Never show ``secret`` (nor its URL-encoded form, nor its part after ``user:N-``)."""
    secret = secret.strip()
    if not secret:
        return
    parts = {secret, quote(secret, safe=""), quote(secret)}
    _, dash, tail = secret.partition("-")
    if dash and len(tail) >= _MIN_SECRET_PART:
        parts.add(tail)
    _secrets.update(p for p in parts if p)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``***``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _console(*, stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PIPE_WIDTH
    return console


#: Tables, JSON and results (stdout).
out_console: Final = _console(stderr=False)
#: Progress, banners, warnings and errors (stderr).
err_console: Final = _console(stderr=True)


def emit_json(value: object) -> None:
    """Print ``value`` as indented JSON on stdout (plain text, no markup)."""
    sys.stdout.write(redact(json.dumps(value, indent=2, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    """One red line on stderr."""
    err_console.print(Text(f"error: {redact(message)}", style="bold red"), soft_wrap=True)


def print_warning(message: str) -> None:
    """One yellow line on stderr."""
    err_console.print(Text(f"warning: {redact(message)}", style="yellow"), soft_wrap=True)


def print_note(message: str, *, style: str = "cyan") -> None:
    """One informative line on stderr."""
    err_console.print(Text(redact(message), style=style), soft_wrap=True)


def print_traceback(exc: BaseException) -> None:
    """The full traceback of ``exc`` on stderr (``--debug``), secrets removed."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    err_console.print(Text(redact(text), style="dim"), soft_wrap=True)


class _ConsoleHandler(logging.Handler):
    """Log records as lines on the stderr console (above a live display, if one runs)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            style = "yellow" if record.levelno >= logging.WARNING else "dim"
            err_console.print(Text(redact(self.format(record)), style=style), soft_wrap=True)
        except Exception:  # logging must never break the command
            self.handleError(record)


@contextlib.contextmanager
def console_logging(*, debug: bool) -> Iterator[None]:
    """Show the library's warnings (with ``debug``: its whole log) on stderr, secrets
    removed, for the duration of a command; the logger is left as it was found."""
    logger = logging.getLogger("minimax_async")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler = _ConsoleHandler()
    layout = "%(asctime)s %(name)s %(levelname)s %(message)s" if debug else "%(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(layout))
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        yield
    finally:
        logger.handlers, level, logger.propagate = saved
        logger.setLevel(level)
