"""``minimax-async clone --coordinator URL --namespace NS``: CLI runs sharing accounts."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest

from minimax_async.testing import FakeMiniMax
from tests.fleet.harness import LIVENESS_TTL
from tests.functional.cli_support import (
    CLI_TIMEOUT,
    run_cli,
    run_cli_in_process,
    start_cli,
    write_csv,
    write_samples,
)

pytestmark = pytest.mark.anyio


#: Rows of each of the two manifests.
CLI_ROWS = 6
#: Clones outlast the wait for the dead run's lease, so the resumed run finds them on the wire.
CLI_CLONE_LATENCY = (2.0, 2.5)
#: Longer than a clone: the resumed job waits that long, then finds the voice and adopts it.
CLI_INFLIGHT_HOLD = 3.5


async def wait_for_results(path: Path, count: int) -> None:
    """Poll until the results file ``path`` (another process writes it) holds ``count``
    result lines."""

    def results() -> int:
        return path.read_text().count('"type":"result"') if path.exists() else 0

    while results() < count:  # noqa: ASYNC110 - a file another process writes: nothing to await
        await asyncio.sleep(0.02)


def _manifest(folder: Path) -> Path:
    samples = write_samples(folder / "samples", 1)
    return write_csv(folder / "manifest.csv", [("Voice 1", "English", str(samples[0]), "", "")])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("--coordinator", "http://:Sup3rSecretPw@cache:6379/0"),
            "--coordinator must be a redis://, rediss:// or unix:// URL",
            id="not-a-redis-url",
        ),
        pytest.param(
            ("--coordinator", "redis://:Sup3rSecretPw@cache:6379/0", "--namespace", " "),
            "--namespace must not be empty",
            id="empty-namespace",
        ),
    ],
)
async def test_bad_coordinator_options_exit_2_without_showing_the_password(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    """A bad --coordinator or --namespace is a usage error, and the URL's password is hidden."""
    manifest = _manifest(tmp_path)
    results = tmp_path / "results.jsonl"
    run = await run_cli_in_process(
        "clone", str(manifest), "--results", str(results), *args,
        token=None, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 2, run.output
    assert message in run.output
    assert "Sup3rSecretPw" not in run.output
    assert not results.exists()


async def test_coordinator_url_from_the_environment_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """MINIMAX_ASYNC_COORDINATOR stands in for --coordinator."""
    monkeypatch.setenv("MINIMAX_ASYNC_COORDINATOR", "memcached://cache:11211")
    manifest = _manifest(tmp_path)
    run = await run_cli_in_process(
        "clone", str(manifest), "--results", str(tmp_path / "results.jsonl"),
        token=None, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 2, run.output
    assert "--coordinator must be a redis://" in run.output


async def test_clone_runs_share_accounts_and_a_resumed_run_adopts_a_killed_run_clones(
    tmp_path: Path, redis_url: str, redis_namespace: str
) -> None:
    """Two coordinated clone runs on the same accounts keep 2 clones per account between them;
    one is SIGKILLed with clones on the wire, and its resumed run (--settle 0: no waiting of
    the CLI's own) adopts them through the coordinator's intent records once they end:
    every voice exists once."""
    accounts = ("100001", "100002")
    async with FakeMiniMax(
        accounts=accounts,
        max_parallel_clones=64,  # records an overshoot instead of refusing it
        max_voices_per_account=40,
        clone_latency=CLI_CLONE_LATENCY,
        cancel_on_disconnect=False,
    ) as fake:
        samples = write_samples(tmp_path / "samples", 1)
        manifests = [
            write_csv(
                tmp_path / f"part{part}.csv",
                [
                    (f"Part{part} {i:02d}", "English", str(samples[0]), accounts[i % 2], "")
                    for i in range(CLI_ROWS)
                ],
            )
            for part in (1, 2)
        ]
        shared = (
            "--coordinator", redis_url, "--namespace", redis_namespace, "--settle", "0",
            "--liveness-ttl", f"{LIVENESS_TTL:g}", "--inflight-hold", f"{CLI_INFLIGHT_HOLD:g}",
        )  # fmt: skip

        def args(part: int) -> list[str]:
            return [
                "--base-url", fake.base_url, "--accounts", ",".join(accounts), "clone",
                str(manifests[part - 1]), "--results", str(tmp_path / f"part{part}.jsonl"),
                "--voice-slots", "40", *shared,
            ]  # fmt: skip

        other = asyncio.ensure_future(run_cli(*args(2), token=fake.token))
        with (tmp_path / "first.err").open("wb") as err:
            first = await start_cli(*args(1), token=fake.token, stdout=err, stderr=err)
            await asyncio.wait_for(wait_for_results(tmp_path / "part1.jsonl", 2), CLI_TIMEOUT)
            assert fake.record.clones_in_flight
            first.send_signal(signal.SIGKILL)
            await asyncio.wait_for(first.wait(), CLI_TIMEOUT)
        # Until its lease lapses the dead run still holds its names (one live job per name):
        # resumed sooner, those jobs would fail with DuplicateVoiceNameError. Its clones are
        # still running on the server when the resumed run lists the accounts.
        await asyncio.sleep(LIVENESS_TTL * 4 / 3 + 0.5)
        resumed = await run_cli(*args(1), token=fake.token)
        assert resumed.status == 0, resumed.output
        assert (await other).status == 0
        assert max(fake.record.max_clones_in_flight.values()) <= 2, fake.record.max_clones_in_flight
        names = Counter(voice.voice_name for voice in fake.record.voices_created)
        assert len(names) == 2 * CLI_ROWS
        assert set(names.values()) == {1}, names
