"""Helpers for the command-line tests: run ``python -m minimax_async`` as a subprocess,
write manifests and sample files, read results files.

The subprocess talks to a fake server that the test's own event loop serves, so every CLI
run is awaited with ``asyncio.create_subprocess_exec``, never with a blocking call.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Final

import anyio.to_thread
import attrs
import pytest

from minimax_async.cli import main
from minimax_async.testing import make_wav

__all__ = [
    "CliRun",
    "cli_env",
    "read_results",
    "result_lines",
    "run_cli",
    "run_cli_in_process",
    "start_cli",
    "write_csv",
    "write_samples",
]

#: Seconds one CLI run may take before the test gives up on it.
CLI_TIMEOUT: Final = 45.0
SAMPLE_SECONDS: Final = 10.5


@attrs.frozen
class CliRun:
    """How one CLI run ended."""

    status: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr


def cli_env(token: str | None, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: ours without any token, plus ``token`` if given."""
    env = {k: v for k, v in os.environ.items() if k not in ("USEAPI_TOKEN", "FORCE_COLOR")}
    env.update(COLUMNS="200", NO_COLOR="1", TTY_INTERACTIVE="0")
    if token is not None:
        env["USEAPI_TOKEN"] = token
    env.update(extra)
    return env


async def start_cli(
    *args: str,
    token: str | None,
    stdout: IO[bytes] | int = asyncio.subprocess.PIPE,
    stderr: IO[bytes] | int = asyncio.subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    stdin: int = asyncio.subprocess.DEVNULL,
) -> asyncio.subprocess.Process:
    """Start ``python -m minimax_async ARGS`` with ``token`` as ``USEAPI_TOKEN``."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "minimax_async",
        *args,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=dict(env) if env is not None else cli_env(token),
    )


async def run_cli(
    *args: str,
    token: str | None,
    env: Mapping[str, str] | None = None,
    answer: str | None = None,
) -> CliRun:
    """Run ``python -m minimax_async ARGS`` to its end; ``answer`` is written to its stdin
    (else stdin is closed: a prompt sees no answer)."""
    stdin = asyncio.subprocess.PIPE if answer is not None else asyncio.subprocess.DEVNULL
    process = await start_cli(*args, token=token, env=env, stdin=stdin)
    data = answer.encode() if answer is not None else None
    out, err = await asyncio.wait_for(process.communicate(data), CLI_TIMEOUT)
    assert process.returncode is not None
    return CliRun(process.returncode, out.decode(), err.decode())


def _call_main(args: Sequence[str]) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


async def run_cli_in_process(
    *args: str,
    token: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliRun:
    """Run the CLI's ``main`` in a worker thread (fast: no interpreter start-up), while the
    test's event loop goes on serving the fake server."""
    monkeypatch.delenv("USEAPI_TOKEN", raising=False)
    if token is not None:
        monkeypatch.setenv("USEAPI_TOKEN", token)
    status = await anyio.to_thread.run_sync(_call_main, args)
    captured = capsys.readouterr()
    return CliRun(status, captured.out, captured.err)


def write_samples(folder: Path, count: int, *, seconds: float = SAMPLE_SECONDS) -> list[Path]:
    """``count`` valid WAV samples (8 kHz tones of different pitches) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"sample-{i}.wav"
        path.write_bytes(make_wav(seconds, frequency=150.0 + 20.0 * i))
        paths.append(path)
    return paths


def write_csv(path: Path, rows: Sequence[Sequence[str]], header: str | None = None) -> Path:
    """A CSV manifest (values are written as given, joined by commas)."""
    lines = [header or "voice_name,language_tag,samples,account,need_noise_reduction"]
    lines += [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_results(path: Path) -> list[dict[str, object]]:
    """Every line of a results file, parsed."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def result_lines(path: Path) -> list[dict[str, object]]:
    """The ``result`` lines of a results file."""
    return [r for r in read_results(path) if r.get("type") == "result"]
