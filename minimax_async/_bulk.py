"""Bulk cloning from local audio: jobs, their progress, and the results of ``clone_many``.

A :class:`VoiceJob` names samples on disk (or bytes, or already uploaded file ids). The
client checks them locally, waits for an account with a free clone slot and voice slot
(the job's own, if pinned), uploads the samples there and clones there. See
``Client.clone_from_samples``, ``Client.clone_many`` and ``Client.temporary_voice``.
"""

from __future__ import annotations

import enum
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, TypeGuard

import attrs

from ._exceptions import ValidationError
from ._models import (
    MAX_VOICE_NAME_LENGTH,
    Voice,
    account_from_id,
    check_file_id,
    optional_account,
    strict_bool,
)
from ._samples import MAX_SAMPLES_PER_VOICE, SampleSource

__all__ = ["CloneProgress", "CloneResult", "JobState", "VoiceJob", "is_file_id"]


def _samples(value: SampleSource | Iterable[SampleSource]) -> tuple[SampleSource, ...]:
    if isinstance(value, (str, bytes, bytearray, memoryview, os.PathLike)):
        return (value,)
    if not isinstance(value, Iterable):
        raise ValidationError(
            "samples", f"must be paths, bytes or file ids, not {type(value).__name__}"
        )
    samples = tuple(value)
    for sample in samples:
        if not isinstance(sample, (str, bytes, bytearray, memoryview, os.PathLike)):
            raise ValidationError(
                "samples",
                f"a sample must be a path, bytes or a file id, not {type(sample).__name__}",
            )
    return samples


def _samples_repr(samples: tuple[SampleSource, ...]) -> str:
    """The samples as a repr shows them: in-memory audio as its size, never its bytes."""
    shown = (
        f"<{len(s) if not isinstance(s, memoryview) else s.nbytes} bytes>"
        if isinstance(s, (bytes, bytearray, memoryview))
        else repr(s)
        for s in samples
    )
    return f"({', '.join(shown)}{',' if len(samples) == 1 else ''})"


def _check_text(field: str, value: object, limit: int | None = None) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    if limit is not None and len(value) > limit:
        raise ValidationError(field, f"is {len(value)} characters long; the limit is {limit}")


@attrs.frozen
class VoiceJob:
    """One voice to clone from local samples.

    Args:
        voice_name: Display name, 1-30 characters.
        language_tag: A language ``tag_name`` of ``AudioConfig.voice_tag_language``.
        samples: 1-10 samples: paths to .mp3/.wav files (10-60 s each), bytes, or file ids
            already uploaded (``user:…-file:…``, used as they are). One path is accepted
            as a one-sample job.
        account: Pin the job to this account; otherwise the client picks one (file ids
            among the samples pin it to their account).
        need_noise_reduction: Ask MiniMax to denoise the samples.

    Attributes:
        file_ids: The samples that are uploaded file ids (used as they are).
        local_samples: The samples to read and upload.
        pinned_account: The account the job must run on, or ``None`` if the client may
            choose: ``account``, else the account of its file ids.

    Raises:
        ValidationError: A limit is broken (nothing is read or sent yet).
    """

    # Names and samples are checked in __attrs_post_init__, in one pass with the derived
    # fields: a bulk run builds one job per voice (100,000 of them, say).
    voice_name: str
    language_tag: str
    samples: tuple[SampleSource, ...] = attrs.field(converter=_samples, repr=_samples_repr)
    account: str | None = attrs.field(default=None, validator=optional_account)
    need_noise_reduction: bool = attrs.field(default=True, validator=strict_bool)
    # Derived once here rather than on every use: bulk runs read them several times per job.
    file_ids: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)
    local_samples: tuple[SampleSource, ...] = attrs.field(init=False, eq=False, repr=False)
    pinned_account: str | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_text("voice_name", self.voice_name, MAX_VOICE_NAME_LENGTH)
        _check_text("language_tag", self.language_tag)
        samples, account = self.samples, self.account
        if not 1 <= len(samples) <= MAX_SAMPLES_PER_VOICE:
            raise ValidationError(
                "samples", f"has {len(samples)} samples; give 1 to {MAX_SAMPLES_PER_VOICE}"
            )
        file_ids = [s for s in samples if is_file_id(s)]
        embedded: str | None = None
        if file_ids:
            local = (
                ()
                if len(file_ids) == len(samples)
                else tuple(s for s in samples if not is_file_id(s))
            )
            accounts = set()
            for file_id in file_ids:
                check_file_id(file_id, "samples")
                found = account_from_id(file_id)
                if found is not None:
                    accounts.add(found)
            if len(accounts) > 1:
                raise ValidationError(
                    "samples",
                    f"file ids come from several accounts: {', '.join(sorted(accounts))}",
                )
            embedded = next(iter(accounts), None)
            if account is not None and embedded is not None and embedded != account:
                raise ValidationError(
                    "account",
                    f"is {account!r} but sample file ids belong to account {embedded!r}",
                )
        else:
            local = samples
        set_field = object.__setattr__
        set_field(self, "file_ids", tuple(file_ids))
        set_field(self, "local_samples", local)
        set_field(self, "pinned_account", account if account is not None else embedded)

    @property
    def embedded_account(self) -> str | None:
        """The account of the file ids among the samples, if any."""
        for file_id in self.file_ids:
            account = account_from_id(file_id)
            if account is not None:
                return account
        return None


def is_file_id(sample: object) -> TypeGuard[str]:
    """Whether a sample is an uploaded file id (``user:…-file:…``) rather than audio."""
    return isinstance(sample, str) and sample.startswith("user:") and "-file:" in sample


class JobState(enum.Enum):
    """Where a job is.

    ``QUEUED`` (waiting for an account), ``UPLOADING`` (its samples, to its account),
    ``READY`` (uploaded, waiting for a clone slot), ``CLONING`` (the clone request is on the
    wire, or being retried), then ``DONE`` or ``FAILED``.
    """

    QUEUED = "queued"
    UPLOADING = "uploading"
    READY = "ready"
    CLONING = "cloning"
    DONE = "done"
    FAILED = "failed"

    # Members are singletons, so identity hashing is right, and C-level where Enum's own
    # __hash__ is a Python call: progress counting hashes states on every move of every job.
    __hash__ = object.__hash__


#: States a job does not leave.
FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED})

#: Every move a job may make (``JobTracker.move`` refuses the others). Back to ``QUEUED``: a
#: placed job whose account went out of rotation (596/412) waits for another account. Any
#: state but a final one may fail; only a clone that was sent ends in a voice.
TRANSITIONS: Final[Mapping[JobState, frozenset[JobState]]] = {
    JobState.QUEUED: frozenset({JobState.UPLOADING, JobState.FAILED}),
    JobState.UPLOADING: frozenset({JobState.READY, JobState.QUEUED, JobState.FAILED}),
    JobState.READY: frozenset({JobState.CLONING, JobState.QUEUED, JobState.FAILED}),
    JobState.CLONING: frozenset({JobState.DONE, JobState.QUEUED, JobState.FAILED}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
}


@attrs.frozen
class CloneResult:
    """How one job of :meth:`Client.clone_many` ended: exactly one of ``voice`` and ``error``.

    Attributes:
        job: The job.
        voice: The cloned voice, or ``None`` if it failed.
        error: Why it failed, or ``None``.
        account: The account it ran on (``None`` if it never got one).
        queued_at: ``time.time()`` when the job was submitted.
        started_at: When it was given an account (``None`` if never).
        finished_at: When it ended.
    """

    job: VoiceJob
    voice: Voice | None
    error: BaseException | None
    account: str | None
    queued_at: float
    started_at: float | None
    finished_at: float

    @property
    def ok(self) -> bool:
        """Whether the job cloned its voice."""
        return self.error is None


ProgressListener = Callable[["CloneProgress", VoiceJob, JobState, "str | None"], None]


class CloneProgress:
    """Live counts of a bulk run, overall and per account, for progress displays.

    Pass one to :meth:`Client.clone_many` (or let it make one) and read it while the run goes,
    or :meth:`subscribe` to be called on every change of a job's state.
    """

    def __init__(self) -> None:
        self.total = 0
        self.started = time.monotonic()
        self.counts: Counter[JobState] = Counter()
        self.by_account: dict[str | None, Counter[JobState]] = {}
        self._listeners: list[ProgressListener] = []

    def subscribe(self, listener: ProgressListener) -> None:
        """Call ``listener(progress, job, new_state, account)`` on every change."""
        self._listeners.append(listener)

    @property
    def finished(self) -> int:
        """Jobs done or failed."""
        return self.counts[JobState.DONE] + self.counts[JobState.FAILED]

    def rate(self) -> float:
        """Finished jobs per second since the run started."""
        elapsed = time.monotonic() - self.started
        return self.finished / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds until all jobs are finished at the current rate (``None`` if unknown)."""
        rate = self.rate()
        remaining = self.total - self.finished
        return remaining / rate if rate > 0 else None

    def snapshot(self) -> Mapping[str, int]:
        """The overall counts by state name."""
        return {state.value: self.counts[state] for state in JobState}

    def _add_all(self, jobs: Sequence[VoiceJob]) -> None:
        """Count jobs as queued, in order, in one step (listeners hear each one)."""
        self.total += len(jobs)
        self.counts[JobState.QUEUED] += len(jobs)
        unplaced = self.by_account.get(None)
        if unplaced is None:
            unplaced = self.by_account[None] = Counter()
        unplaced[JobState.QUEUED] += len(jobs)
        for listener in self._listeners:
            for job in jobs:
                listener(self, job, JobState.QUEUED, None)

    def _move(
        self,
        job: VoiceJob,
        old: JobState | None,
        new: JobState,
        old_account: str | None,
        account: str | None,
    ) -> None:
        counts, by_account = self.counts, self.by_account
        if old is not None:
            counts[old] -= 1
            by_account[old_account][old] -= 1
        counts[new] += 1
        per_account = by_account.get(account)
        if per_account is None:
            per_account = by_account[account] = Counter()
        per_account[new] += 1
        for listener in self._listeners:
            listener(self, job, new, account)


@attrs.define
class JobTracker:
    """One job's place in a :class:`CloneProgress` (internal)."""

    progress: CloneProgress | None
    job: VoiceJob
    state: JobState = JobState.QUEUED
    account: str | None = None
    queued_at: float = attrs.field(factory=time.time)
    started_at: float | None = None
    #: The job was already counted as queued in ``progress`` (``CloneProgress._add_all``).
    announced: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.progress is not None and not self.announced:
            self.progress._add_all((self.job,))  # noqa: SLF001 - same module

    @staticmethod
    def queue_all(progress: CloneProgress, jobs: Sequence[VoiceJob]) -> None:
        """Count a bulk run's jobs as queued in ``progress``, in one step (their trackers,
        made later, are ``announced``)."""
        progress._add_all(jobs)  # noqa: SLF001 - same module

    def move(self, state: JobState, account: str | None = None) -> None:
        """Record a change of state (and of account, when given).

        Raises:
            RuntimeError: The move is not in :data:`TRANSITIONS` (a bug, never the job's
                fault). Staying in the same state is allowed (a retried clone).
        """
        new_account = account if account is not None else self.account
        if state is self.state and new_account == self.account:
            return
        if state is not self.state and state not in TRANSITIONS[self.state]:
            raise RuntimeError(
                f"job {self.job.voice_name!r} cannot move from {self.state.name} to {state.name}"
            )
        if state is JobState.UPLOADING and self.started_at is None:
            self.started_at = time.time()
        if self.progress is not None:
            # A job queued without an account counts under None until it gets one.
            old_account = self.account if self.state is not JobState.QUEUED else None
            target = new_account if state is not JobState.QUEUED else None
            self.progress._move(self.job, self.state, state, old_account, target)  # noqa: SLF001 - same module
        self.state = state
        self.account = new_account
