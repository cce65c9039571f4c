"""A budget on what a queued clone costs, so the hot path's measured tricks cannot regress.

The per-job savings (``_Waiter`` as the future itself, identity-hashed ``JobState``, the
operation guard without a context manager, no waiter at all on the fast path) are each worth
a few hundred bytes; a refactor could lose them without a failing test. This one counts the
Python allocations (``tracemalloc``) of 10,000 clones queued behind a closed gate.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

from minimax_async import CloneVoiceRequest
from minimax_async.testing import make_wav

from .conftest import serve

pytestmark = pytest.mark.anyio

QUEUED = 10_000
#: Bytes per queued clone (``python -m benchmarks`` measures about 1,750 B of RSS today).
BUDGET = 2048


async def test_ten_thousand_queued_clones_cost_at_most_2_kb_each() -> None:
    """``gather`` of 10,000 ``clone_voice`` on one account, 2 held at the server's gate and
    9,998 waiting: at most 2 KB of Python allocations per job; all gone once cancelled."""
    async with serve(["100001"], slots=QUEUED + 10) as (fake, client):
        file_id = (await client.upload_sample(make_wav(11), account="100001")).file_id
        await client.clone_voice(CloneVoiceRequest("warm", "English", [file_id]))  # connect, count
        requests = [CloneVoiceRequest(f"v{i}", "English", [file_id]) for i in range(QUEUED)]
        fake.gate.close()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            jobs = asyncio.gather(*(client.clone_voice(r) for r in requests))
            await fake.gate.wait_held(2)
            for _ in range(100):  # bounded: every task has run its first step long before
                stats = client.clone_statistics()
                if stats.waiting + stats.in_flight == QUEUED:
                    break
                await asyncio.sleep(0)
            assert stats.waiting + stats.in_flight == QUEUED
            per_job = (tracemalloc.get_traced_memory()[0] - before) / QUEUED
        finally:
            tracemalloc.stop()
        jobs.cancel()
        with pytest.raises(asyncio.CancelledError):
            await jobs
        fake.gate.open()
        assert client.clone_statistics().waiting == 0
    assert per_job <= BUDGET, f"{per_job:.0f} B per queued clone"
