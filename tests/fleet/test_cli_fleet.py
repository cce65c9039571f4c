"""``minimax-async clone --coordinator URL --namespace NS``: CLI runs sharing accounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.cli_support import run_cli_in_process, write_csv, write_samples

pytestmark = pytest.mark.anyio


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
