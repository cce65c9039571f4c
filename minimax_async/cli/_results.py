"""The results file of ``clone``: JSON Lines, append-only, each line flushed and fsynced.

Four kinds of line, told apart by ``type``:

* ``run``: a run started (``time``, ``manifest``, ``sandbox``, ``base_url``, ``accounts``,
  ``jobs``, ``pending``). The first one dates the file: only voices created after it (less
  clock skew) can be adopted on resume.
* ``clone``: a job reached the clone step on ``account``; from now on its clone request may
  be on the wire. A ``clone`` line without a later ``result`` line marks a job *in doubt*
  after a crash: the server may still create its voice.
* ``result``: a job ended: ``status`` ``"done"`` (``voice_id``, ``account``, timings,
  ``adopted``) or ``"failed"`` (``error``: ``type`` and ``message``).
* ``end``: the run ended (``status``: ``complete``, ``interrupted`` or ``aborted``).

While a run writes the file it holds an exclusive lock (``filelock``, on ``FILE.lock`` next to
it: ``flock`` on POSIX, ``LockFileEx`` on Windows), so two runs cannot share one file, and it
touches the file's modification time every second, so that the next run knows when a killed
run was last alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Final

import attrs
from filelock import FileLock, Timeout

from minimax_async.cli._manifest import JobKey

__all__ = [
    "HEARTBEAT_SECONDS",
    "History",
    "InDoubt",
    "ResultsBusyError",
    "ResultsFile",
    "format_time",
    "lock_path",
    "parse_time",
    "read_history",
]

#: How often a running ``clone`` touches its results file.
HEARTBEAT_SECONDS: Final = 1.0
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"
_MILLIS: Final = 1000


def format_time(epoch: float) -> str:
    """An epoch time as ISO 8601 UTC with milliseconds, e.g. ``2025-01-24T10:00:00.123Z``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return f"{moment.strftime(_TIME_FORMAT)}.{moment.microsecond // _MILLIS:03d}Z"


def parse_time(value: object) -> float | None:
    """The epoch time of an ISO 8601 string (as :func:`format_time` writes), or ``None``."""
    if not isinstance(value, str):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class ResultsBusyError(Exception):
    """Another process is writing the results file."""


@attrs.frozen
class InDoubt:
    """A job whose clone may have been sent by a run that did not record how it ended.

    Attributes:
        key: The job.
        account: The account it was cloning on.
        since: When it reached the clone step.
    """

    key: JobKey
    account: str | None
    since: float


@attrs.define
class History:
    """What earlier runs recorded in a results file.

    Attributes:
        runs: ``run`` lines read.
        first_run_at: The time of the first ``run`` line (``None``: no run yet).
        earliest: The earliest time of any line (``None``: none has one).
        sandbox: The ``sandbox`` flags of the runs.
        done: The ``result`` line of every job done, by job.
        in_doubt: Jobs with a ``clone`` line and no later ``result`` line.
        claimed_voice_ids: Voice ids recorded as done, and whose they are.
        unreadable: Lines that are not JSON objects (skipped), 1-based.
    """

    runs: int = 0
    first_run_at: float | None = None
    earliest: float | None = None
    sandbox: set[bool] = attrs.Factory(set)
    done: dict[JobKey, dict[str, object]] = attrs.Factory(dict)
    in_doubt: dict[JobKey, InDoubt] = attrs.Factory(dict)
    claimed_voice_ids: dict[str, JobKey] = attrs.Factory(dict)
    unreadable: list[int] = attrs.Factory(list)

    @classmethod
    def parse(cls, data: bytes) -> History:
        """Read the lines of a results file (unreadable lines are noted and skipped)."""
        history = cls()
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                history.unreadable.append(number)
                continue
            if not isinstance(record, dict):
                history.unreadable.append(number)
                continue
            history._add(record)
        return history

    @property
    def since(self) -> float | None:
        """When the file's first run started: its ``run`` line, else its earliest line."""
        return self.first_run_at if self.first_run_at is not None else self.earliest

    def _add(self, record: Mapping[str, object]) -> None:
        kind = record.get("type")
        at = parse_time(record.get("time"))
        if at is not None and (self.earliest is None or at < self.earliest):
            self.earliest = at
        if kind == "run":
            self.runs += 1
            if at is not None and (self.first_run_at is None or at < self.first_run_at):
                self.first_run_at = at
            self.sandbox.add(bool(record.get("sandbox")))
        elif kind in ("clone", "result"):
            key = _job_key(record)
            if key is None:
                return
            if kind == "clone":
                account = record.get("account")
                self.in_doubt[key] = InDoubt(
                    key,
                    account if isinstance(account, str) else None,
                    at if at is not None else 0.0,
                )
                return
            self.in_doubt.pop(key, None)
            if record.get("status") == "done":
                self.done[key] = dict(record)
                voice_id = record.get("voice_id")
                if isinstance(voice_id, str):
                    self.claimed_voice_ids[voice_id] = key


def read_history(path: Path) -> History:
    """What a results file records, read without creating or locking it (empty if missing).

    Raises:
        OSError: It exists but cannot be read.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return History()
    return History.parse(data)


def lock_path(path: Path) -> Path:
    """The lock file of a results file: ``FILE.lock`` beside it."""
    return path.with_name(path.name + ".lock")


def _job_key(record: Mapping[str, object]) -> JobKey | None:
    name = record.get("voice_name")
    pinned = record.get("pinned_account")
    if not isinstance(name, str) or not (pinned is None or isinstance(pinned, str)):
        return None
    return (name, pinned)


class ResultsFile:
    """An open results file, locked for this process, read once and then appended to.

    Use :meth:`open`; then :attr:`history` is what was in it, and :attr:`last_alive` when
    the process that wrote it last was alive (its last heartbeat or write).
    """

    def __init__(self, path: Path, file: IO[bytes], created: bool, lock: FileLock) -> None:
        self.path = path
        self._file = file
        self._lock = lock
        self.created = created
        stat = os.fstat(file.fileno())
        self.last_alive = stat.st_mtime
        file.seek(0)
        data = file.read()
        self.history = History.parse(data)
        self._needs_newline = bool(data) and not data.endswith(b"\n")

    @classmethod
    def open(cls, path: Path) -> ResultsFile:
        """Open (creating it if needed) and lock a results file.

        Raises:
            ResultsBusyError: Another process holds the file's lock.
            OSError: The file cannot be opened.
        """
        lock = FileLock(lock_path(path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ResultsBusyError(
                f"another minimax-async run is writing {path}; wait for it to end"
            ) from None
        try:
            created = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except BaseException:
            lock.release()
            raise
        file = os.fdopen(fd, "a+b")
        try:
            if created:
                _fsync_folder(path.parent)
            return cls(path, file, created, lock)
        except BaseException:
            file.close()
            lock.release()
            raise

    def append(self, record: Mapping[str, object]) -> None:
        """Append one line and make it durable (flush, then fsync)."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        if self._needs_newline:
            # A killed writer may have left half a line; never glue a record onto it.
            line = "\n" + line
            self._needs_newline = False
        self._file.write(line.encode())
        self._file.flush()
        os.fsync(self._file.fileno())

    def heartbeat(self) -> None:
        """Mark the writer alive now (the file's modification time)."""
        now = time.time()
        with contextlib.suppress(OSError):
            os.utime(self.path, (now, now))

    def close(self) -> None:
        """Close the file and release the lock (the lock file stays: removing it could let
        a waiting run and a new one both hold a lock)."""
        try:
            self._file.close()
        finally:
            self._lock.release()


def _fsync_folder(folder: Path) -> None:
    """Make a new file's directory entry durable (POSIX; a no-op where unsupported)."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
