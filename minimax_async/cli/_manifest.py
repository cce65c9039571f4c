"""The clone manifest: CSV or JSON Lines, every row checked before a request is sent.

A CSV manifest has the header ``voice_name,language_tag,samples[,account][,need_noise_reduction]``;
``samples`` holds local paths or uploaded file ids separated by ``;``. A JSON Lines manifest
has one object per line with the same keys (``samples`` may also be a list). Relative paths
are relative to the manifest's folder.

:func:`load_manifest` reports every problem of every row, each with its line number, or
returns rows whose samples were read and checked locally (format and 10-60 s length, with
:func:`minimax_async._samples.read_sample`). :func:`check_against_api` adds the checks that
need the configured accounts and the API's language tags.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, TypeAlias

import attrs

from minimax_async import (
    MAX_SAMPLES_PER_VOICE,
    MAX_VOICE_NAME_LENGTH,
    InvalidSampleError,
    ValidationError,
    VoiceJob,
    is_file_id,
)
from minimax_async._samples import read_sample

__all__ = [
    "MANIFEST_KEYS",
    "OPTIONAL_KEYS",
    "REQUIRED_KEYS",
    "SAMPLE_SEPARATOR",
    "JobKey",
    "Manifest",
    "ManifestError",
    "ManifestProblem",
    "ManifestRow",
    "check_against_api",
    "load_manifest",
]

#: Columns (CSV) or keys (JSON Lines) every row must have.
REQUIRED_KEYS: Final = ("voice_name", "language_tag", "samples")
#: Columns or keys a row may have.
OPTIONAL_KEYS: Final = ("account", "need_noise_reduction")
#: Every known column, in the documented order.
MANIFEST_KEYS: Final = REQUIRED_KEYS + OPTIONAL_KEYS
#: Separates the samples of one row inside a string.
SAMPLE_SEPARATOR: Final = ";"
_TRUE_WORDS: Final = frozenset({"true", "yes", "1", "y", "on"})
_FALSE_WORDS: Final = frozenset({"false", "no", "0", "n", "off"})
_JSONL_SUFFIXES: Final = frozenset({".jsonl", ".ndjson", ".json"})
_CSV_SUFFIXES: Final = frozenset({".csv", ".txt"})
#: A voice name and the account it is pinned to (``None``: any account).
JobKey: TypeAlias = tuple[str, str | None]


@attrs.frozen
class ManifestProblem:
    """One thing wrong with a manifest.

    Attributes:
        line: The 1-based line of the manifest (``None`` for the file as a whole).
        message: What is wrong.
    """

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


class ManifestError(Exception):
    """The manifest cannot be used; ``problems`` lists every reason, in line order.

    Attributes:
        path: The manifest.
        problems: What is wrong, one entry per problem.
    """

    def __init__(self, path: Path, problems: Sequence[ManifestProblem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.line is not None, p.line or 0))
        super().__init__(f"{path}: {len(ordered)} problem(s)")
        self.path = path
        self.problems = tuple(ordered)


@attrs.frozen
class ManifestRow:
    """One checked row: one voice to clone.

    Attributes:
        line: Where the row starts in the manifest (1-based).
        job: The job to run (sample paths made absolute).
        account: The ``account`` column (``None`` when empty: any account).
    """

    line: int
    job: VoiceJob
    account: str | None

    @property
    def voice_name(self) -> str:
        """The voice's name."""
        return self.job.voice_name

    @property
    def pinned_account(self) -> str | None:
        """The account the job must run on: its column, else that of its file ids."""
        return self.job.pinned_account

    @property
    def key(self) -> JobKey:
        """What identifies the job across runs: its name and pinned account."""
        return (self.job.voice_name, self.job.pinned_account)


@attrs.frozen
class Manifest:
    """A manifest whose rows all passed the local checks.

    Attributes:
        path: The manifest file (absolute), or ``None`` for a generated one (``demo``).
        rows: The rows, in file order.
    """

    path: Path | None
    rows: tuple[ManifestRow, ...]


def _parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


@attrs.define
class _RowChecker:
    """Turns raw rows into :class:`ManifestRow` values, collecting problems."""

    folder: Path
    problems: list[ManifestProblem] = attrs.Factory(list)
    #: ``(line, voice_name, pinned account)`` of every row with a usable name, good or not,
    #: so that duplicates are reported even beside other problems.
    names: list[tuple[int, str, str | None]] = attrs.Factory(list)
    _checked_samples: dict[Path, str | None] = attrs.Factory(dict)

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(ManifestProblem(line, message))

    def check_sample_file(self, given: str, path: Path) -> str | None:
        """The reason a local sample cannot be used, or ``None``; each file is read once."""
        if path not in self._checked_samples:
            try:
                read_sample(path, label=given)
            except InvalidSampleError as exc:
                self._checked_samples[path] = exc.reason
            else:
                self._checked_samples[path] = None
        return self._checked_samples[path]

    def row(self, line: int, fields: Mapping[str, object]) -> ManifestRow | None:
        """Check one row's values (strings, or JSON values); ``None`` if it has problems."""
        before = len(self.problems)
        name = self._text(line, fields, "voice_name", required=True)
        if name is not None and len(name) > MAX_VOICE_NAME_LENGTH:
            self.problem(
                line,
                f"voice_name {name!r} is {len(name)} characters long; "
                f"the limit is {MAX_VOICE_NAME_LENGTH}",
            )
        language = self._text(line, fields, "language_tag", required=True)
        account = self._text(line, fields, "account", required=False)
        noise = self._noise_reduction(line, fields.get("need_noise_reduction"))
        samples = self._samples(line, fields.get("samples"))
        valid_name = name is not None and len(name) <= MAX_VOICE_NAME_LENGTH
        if len(self.problems) > before or name is None or language is None or samples is None:
            if valid_name and name is not None:
                self.names.append((line, name, account))
            return None
        try:
            job = VoiceJob(name, language, samples, account=account, need_noise_reduction=noise)
        except ValidationError as exc:
            self.problem(line, str(exc))
            self.names.append((line, name, account))
            return None
        self.names.append((line, name, job.pinned_account))
        return ManifestRow(line, job, account)

    def _text(
        self, line: int, fields: Mapping[str, object], key: str, *, required: bool
    ) -> str | None:
        value = fields.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(line, f"missing {key}")
            return None
        if not isinstance(value, str):
            self.problem(line, f"{key} must be a string, not {json.dumps(value)}")
            return None
        return value.strip()

    def _noise_reduction(self, line: int, value: object) -> bool:
        if value is None or (isinstance(value, str) and not value.strip()):
            return True  # the API's default (contract §4.4)
        parsed = _parse_bool(value)
        if parsed is None:
            shown = value if isinstance(value, str) else json.dumps(value)
            self.problem(
                line, f"need_noise_reduction {shown!r} is not true or false (or yes/no, 1/0)"
            )
            return True
        return parsed

    def _samples(self, line: int, value: object) -> tuple[str, ...] | None:
        if isinstance(value, str):
            given = [part.strip() for part in value.split(SAMPLE_SEPARATOR)]
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            given = [item.strip() for item in value]
        elif value is None:
            given = []
        else:
            self.problem(line, "samples must be a list of strings or a ';'-separated string")
            return None
        given = [item for item in given if item]
        if not given:
            self.problem(line, "missing samples")
            return None
        if len(given) > MAX_SAMPLES_PER_VOICE:
            self.problem(
                line, f"{len(given)} samples; a voice takes at most {MAX_SAMPLES_PER_VOICE}"
            )
            return None
        resolved: list[str] = []
        ok = True
        for item in given:
            if is_file_id(item):
                resolved.append(item)
                continue
            path = (self.folder / os.path.expanduser(item)).absolute()
            reason = self.check_sample_file(item, path)
            if reason is not None:
                self.problem(line, f"sample {item!r}: {reason}")
                ok = False
            resolved.append(os.fspath(path))
        return tuple(resolved) if ok else None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(path, [ManifestProblem(None, f"{path}: no such file")]) from None
    except IsADirectoryError:
        raise ManifestError(path, [ManifestProblem(None, f"{path}: is a directory")]) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ManifestError(path, [ManifestProblem(None, f"{path}: {reason}")]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ManifestError(path, [ManifestProblem(line, "not UTF-8 text")]) from None


def _looks_like_jsonl(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return True
    if suffix in _CSV_SUFFIXES:
        return False
    return text.lstrip().startswith("{")


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank CSV record with the line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    start = 1
    for record in reader:
        if any(cell.strip() for cell in record):
            yield start, record
        start = reader.line_num + 1


def _parse_csv(text: str, checker: _RowChecker) -> list[ManifestRow]:
    records = _csv_records(text)
    try:
        header_line, header = next(records)
    except StopIteration:
        return []
    except csv.Error as exc:
        checker.problem(1, f"not valid CSV: {exc}")
        return []
    columns = [cell.strip().lower() for cell in header]
    missing = [key for key in REQUIRED_KEYS if key not in columns]
    if missing:
        checker.problem(
            header_line,
            f"the header lacks {', '.join(missing)}; expected "
            f"{','.join(REQUIRED_KEYS)}[,{'][,'.join(OPTIONAL_KEYS)}]",
        )
    unknown = [c for c in columns if c not in MANIFEST_KEYS]
    if unknown:
        checker.problem(
            header_line,
            f"unknown column(s) {', '.join(map(repr, unknown))}; known: {', '.join(MANIFEST_KEYS)}",
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        checker.problem(header_line, f"repeated column(s) {', '.join(repeated)}")
    if missing or repeated:
        return []
    rows: list[ManifestRow] = []
    while True:
        try:
            line, record = next(records)
        except StopIteration:
            break
        except csv.Error as exc:
            checker.problem(None, f"not valid CSV: {exc}")
            break
        if len(record) > len(columns):
            checker.problem(line, f"{len(record)} fields; the header has {len(columns)} columns")
            continue
        # A short record leaves its last columns empty ("missing ..." below).
        fields = {
            column: value
            for column, value in zip(columns, record, strict=False)
            if column in MANIFEST_KEYS
        }
        row = checker.row(line, fields)
        if row is not None:
            rows.append(row)
    return rows


def _parse_jsonl(text: str, checker: _RowChecker) -> list[ManifestRow]:
    rows: list[ManifestRow] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            checker.problem(line, f"not valid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(value, dict):
            checker.problem(line, "not a JSON object")
            continue
        unknown = [key for key in value if key not in MANIFEST_KEYS]
        if unknown:
            shown = ", ".join(map(repr, unknown))
            checker.problem(line, f"unknown key(s) {shown}; known: {', '.join(MANIFEST_KEYS)}")
            continue
        row = checker.row(line, value)
        if row is not None:
            rows.append(row)
    return rows


def _duplicates(names: Iterable[tuple[int, str, str | None]]) -> list[ManifestProblem]:
    """Rows that would clone one name twice on one account (no account: any account).

    Args:
        names: ``(line, voice_name, pinned account)`` of each row, in file order.
    """
    seen: dict[str, list[tuple[int, str | None]]] = {}
    problems: list[ManifestProblem] = []
    for line, name, mine in names:
        earlier = seen.setdefault(name, [])
        for other_line, theirs in earlier:
            if mine is None or theirs is None or mine == theirs:
                where = f"account {mine}" if mine is not None and mine == theirs else "any account"
                problems.append(
                    ManifestProblem(
                        line, f"voice_name {name!r} on {where} duplicates line {other_line}"
                    )
                )
                break
        earlier.append((line, mine))
    return problems


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest; nothing is sent anywhere.

    Args:
        path: A ``.csv`` or ``.jsonl`` file (other suffixes: JSON Lines if the first
            character is ``{``, else CSV).

    Returns:
        The checked rows.

    Raises:
        ManifestError: Every problem found, each with its line number.
    """
    path = path.absolute()
    text = _read_text(path)
    checker = _RowChecker(path.parent)
    parse = _parse_jsonl if _looks_like_jsonl(path, text) else _parse_csv
    rows = parse(text, checker)
    problems = [*checker.problems, *_duplicates(checker.names)]
    if not problems and not rows:
        problems.append(ManifestProblem(None, f"{path}: no rows (nothing to clone)"))
    if problems:
        raise ManifestError(path, problems)
    return Manifest(path, tuple(rows))


def check_against_api(
    manifest: Manifest, accounts: Sequence[str], languages: Sequence[str]
) -> list[ManifestProblem]:
    """Problems that need the API to see: unknown accounts and language tags.

    Args:
        manifest: The checked manifest.
        accounts: The configured accounts.
        languages: The API's ``language_tag`` values (empty: not checked).

    Returns:
        One problem per bad row and field, in line order.
    """
    problems: list[ManifestProblem] = []
    known_languages = set(languages)
    for row in manifest.rows:
        pinned = row.pinned_account
        if pinned is not None and pinned not in accounts:
            problems.append(
                ManifestProblem(
                    row.line,
                    f"account {pinned!r} is not one of the configured accounts "
                    f"({', '.join(accounts)})",
                )
            )
        if known_languages and row.job.language_tag not in known_languages:
            problems.append(
                ManifestProblem(
                    row.line,
                    f"language_tag {row.job.language_tag!r} is not one of the API's "
                    f"languages ({', '.join(languages)})",
                )
            )
    return problems
