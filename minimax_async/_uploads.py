"""Work reused across jobs: the local checks of in-memory samples, and with
``reuse_uploads`` the file ids of samples already uploaded; and :func:`gather_first_error`.

Raw asyncio here, for a reason: an upload of the ``reuse_uploads`` cache is a future that
several jobs await (shielded, so that one job's cancellation does not cancel the upload the
others wait for).
"""

from __future__ import annotations

import asyncio
import collections
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import cache, partial
from typing import Final, TypeVar

import anyio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

from ._bulk import VoiceJob
from ._samples import LocalSample, SampleSource, load_sample

__all__ = ["SampleChecks", "UploadCache", "gather_first_error"]

T = TypeVar("T")
#: In-memory samples whose local check is remembered (least recently used are forgotten).
_CHECKED_BYTES_MEMO: Final = 64
#: Uploads one checked sample to an account and returns its file id.
Uploader = Callable[[str | None, LocalSample], Awaitable[str]]


@cache
def _bytes_label(index: int) -> str:
    """How errors name the ``index``-th in-memory sample of a job."""
    return f"<bytes #{index + 1}>"


def _is_bytes(source: SampleSource) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview))


class SampleChecks:
    """The local checks of a job's samples, with a memo of in-memory samples: bulk jobs
    often share one recording object, which is then checked once."""

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        #: Checked in-memory samples by id() (the entry keeps the object alive, so an id
        #: is not reused while its entry stands).
        self._memo: collections.OrderedDict[int, tuple[object, LocalSample]] = (
            collections.OrderedDict()
        )

    def _known(self, i: int, source: SampleSource) -> LocalSample | None:
        memo = self._memo
        known = memo.get(id(source))
        if known is None or known[0] is not source or known[1].label != _bytes_label(i):
            return None
        memo.move_to_end(id(source))
        return known[1]

    async def load(self, job: VoiceJob) -> list[LocalSample]:
        """Check (and read) every local sample of ``job``, in order.

        Raises:
            InvalidSampleError: A sample is unusable.
        """
        # Jobs whose every sample is a recording already checked take this path without
        # awaiting.
        known_samples: list[LocalSample] = []
        for i, source in enumerate(job.local_samples):
            known = self._known(i, source)
            if known is None:
                break
            known_samples.append(known)
        else:
            return known_samples
        return await gather_first_error(
            [partial(self._load, i, s) for i, s in enumerate(job.local_samples)]
        )

    async def _load(self, i: int, source: SampleSource) -> LocalSample:
        if not _is_bytes(source):
            return await load_sample(source)
        known = self._known(i, source)
        if known is not None:
            return known
        sample = await load_sample(source, label=_bytes_label(i))
        memo = self._memo
        memo[id(source)] = (source, sample)
        if len(memo) > _CHECKED_BYTES_MEMO:
            memo.popitem(last=False)
        return sample

    @staticmethod
    def all_in_memory(job: VoiceJob) -> bool:
        """Whether every local sample of ``job`` is bytes (kept after the check; files are
        read again after admission, so that queued jobs do not hold audio in memory)."""
        return all(_is_bytes(s) for s in job.local_samples)


class UploadCache:
    """Uploads of a job's samples; with ``reuse_uploads``, once per content and account.

    Args:
        upload_now: Uploads one sample (the send path, with its retries).
        reuse: Keep the file ids of successful uploads, by (account, content digest), and
            hand them to later jobs.
    """

    __slots__ = ("_cache", "_everywhere", "_upload_now")

    def __init__(self, upload_now: Uploader, *, reuse: bool) -> None:
        self._upload_now = upload_now
        self._cache: dict[tuple[str | None, bytes], asyncio.Future[str]] | None = (
            {} if reuse else None
        )
        #: Digests uploaded to every account.
        self._everywhere: set[bytes] = set()

    async def upload_job(
        self, job: VoiceJob, account: str | None, samples: list[LocalSample]
    ) -> list[str]:
        """The file ids of ``job`` on ``account``: its own, then its checked samples'."""
        cache = self._cache
        if cache is not None:  # with reuse_uploads, most jobs find every sample uploaded
            known = [_file_id_if_uploaded(cache.get((account, s.digest))) for s in samples]
            if None not in known:
                return [*job.file_ids, *known]  # type: ignore[list-item]  # no None in it
        uploaded = await gather_first_error(
            [partial(self.upload, account, sample) for sample in samples]
        )
        return [*job.file_ids, *uploaded]

    def uploaded_everywhere(
        self, samples: list[LocalSample], accounts: Iterable[str | None]
    ) -> bool:
        """With ``reuse_uploads``: whether every sample is already uploaded to every account.

        Such a job uploads nothing wherever it lands, so it need not be admitted ahead of a
        free clone slot (which would tie it to an account early).
        """
        cache = self._cache
        if cache is None or not samples:
            return False
        everywhere = self._everywhere
        for sample in samples:
            if sample.digest in everywhere:
                continue
            for account in accounts:
                if _file_id_if_uploaded(cache.get((account, sample.digest))) is None:
                    return False
            everywhere.add(sample.digest)  # file ids that worked stay in the cache
        return True

    async def upload(self, account: str | None, sample: LocalSample) -> str:
        """Upload one checked sample; with ``reuse_uploads``, once per content and account."""
        cache = self._cache
        if cache is None:
            return await self._upload_now(account, sample)
        key = (account, sample.digest)
        pending = cache.get(key)
        if pending is None:
            pending = cache[key] = asyncio.ensure_future(self._upload_now(account, sample))
            pending.add_done_callback(
                lambda done: cache.pop(key, None) if done.cancelled() or done.exception() else None
            )
        return await asyncio.shield(pending)

    async def aclose(self) -> None:
        """Cancel the shared uploads still running and wait until they have ended (a job
        cancelled while others await its upload leaves it running; ``aclose()`` of the
        client ends them)."""
        cache = self._cache
        if not cache:
            return
        running = [upload for upload in cache.values() if not upload.done()]
        for upload in running:
            upload.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def _file_id_if_uploaded(upload: asyncio.Future[str] | None) -> str | None:
    """The file id of a finished, successful upload of the ``reuse_uploads`` cache."""
    if upload is None or not upload.done() or upload.cancelled() or upload.exception():
        return None
    return upload.result()


async def gather_first_error(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run calls concurrently; return their results in order, or raise the first error.

    Like a task group (the others are cancelled on a failure) but raising the error itself,
    not an exception group, so callers see e.g. the InvalidSampleError of the bad file.
    """
    if len(calls) == 1:
        return [await calls[0]()]
    slots: dict[int, T] = {}

    async def run(i: int, call: Callable[[], Awaitable[T]]) -> None:
        slots[i] = await call()

    try:
        async with anyio.create_task_group() as group:
            for i, call in enumerate(calls):
                group.start_soon(run, i, call)
    except BaseExceptionGroup as errors:
        first = errors.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from first.__cause__
    return [slots[i] for i in range(len(calls))]
