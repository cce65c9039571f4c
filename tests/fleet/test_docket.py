"""Durable jobs with docket (examples/docket_worker.py): a worker killed mid-clone, its jobs
delivered again to another worker, the voice on the wire adopted, never cloned twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from minimax_async import BASE_URL_ENV_VAR, TOKEN_ENV_VAR
from minimax_async.testing import FakeMiniMax
from tests.fleet.harness import (
    ACCOUNTS,
    CLONE_LATENCY,
    INFLIGHT_HOLD,
    LIVENESS_TTL,
    REPO_ROOT,
    created_names,
)
from tests.functional.cli_support import write_samples

pytestmark = pytest.mark.anyio

EXAMPLE = REPO_ROOT / "examples" / "docket_worker.py"
JOBS = 6
#: docket delivers a dead worker's jobs again after this (seconds; its default is 5 min). It
#: must exceed the coordinator's liveness TTL (+ a third of it): until then the dead worker
#: still holds its jobs' names, and a job delivered again would fail as a duplicate name.
REDELIVERY_TIMEOUT = 3.0
RUN_TIMEOUT = 60.0


def _env(fake: FakeMiniMax, redis_url: str, namespace: str, docket_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            TOKEN_ENV_VAR: fake.token,
            BASE_URL_ENV_VAR: fake.base_url,
            "MINIMAX_ACCOUNTS": ",".join(ACCOUNTS[:2]),
            "MINIMAX_ASYNC_COORDINATOR": redis_url,
            "MINIMAX_ASYNC_NAMESPACE": namespace,
            "MINIMAX_DOCKET": docket_name,
        }
    )
    return env


async def _example(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        *args,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_killed_docket_worker_job_is_redelivered_and_adopts_its_voice(
    tmp_path: Path, redis_url: str, redis_namespace: str
) -> None:
    """Worker A dies with clones held at the server; worker B gets its jobs again and
    finishes them: every voice exists once, the held one adopted by B."""
    [sample] = write_samples(tmp_path / "samples", 1)
    jobs = [
        {
            "voice_name": f"docket-{i}",
            "language_tag": "English",
            "samples": [str(sample)],
            "account": ACCOUNTS[i % 2],
        }
        for i in range(JOBS)
    ]
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    worker_args = (
        "work",
        "--redelivery-timeout", f"{REDELIVERY_TIMEOUT:g}",
        "--liveness-ttl", f"{LIVENESS_TTL:g}",
        "--inflight-hold", f"{INFLIGHT_HOLD:g}",
    )  # fmt: skip
    async with FakeMiniMax(
        accounts=ACCOUNTS[:2],
        max_voices_per_account=JOBS,
        clone_latency=CLONE_LATENCY,
        cancel_on_disconnect=False,
    ) as fake:
        env = _env(fake, redis_url, redis_namespace, f"docket-test-{uuid.uuid4().hex[:8]}")
        enqueue = await _example("enqueue", str(jobs_file), env=env)
        out, err = await asyncio.wait_for(enqueue.communicate(), RUN_TIMEOUT)
        assert enqueue.returncode == 0, err.decode()

        fake.gate.close()
        first = await _example(*worker_args, env=env)
        try:
            await asyncio.wait_for(fake.gate.wait_held(1), RUN_TIMEOUT)
            held = fake.gate.held_voice_names()[0]
            first.send_signal(signal.SIGKILL)
            await first.communicate()
        finally:
            if first.returncode is None:
                first.kill()
                await first.communicate()
        fake.gate.open()  # the server finishes the dead worker's clones

        second = await _example(*worker_args, "--until-finished", env=env)
        out, err = await asyncio.wait_for(second.communicate(), RUN_TIMEOUT)
        assert second.returncode == 0, err.decode()[-3000:]
        results = {r["voice_name"]: r for r in map(json.loads, out.decode().splitlines())}
        assert set(results) == {job["voice_name"] for job in jobs}, err.decode()[-3000:]
        created = created_names(fake)
        assert all(created[str(job["voice_name"])] == 1 for job in jobs), created
        [held_voice] = [v for v in fake.record.voices_created if v.voice_name == held]
        assert results[held]["voice_id"] == held_voice.voice_id
