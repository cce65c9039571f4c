"""Collect the Python snippets of the README and the docs, and turn each into a program.

The convention (documented in CONTRIBUTING.md, "Snippets in the docs"):

- Every fenced block whose language is ``python`` or ``py`` is a snippet; other blocks
  (``sh``, ``console``, ``text``, ``csv``, ``json``, none) are not.
- An HTML comment right before the fence (blank lines between are allowed) says what the
  snippet needs. Its first line is ``<!-- snippet: key=value key="a value" -->``:

  - ``accounts=123456,789012``: a ``FakeMiniMax`` serves these accounts; ``USEAPI_TOKEN``
    and ``USEAPI_BASE_URL`` point at it. Without it, neither variable is set.
  - ``files=alice.wav,bob.mp3``: sample files made in the snippet's working directory
    (``make_wav``/``make_mp3``, 12 s each).
  - ``redis=yes``: a real ``redis-server`` runs for the snippet (a child process on a unix
    socket; see ``tests/fleet/redis_support.py``) and ``MINIMAX_ASYNC_COORDINATOR`` holds its
    URL. Without ``redis-server`` the snippet skips (fails under ``MINIMAX_ASYNC_REQUIRE_REAL=1``).
  - ``run=pytest``: the snippet is a test module, run by plain ``python -m pytest``
    (default ``run=python``: ``python snippet.py``).
  - ``norun="why"``: type-checked but not run; ``skip="why"``: neither. A reason is required.

  Lines after the first, up to a line holding only ``-->``, are hidden set-up code placed
  before the snippet. The snippet takes the indentation of the last set-up line, one level
  deeper if that line opens a block (ends with ``:``, e.g. ``async with Client() as client:``).
- A snippet (with its set-up) that uses ``await``, ``async with`` or ``async for`` at top
  level runs as the body of ``async def`` run by ``asyncio.run``.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[2]
PYTHON_LANGUAGES = frozenset({"python", "py"})
KEYS = frozenset({"accounts", "files", "redis", "run", "norun", "skip"})
RUNNERS = frozenset({"python", "pytest"})
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*snippet:(?P<rest>.*)$")


class SnippetError(ValueError):
    """A directive or a fence the collector cannot make sense of."""


@attrs.frozen
class Snippet:
    """One Python block of a Markdown file, with what its directive asks for."""

    path: Path
    #: 1-based line number of the block's first code line.
    line: int
    code: str
    setup: str = ""
    #: 1-based line number of the first set-up line (in the directive).
    setup_line: int = 0
    accounts: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    run: str = "python"
    #: A redis-server runs for it, its URL in ``MINIMAX_ASYNC_COORDINATOR``.
    redis: bool = False
    norun: str | None = None
    skip: str | None = None

    @property
    def where(self) -> str:
        """The Markdown file, relative to the project when it is in it."""
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return path.as_posix()

    @property
    def name(self) -> str:
        """``README.md:42``: where the block is."""
        return f"{self.where}:{self.line}"

    @property
    def module(self) -> str:
        """A module name unique to the block, for the file mypy checks."""
        stem = re.sub(r"\W", "_", self.where.removesuffix(".md").lstrip("/"))
        prefix = "test_" if self.run == "pytest" else "snippet_"
        return f"{prefix}{stem.lower()}_l{self.line}"

    def program(self) -> tuple[str, list[int]]:
        """The program to check and run, and the Markdown line of each of its lines."""
        lines: list[str] = []
        origin: list[int] = []
        setup = self.setup.splitlines()
        for offset, text in enumerate(setup):
            lines.append(text)
            origin.append(self.setup_line + offset)
        last = next((text for text in reversed(setup) if text.strip()), "")
        indent = last[: len(last) - len(last.lstrip())]
        if last.rstrip().endswith(":"):
            indent += "    "
        for offset, text in enumerate(self.code.splitlines()):
            lines.append(indent + text if text.strip() else text)
            origin.append(self.line + offset)
        source = "\n".join(lines) + "\n"
        if not _awaits_at_top_level(source, self.name):
            return source, origin
        wrapped = ["import asyncio", "", "", "async def _snippet() -> None:"]
        wrapped += ["    " + text if text.strip() else text for text in lines]
        wrapped += ["", "", "asyncio.run(_snippet())"]
        first = origin[0] if origin else self.line
        return "\n".join(wrapped) + "\n", [first] * 4 + origin + [first] * 3


def _awaits_at_top_level(source: str, name: str) -> bool:
    try:
        code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        raise SnippetError(f"{name}: not valid Python: {exc}") from exc
    return bool(code.co_flags & inspect.CO_COROUTINE)


def markdown_files(root: Path = ROOT) -> list[Path]:
    """The Markdown files whose snippets must run: README, CONTRIBUTING, docs/."""
    files = [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "docs").rglob("*.md"))]
    return [path for path in files if path.is_file()]


def collect(path: Path) -> Iterator[Snippet]:
    """The Python snippets of one Markdown file.

    Raises:
        SnippetError: A directive that is malformed, unknown, or not followed by a Python block.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    directive: tuple[int, dict[str, str], str, int] | None = None
    while index < len(lines):
        text = lines[index]
        match = _DIRECTIVE.match(text)
        if match:
            if directive is not None:
                raise SnippetError(f"{path}:{directive[0]}: directive without a Python block")
            directive, index = _read_directive(path, lines, index, match["rest"])
            continue
        fence = _FENCE.match(text)
        if fence is None:
            if text.strip() and directive is not None:
                raise SnippetError(f"{path}:{directive[0]}: directive without a Python block")
            index += 1
            continue
        close, start = fence["fence"], index + 1
        index = start
        while index < len(lines) and not lines[index].strip().startswith(close):
            index += 1
        info = fence["info"].strip()
        language = info.split()[0].lower() if info else ""
        body = [line.removeprefix(fence["indent"]) for line in lines[start:index]]
        index += 1
        if language not in PYTHON_LANGUAGES:
            if directive is not None:
                raise SnippetError(f"{path}:{directive[0]}: directive before a {language!r} block")
            continue
        yield _snippet(path, start + 1, "\n".join(body) + "\n", directive)
        directive = None
    if directive is not None:
        raise SnippetError(f"{path}:{directive[0]}: directive without a Python block")


def _read_directive(
    path: Path, lines: list[str], index: int, rest: str
) -> tuple[tuple[int, dict[str, str], str, int], int]:
    where = f"{path}:{index + 1}"
    head, closed, _ = rest.partition("-->")
    setup: list[str] = []
    end = index + 1
    if not closed:
        while end < len(lines) and "-->" not in lines[end]:
            setup.append(lines[end])
            end += 1
        if end == len(lines) or lines[end].strip() != "-->":
            raise SnippetError(f"{where}: a snippet directive ends with a line holding only -->")
        end += 1
    try:
        words = shlex.split(head)
    except ValueError as exc:
        raise SnippetError(f"{where}: {exc}") from exc
    options: dict[str, str] = {}
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or key not in KEYS:
            raise SnippetError(f"{where}: {word!r} is not one of {sorted(KEYS)} as key=value")
        options[key] = value
    return (index + 1, options, "\n".join(setup), index + 2), end


def _snippet(
    path: Path, line: int, code: str, directive: tuple[int, dict[str, str], str, int] | None
) -> Snippet:
    if directive is None:
        return Snippet(path, line, code)
    where, options, setup, setup_line = directive
    run = options.get("run", "python")
    if run not in RUNNERS:
        raise SnippetError(f"{path}:{where}: run={run!r}; expected one of {sorted(RUNNERS)}")
    for key in ("norun", "skip"):
        if key in options and not options[key].strip():
            raise SnippetError(f"{path}:{where}: {key}= needs a reason")

    def listed(key: str) -> tuple[str, ...]:
        return tuple(item for item in options.get(key, "").split(",") if item)

    if options.get("redis", "yes") != "yes":
        raise SnippetError(f"{path}:{where}: redis={options['redis']!r}; write redis=yes")
    files = listed("files")
    for name in files:
        if Path(name).suffix not in (".wav", ".mp3") or Path(name).name != name:
            raise SnippetError(f"{path}:{where}: files={name!r}: a .wav or .mp3 file name")
    return Snippet(
        path,
        line,
        code,
        setup=setup,
        setup_line=setup_line,
        accounts=listed("accounts"),
        files=files,
        run=run,
        redis="redis" in options,
        norun=options.get("norun"),
        skip=options.get("skip"),
    )
