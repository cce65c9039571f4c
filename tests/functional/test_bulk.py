"""Bulk cloning from local audio: dispatch, voice slots, clone_many, temporary voices."""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from minimax_async import (
    Client,
    CloneProgress,
    CloneResult,
    CloneVoiceRequest,
    InvalidSampleError,
    JobState,
    ValidationError,
    VoiceJob,
    VoiceSlotsExhaustedError,
)
from minimax_async.testing import FakeMiniMax, Fault, make_mp3, make_wav

from .conftest import FAST_RETRY, serve

pytestmark = pytest.mark.anyio

ACCOUNTS = ["100001", "100002", "100003"]
RAISED_SLOTS = 1000


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of valid 11 s WAV samples, one per tone."""
    folder = tmp_path_factory.mktemp("samples")
    for i in range(4):
        (folder / f"s{i}.wav").write_bytes(make_wav(11, frequency=200.0 + 40 * i))
    return folder


def jobs_from(folder: Path, n: int, *, samples: int = 2, prefix: str = "voice") -> list[VoiceJob]:
    files = sorted(folder.glob("*.wav"))
    return [
        VoiceJob(f"{prefix} {i}", "English", [files[(i + k) % len(files)] for k in range(samples)])
        for i in range(n)
    ]


async def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll a condition that I/O in worker threads (sample reads) will make true."""
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110 - no event to wait on: state changes in threads/timers
            await asyncio.sleep(0.001)


async def collect(run: AsyncIterator[CloneResult]) -> list[CloneResult]:
    return [result async for result in run]


def fake_and_client(
    *, slots: int = RAISED_SLOTS, latency: float | tuple[float, float] = 0.002
) -> tuple[FakeMiniMax, Callable[[FakeMiniMax], Client]]:
    fake = FakeMiniMax(accounts=ACCOUNTS, clone_latency=latency, max_voices_per_account=slots)

    def client(server: FakeMiniMax) -> Client:
        return Client(
            token=server.token,
            base_url=server.base_url,
            accounts=ACCOUNTS,
            max_voices_per_account=slots,
            retry=FAST_RETRY,
        )

    return fake, client


async def test_24_unpinned_jobs_over_three_accounts(wav_dir: Path) -> None:
    """24 unpinned jobs: one result each, all accounts used, never > 2 clones per account."""
    fake, make_client = fake_and_client(latency=(0.002, 0.02))
    async with fake, make_client(fake) as client:
        progress = CloneProgress()
        seen: dict[str, list[JobState]] = {}
        progress.subscribe(
            lambda _, job, state, __: seen.setdefault(job.voice_name, []).append(state)
        )
        results = await collect(client.clone_many(jobs_from(wav_dir, 24), progress=progress))
        expected = [JobState.QUEUED, JobState.UPLOADING, JobState.READY, JobState.CLONING]
        assert all(states == [*expected, JobState.DONE] for states in seen.values())
        assert len(results) == 24
        assert sorted(r.job.voice_name for r in results) == sorted(f"voice {i}" for i in range(24))
        assert all(r.ok for r in results)
        assert all(r.voice is not None for r in results)
        assert all(r.error is None for r in results)
        assert {r.account for r in results} == set(ACCOUNTS)
        assert all(r.voice is not None and r.voice.account == r.account for r in results)
        assert max(fake.record.max_clones_in_flight.values()) == 2
        assert fake.record.rejected_over_capacity == 0
        assert len(fake.record.voices_created) == 24
        assert fake.record.uploads == 48  # two samples per job, each uploaded once
        assert progress.snapshot() == {
            "queued": 0,
            "uploading": 0,
            "ready": 0,
            "cloning": 0,
            "done": 24,
            "failed": 0,
        }
        assert sum(progress.by_account[a][JobState.DONE] for a in ACCOUNTS) == 24


async def test_a_run_fills_an_account_that_comes_back_into_rotation(wav_dir: Path) -> None:
    """A run keeps runners only for the room in use (one account, here), and grows again
    when room comes back: once the account on hold is back in rotation, both of its clone
    slots are used."""
    accounts = ACCOUNTS[:2]
    on_hold = accounts[1]
    fake = FakeMiniMax(accounts=accounts, clone_latency=0.01, max_voices_per_account=RAISED_SLOTS)
    fake.faults.add("voices", Fault(status=596, message="account on hold"), account=on_hold)
    async with fake:
        client = Client(
            token=fake.token,
            base_url=fake.base_url,
            accounts=accounts,
            max_voices_per_account=RAISED_SLOTS,
            retry=FAST_RETRY,
            account_cooldown=0.2,
        )
        async with client:
            # 120 clones of 10 ms, two at a time, take 0.6 s on one account alone.
            results = await collect(client.clone_many(jobs_from(wav_dir, 120, samples=1)))
    assert all(r.ok for r in results)
    assert len(fake.record.voices_created) == 120
    assert fake.record.max_clones_in_flight.get(on_hold) == 2
    assert fake.record.rejected_over_capacity == 0


async def test_two_readers_of_one_run_share_its_results(wav_dir: Path) -> None:
    """Two tasks iterating one run get every result once between them, and both stop."""
    fake, make_client = fake_and_client(latency=0.003)
    async with fake, make_client(fake) as client:
        run = client.clone_many(jobs_from(wav_dir, 12, samples=1))

        async def read() -> list[CloneResult]:
            return [result async for result in run]

        async with run:
            first, second = await asyncio.wait_for(asyncio.gather(read(), read()), 10)
    names = sorted(r.job.voice_name for r in [*first, *second])
    assert names == sorted(f"voice {i}" for i in range(12))
    assert all(r.ok for r in [*first, *second])


async def test_work_conservation_with_held_clones(wav_dir: Path) -> None:
    """A released clone is replaced on its account at once: no account idles while work waits."""
    fake, make_client = fake_and_client()
    rng = random.Random(7)
    async with fake, make_client(fake) as client:
        fake.gate.close()
        run = client.clone_many(jobs_from(wav_dir, 30, samples=1))
        async with run:
            collector = asyncio.ensure_future(collect(run))
            await fake.gate.wait_held(6)
            releases = 0
            while client.clone_statistics().unassigned_waiting:
                account = rng.choice(ACCOUNTS)
                assert fake.gate.release(1, account=account) == 1
                releases += 1
                # The freed slot is refilled by the next waiting job, on the same account,
                # with no help from the test: every account is back at 2 held clones.
                await asyncio.wait_for(fake.gate.wait_held(2, account=account), 5)
                assert [fake.gate.held(a) for a in ACCOUNTS] == [2, 2, 2]
            assert releases == 30 - 9  # 6 in flight + 3 admitted ahead (samples uploaded)
            # Each account then runs the job it holds ready, still two at a time.
            for account in ACCOUNTS:
                fake.gate.release(1, account=account)
                await asyncio.wait_for(fake.gate.wait_held(2, account=account), 5)
            fake.gate.open()
            results = await collector
        assert len(results) == 30
        assert all(r.ok for r in results)
        assert fake.record.max_clones_in_flight == dict.fromkeys(ACCOUNTS, 2)


async def test_jobs_pinned_to_a_busy_account_do_not_hold_up_the_others(wav_dir: Path) -> None:
    """Pinned jobs first in the list, all for one account: the jobs the client places still
    fill the other accounts at once, and the queue statistics count every waiting job."""
    fake, make_client = fake_and_client()
    pinned = [
        VoiceJob(f"pinned {i}", "English", wav_dir / "s0.wav", account=ACCOUNTS[0])
        for i in range(20)
    ]
    placed = jobs_from(wav_dir, 40, samples=1, prefix="placed")
    async with fake, make_client(fake) as client:
        fake.gate.close()
        async with client.clone_many([*pinned, *placed]) as run:
            for account in ACCOUNTS:
                await asyncio.wait_for(fake.gate.wait_held(2, account=account), 30)

            def settled() -> bool:
                # Six clones held, and the prefetched job of account 0 admitted (its sample
                # is read in a worker thread, which a loaded machine may delay).
                stats = client.clone_statistics()
                return stats.in_flight == 6 and stats.accounts[ACCOUNTS[0]].admitted == 3

            await wait_until(settled, limit=30)
            stats = client.clone_statistics()
            first = stats.accounts[ACCOUNTS[0]]
            # 100001: 2 pinned jobs cloning, 1 admitted ahead (waiting for a clone slot), 17
            # waiting to be admitted; the others took 2 + 1 placed jobs each, and the other
            # 34 wait for any account.
            assert (first.in_flight, first.admitted, first.waiting) == (2, 3, 1 + 17)
            assert stats.unassigned_waiting == 40 - 6
            assert stats.waiting == (1 + 17) + 1 + 1 + 34
            fake.gate.open()
            results = await collect(run)
    assert len(results) == 60
    assert all(r.ok for r in results)
    assert {r.account for r in results if r.job.voice_name.startswith("pinned")} == {ACCOUNTS[0]}
    assert fake.record.max_clones_in_flight == dict.fromkeys(ACCOUNTS, 2)


async def test_jobs_pinned_by_file_id_queue_without_a_task_each(wav_dir: Path) -> None:
    """300 jobs pinned by their file ids, behind a held server: each account runs them with
    as many runners as it has clone slots, not a task per job, in the list's order; the
    queue statistics still count every waiting job, and every job ends in one result."""
    fake, make_client = fake_and_client()
    async with fake, make_client(fake) as client:
        file_ids = [
            (await client.upload_sample(wav_dir / "s0.wav", account=account)).file_id
            for account in ACCOUNTS
        ]
        jobs = [VoiceJob(f"voice {i}", "English", file_ids[i % 3]) for i in range(300)]
        fake.gate.close()
        async with client.clone_many(jobs) as run:
            for account in ACCOUNTS:
                await asyncio.wait_for(fake.gate.wait_held(2, account=account), 5)
            stats = client.clone_statistics()
            assert stats.in_flight == 6
            assert stats.waiting == 300 - 6
            assert all(a.waiting == 100 - 2 for a in stats.accounts.values())
            # Far fewer tasks than jobs: the runners (2 per account), the run, the fake
            # server's handlers of the held clones, this test.
            assert len(asyncio.all_tasks()) < 40
            fake.gate.open()
            results = await collect(run)
    assert sorted(r.job.voice_name for r in results) == sorted(j.voice_name for j in jobs)
    assert all(r.ok for r in results)
    assert {r.account for r in results if r.job.voice_name == "voice 4"} == {ACCOUNTS[1]}
    assert fake.record.max_clones_in_flight == dict.fromkeys(ACCOUNTS, 2)
    # Each account's jobs were sent in the list's order.
    for k, account in enumerate(ACCOUNTS):
        sent = [b["voice_name"] for b in fake.record.clone_bodies if b["account"] == account]
        assert sent == [f"voice {i}" for i in range(k, 300, 3)]


async def test_progress_counts_every_job_as_queued_from_the_start(wav_dir: Path) -> None:
    """As soon as the run is entered, before any request, every job is counted as queued
    (pooled and pinned ones alike), and listeners have heard of each."""
    fake, make_client = fake_and_client()
    jobs = [
        *jobs_from(wav_dir, 5, samples=1),
        VoiceJob("pinned", "English", wav_dir / "s0.wav", account=ACCOUNTS[0]),
    ]
    heard: list[str] = []
    progress = CloneProgress()
    progress.subscribe(
        lambda _, job, state, __: heard.append(job.voice_name) if state is JobState.QUEUED else None
    )
    async with fake, make_client(fake) as client, client.clone_many(jobs, progress=progress) as run:
        assert run.progress.total == 6
        assert run.progress.snapshot()["queued"] == 6
        assert heard == [job.voice_name for job in jobs]
        assert fake.record.total_requests == 0
        results = await collect(run)
    assert len(results) == 6
    assert all(r.ok for r in results)
    assert progress.snapshot()["done"] == 6


async def test_thirteenth_job_fails_fast_with_real_slot_limit(wav_dir: Path) -> None:
    """4 voices per account, 3 accounts: 12 jobs succeed, the 13th never reaches the server."""
    fake, make_client = fake_and_client(slots=4)
    async with fake, make_client(fake) as client:
        results = await collect(client.clone_many(jobs_from(wav_dir, 13, samples=1)))
        ok = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        assert len(ok) == 12
        assert len(failed) == 1
        assert isinstance(failed[0].error, VoiceSlotsExhaustedError)
        assert failed[0].error.counts == dict.fromkeys(ACCOUNTS, 4)
        assert all(a in str(failed[0].error) for a in ACCOUNTS)
        assert fake.record.requests["clone-voice"] == 12
        assert fake.record.uploads == 12
        assert Counter(r.account for r in ok) == dict.fromkeys(ACCOUNTS, 4)
        # and once full, a further job fails at once, before any upload
        with pytest.raises(VoiceSlotsExhaustedError):
            await client.clone_from_samples(jobs_from(wav_dir, 1, prefix="late")[0])
        assert fake.record.uploads == 12


async def test_hundred_temporary_voices_over_three_accounts(wav_dir: Path) -> None:
    """100 concurrent clone-use-delete cycles with 4 voice slots per account all succeed."""
    fake, make_client = fake_and_client(slots=4)
    async with fake, make_client(fake) as client:
        sample = (await client.upload_sample(wav_dir / "s0.wav", account="100001")).file_id
        del sample  # uploads for temporary voices happen per job, on the account it lands on

        async def cycle(job: VoiceJob) -> str:
            async with client.temporary_voice(job) as voice:
                assert voice.voice_id is not None
                clip = await client.create_mp3("Hello there.", voice.voice_id)
                assert clip.audio_id
                return voice.voice_id

        used = await asyncio.gather(*(cycle(j) for j in jobs_from(wav_dir, 100, samples=1)))
        assert len(set(used)) == 100
        assert all(fake.voices(a) == [] for a in ACCOUNTS)
        assert max(fake.record.max_clones_in_flight.values()) <= 2
        assert len({v.account for v in fake.record.voices_created}) == 3


async def test_temporary_voice_deleted_on_error_and_cancellation(wav_dir: Path) -> None:
    """temporary_voice deletes its voice when the block raises or is cancelled."""
    fake, make_client = fake_and_client(slots=4)
    async with fake, make_client(fake) as client:
        job = jobs_from(wav_dir, 1, samples=1)[0]
        with pytest.raises(KeyError):
            async with client.temporary_voice(job):
                raise KeyError("boom")
        assert all(fake.voices(a) == [] for a in ACCOUNTS)
        entered = asyncio.Event()

        async def hold() -> None:
            async with client.temporary_voice(job):
                entered.set()
                await asyncio.sleep(60)

        task = asyncio.ensure_future(hold())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert all(fake.voices(a) == [] for a in ACCOUNTS)


async def test_delete_lets_waiting_job_proceed(wav_dir: Path) -> None:
    """A job waiting for a voice slot starts as soon as the client deletes a voice."""
    async with (
        FakeMiniMax(accounts=["100001"], clone_latency=0.001) as fake,
        Client(token=fake.token, base_url=fake.base_url, accounts=["100001"]) as client,
    ):
        old = [fake.add_voice("100001", f"old {i}") for i in range(3)]
        fake.gate.close()
        first = asyncio.ensure_future(client.clone_from_samples(jobs_from(wav_dir, 1)[0]))
        await fake.gate.wait_held(1)
        # 3 voices + 1 in flight = 4: the next job must wait (the clone might still fail).
        second = asyncio.ensure_future(
            client.clone_from_samples(jobs_from(wav_dir, 1, prefix="second")[0])
        )
        await wait_until(lambda: client.clone_statistics().accounts["100001"].waiting == 1)
        assert not second.done()
        await client.delete_voice(str(old[0]["voice_id"]))
        await asyncio.wait_for(fake.gate.wait_held(2), 5)
        fake.gate.open()
        assert (await first).voice_name == "voice 0"
        assert (await second).voice_name == "second 0"
        assert len(fake.voices("100001")) == 4


async def test_pinned_jobs_and_clone_voice_share_queues(wav_dir: Path) -> None:
    """clone_voice calls and pinned jobs on one account stay within 2 in flight together."""
    fake, make_client = fake_and_client(latency=(0.002, 0.01))
    async with fake, make_client(fake) as client:
        file_id = (await client.upload_sample(wav_dir / "s1.wav", account="100002")).file_id
        jobs = [
            VoiceJob(f"job {i}", "English", [wav_dir / "s0.wav"], account="100002")
            for i in range(10)
        ]
        clones = [
            client.clone_voice(CloneVoiceRequest(f"req {i}", "English", [file_id]))
            for i in range(10)
        ]
        results, voices = await asyncio.gather(
            collect(client.clone_many(jobs)), asyncio.gather(*clones)
        )
        assert all(r.ok for r in results)
        assert {r.account for r in results} == {"100002"}
        assert len(voices) == 10
        assert fake.record.max_clones_in_flight == {"100002": 2}


async def test_file_ids_in_samples_pin_the_job(wav_dir: Path) -> None:
    """A job whose samples include an uploaded file id runs on that file's account."""
    fake, make_client = fake_and_client()
    async with fake, make_client(fake) as client:
        file_id = (await client.upload_sample(wav_dir / "s2.wav", account="100003")).file_id
        voice = await client.clone_from_samples(
            VoiceJob("mixed", "English", [file_id, wav_dir / "s0.wav"])
        )
        assert voice.account == "100003"
        body = fake.record.clone_bodies[-1]
        assert isinstance(body["files"], str)
        assert body["files"].count(",") == 1


def _bad_files(tmp: Path) -> dict[str, tuple[list[object], str]]:
    (tmp / "short.wav").write_bytes(make_wav(4))
    (tmp / "long.wav").write_bytes(make_wav(61))
    (tmp / "short.mp3").write_bytes(make_mp3(5))
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "text.wav").write_text("not audio at all")
    (tmp / "text.mp3").write_text("not audio either")
    (tmp / "sample.ogg").write_bytes(make_wav(11))
    (tmp / "folder.wav").mkdir()
    (tmp / "ok.wav").write_bytes(make_wav(11))
    unreadable = tmp / "locked.wav"
    for candidate in ("/sys/bus/platform/uevent", "/sys/kernel/uevent_helper"):
        if os.path.exists(candidate):  # write-only even for root
            unreadable.symlink_to(candidate)
            break
    else:  # pragma: no cover - depends on the machine
        unreadable.write_bytes(make_wav(11))
        unreadable.chmod(0)
    ok = tmp / "ok.wav"
    return {
        "too-short-wav": ([ok, tmp / "short.wav"], "long; samples must be 10"),
        "too-long-wav": ([tmp / "long.wav"], "long; samples must be 10"),
        "too-short-mp3": ([tmp / "short.mp3"], "long; samples must be 10"),
        "empty": ([tmp / "empty.wav"], "empty"),
        "text-as-wav": ([tmp / "text.wav"], "WAV"),
        "text-as-mp3": ([ok, tmp / "text.mp3"], "MP3"),
        "not-audio-bytes": ([b"hello, world" * 100], "not an MP3 or WAV"),
        "wrong-extension": ([tmp / "sample.ogg"], "unsupported file type"),
        "missing": ([tmp / "nope.wav"], "no such file"),
        "directory": ([tmp / "folder.wav"], "directory"),
        "unreadable": ([unreadable], "cannot be read"),
    }


BAD_IDS = [
    "too-short-wav",
    "too-long-wav",
    "too-short-mp3",
    "empty",
    "text-as-wav",
    "text-as-mp3",
    "not-audio-bytes",
    "wrong-extension",
    "missing",
    "directory",
    "unreadable",
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c) for c in BAD_IDS])
async def test_bad_local_files_fail_before_upload(case: str, tmp_path: Path) -> None:
    """A bad sample is a specific InvalidSampleError naming it; nothing of the job is uploaded."""
    samples, reason = _bad_files(tmp_path)[case]
    fake, make_client = fake_and_client()
    async with fake, make_client(fake) as client:
        job = VoiceJob("bad", "English", samples)  # type: ignore[arg-type]
        with pytest.raises(InvalidSampleError) as info:
            await client.clone_from_samples(job)
        assert reason in str(info.value)
        bad = samples[-1]
        assert (str(bad) if isinstance(bad, Path) else "<bytes #") in str(info.value)
        results = await collect(client.clone_many([job]))
        assert isinstance(results[0].error, InvalidSampleError)
        assert fake.record.total_requests == 0


def test_eleven_samples_refused_when_building_the_job(wav_dir: Path) -> None:
    """A job with 11 samples cannot be built: ValidationError naming the limit."""
    with pytest.raises(ValidationError, match="give 1 to 10"):
        VoiceJob("eleven", "English", [wav_dir / "s0.wav"] * 11)


async def test_one_failing_job_does_not_stop_the_others(wav_dir: Path, tmp_path: Path) -> None:
    """clone_many yields an error result for a bad job and voices for the rest."""
    (tmp_path / "short.wav").write_bytes(make_wav(3))
    fake, make_client = fake_and_client()
    async with fake, make_client(fake) as client:
        jobs = [*jobs_from(wav_dir, 5), VoiceJob("broken", "English", [tmp_path / "short.wav"])]
        results = await collect(client.clone_many(jobs))
        assert len(results) == 6
        assert [r.job.voice_name for r in results if not r.ok] == ["broken"]
        assert len(fake.record.voices_created) == 5


async def test_leaving_clone_many_early_cancels_the_rest(wav_dir: Path) -> None:
    """Breaking out of clone_many inside `async with` cancels pending jobs and leaks nothing."""
    fake, make_client = fake_and_client()
    async with fake, make_client(fake) as client:
        async with client.clone_many(jobs_from(wav_dir, 40, samples=1)) as run:
            async for _ in run:
                break
        stats = client.clone_statistics()
        assert (stats.in_flight, stats.waiting) == (0, 0)
        assert all(a.admitted == 0 for a in stats.accounts.values())
        voice = await client.clone_from_samples(jobs_from(wav_dir, 1, prefix="after")[0])
        assert voice.voice_name == "after 0"


async def test_reuse_uploads_uploads_once_per_account(wav_dir: Path) -> None:
    """With reuse_uploads, jobs sharing a recording upload it once per account, not per job."""
    shared = (wav_dir / "s0.wav").read_bytes()
    async with serve(ACCOUNTS, slots=50, latency=0.002, reuse_uploads=True) as (fake, client):
        jobs = [VoiceJob(f"take {i}", "English", [shared]) for i in range(24)]
        results = await collect(client.clone_many(jobs))
        assert all(r.ok for r in results)
        assert {r.account for r in results} == set(ACCOUNTS)
        assert fake.record.uploads == 3
        assert len(fake.record.voices_created) == 24


async def test_jobs_with_reused_uploads_are_not_tied_to_an_account_early(wav_dir: Path) -> None:
    """Once a shared recording is on every account, its jobs wait unassigned for a free slot."""
    shared = (wav_dir / "s1.wav").read_bytes()
    async with serve(ACCOUNTS, slots=50, latency=0.001, reuse_uploads=True) as (fake, client):
        warm = [VoiceJob(f"warm {a}", "English", [shared], account=a) for a in ACCOUNTS]
        assert all(r.ok for r in await collect(client.clone_many(warm)))
        fake.gate.close()
        async with client.clone_many(
            [VoiceJob(f"take {i}", "English", [shared]) for i in range(12)]
        ) as run:
            await fake.gate.wait_held(6)
            stats = client.clone_statistics()
            assert stats.in_flight == 6
            assert stats.unassigned_waiting == 6  # none admitted ahead of a free slot
            fake.gate.open()
            assert all(r.ok for r in [r async for r in run])
        assert fake.record.uploads == 3
