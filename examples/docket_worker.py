"""Durable clone jobs: docket workers that clone through a Redis-coordinated client.

docket (``pip install pydocket``) keeps the jobs in Redis and hands them to workers; a job
whose worker dies is delivered again to another worker after ``--redelivery-timeout``. The
coordinator (``pip install 'minimax_async[redis]'``) keeps the accounts' limits across every
worker, and its record of each clone on the wire outlives a dead worker: the redelivered job
adopts the voice its first run may have created instead of cloning it twice.

    export USEAPI_TOKEN=user:1234-...            # the API token
    export MINIMAX_ACCOUNTS=123456,789012        # the accounts the workers share
    export MINIMAX_ASYNC_COORDINATOR=redis://localhost:6379/0
    python examples/docket_worker.py enqueue jobs.jsonl   # one VoiceJob per line, as JSON
    python examples/docket_worker.py work                 # as many workers as you like

A line of ``jobs.jsonl``: ``{"voice_name": "Alice", "language_tag": "English", "samples":
["alice-1.wav"], "account": "123456"}``. Pass plain JSON values as job arguments: docket
pickles its arguments into Redis. Do not add docket's ``ConcurrencyLimit`` to the task: the
coordinator already decides when each clone may start, fleet-wide, per account. Keep
``--redelivery-timeout`` above the coordinator's liveness TTL (15 s): until a dead worker's
lease lapses it still holds its jobs' names, and a job delivered again sooner would fail
with ``DuplicateVoiceNameError``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from docket import Docket, Shared, Worker

from minimax_async import Client, VoiceJob
from minimax_async.fleet import RedisCoordinator

#: Where the jobs and the coordination live (one Redis serves both).
REDIS_URL = os.environ.get("MINIMAX_ASYNC_COORDINATOR", "redis://localhost:6379/0")
#: The coordinator's namespace: the same for every process sharing the accounts.
NAMESPACE = os.environ.get("MINIMAX_ASYNC_NAMESPACE", "minimax-async")
#: The docket's name (its queue in Redis).
DOCKET_NAME = os.environ.get("MINIMAX_DOCKET", "minimax-clones")
_SETTINGS: dict[str, float] = {}


@contextlib.asynccontextmanager
async def fleet_client() -> AsyncIterator[Client]:
    """One coordinated client per worker process, shared by all of its jobs."""
    accounts = [a for a in os.environ.get("MINIMAX_ACCOUNTS", "").split(",") if a] or None
    coordinator = RedisCoordinator(REDIS_URL, namespace=NAMESPACE, **_SETTINGS)
    async with Client(accounts=accounts, coordinator=coordinator) as client:
        yield client


async def clone_job(
    job: dict[str, Any],
    client: Client = Shared(fleet_client),  # noqa: B008 - docket injects dependencies so
) -> dict[str, Any]:
    """Clone one voice; a redelivered job adopts the voice of its interrupted first run."""
    voice = await client.clone_from_samples(VoiceJob(**job))
    result = {"voice_name": job["voice_name"], "voice_id": voice.voice_id, "account": voice.account}
    print(json.dumps(result), flush=True)
    return result


def job_key(job: dict[str, Any]) -> str:
    """docket's key for a job: while it is queued, adding the same job again does nothing."""
    return f"clone:{job.get('account') or '*'}:{job['voice_name']}"


async def enqueue(jobs: Sequence[dict[str, Any]]) -> None:
    """Put ``jobs`` (VoiceJob fields as plain JSON values) on the docket."""
    async with Docket(name=DOCKET_NAME, url=REDIS_URL) as docket:
        for job in jobs:
            await docket.add(clone_job, key=job_key(job))(job=job)


async def work(*, concurrency: int, redelivery_timeout: float, until_finished: bool) -> None:
    """Run one docket worker: it takes up to ``concurrency`` jobs at a time."""
    async with Docket(name=DOCKET_NAME, url=REDIS_URL) as docket:
        docket.register(clone_job)
        async with Worker(
            docket,
            concurrency=concurrency,
            redelivery_timeout=timedelta(seconds=redelivery_timeout),
        ) as worker:
            if until_finished:
                await worker.run_until_finished()
            else:
                await worker.run_forever()


def main(argv: Sequence[str]) -> None:
    """``enqueue FILE`` or ``work``."""
    parser = argparse.ArgumentParser(prog="docket_worker.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    enqueue_parser = commands.add_parser("enqueue", help="queue the jobs of a JSON Lines file")
    enqueue_parser.add_argument("jobs", type=Path)
    work_parser = commands.add_parser("work", help="run a worker")
    work_parser.add_argument("--concurrency", type=int, default=10)
    work_parser.add_argument("--redelivery-timeout", type=float, default=300.0)
    work_parser.add_argument("--until-finished", action="store_true")
    work_parser.add_argument("--liveness-ttl", type=float, help="RedisCoordinator liveness_ttl")
    work_parser.add_argument("--inflight-hold", type=float, help="RedisCoordinator inflight_hold")
    args = parser.parse_args(argv)
    if args.command == "enqueue":
        lines = args.jobs.read_text(encoding="utf-8").splitlines()
        asyncio.run(enqueue([json.loads(line) for line in lines if line.strip()]))
        return
    if args.liveness_ttl is not None:
        _SETTINGS["liveness_ttl"] = args.liveness_ttl
    if args.inflight_hold is not None:
        _SETTINGS["inflight_hold"] = args.inflight_hold
    asyncio.run(
        work(
            concurrency=args.concurrency,
            redelivery_timeout=args.redelivery_timeout,
            until_finished=args.until_finished,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
