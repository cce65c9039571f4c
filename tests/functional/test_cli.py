"""The ``minimax-async`` command line, end to end against the fake server.

Most tests run ``python -m minimax_async`` as a subprocess while the test's event loop serves
the fake; the table of bad manifests calls the same entry point in a worker thread, which is
as faithful for checks that happen before any request and much faster.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minimax_async.cli import INSTALL_HINT
from minimax_async.testing import FakeMiniMax, make_wav

from .cli_support import (
    CLI_TIMEOUT,
    cli_env,
    read_results,
    result_lines,
    run_cli,
    run_cli_in_process,
    start_cli,
    write_csv,
    write_samples,
)

ACCOUNTS = ("100001", "100002", "100003")
EXAMPLES = Path(__file__).parents[2] / "examples"
MANY_SLOTS = 12
BULK_ROWS = 30
KILLED_ROWS = 12
RESULTS_BEFORE_KILL = 3
# Clones (1-1.5 s) outlast the CLI's start-up, so the resumed run lists the accounts while the
# killed run's clones are still running on the server: without waiting for them (--settle 0)
# it clones them again. The settle time covers one clone plus the heartbeat's second.
SHORT_SETTLE = "3"
POLL_SECONDS = 0.02
LANGUAGES = ("English", "Italian", "French", "German", "Spanish", "Japanese")


@pytest.fixture
async def fast_fake() -> AsyncIterator[FakeMiniMax]:
    """Three accounts, room for 12 voices each, clones of 10-50 ms."""
    async with FakeMiniMax(
        accounts=ACCOUNTS,
        max_voices_per_account=MANY_SLOTS,
        clone_latency=(0.01, 0.05),
        retry_after=0.05,
    ) as server:
        yield server


def bulk_manifest(folder: Path, rows: int) -> Path:
    """A manifest of ``rows`` unpinned voices over three shared sample files."""
    samples = write_samples(folder / "samples", 3)
    return write_csv(
        folder / "manifest.csv",
        [
            (
                f"Voice {i:02d}",
                LANGUAGES[i % len(LANGUAGES)],
                f"samples/{samples[i % 3].name}",
                "",
                "",
            )
            for i in range(rows)
        ],
    )


def clone_args(fake: FakeMiniMax, manifest: Path, results: Path, *extra: str) -> list[str]:
    """``--base-url URL clone MANIFEST --results FILE`` with room for 12 voices per account."""
    return [
        "--base-url", fake.base_url, "clone", str(manifest), "--results", str(results),
        "--voice-slots", str(MANY_SLOTS), *extra,
    ]  # fmt: skip


def created_names(fake: FakeMiniMax) -> Counter[str]:
    """How often the server created each voice name."""
    return Counter(voice.voice_name for voice in fake.record.voices_created)


# ---------------------------------------------------------------------- bulk clone, resume


@pytest.mark.anyio
async def test_thirty_rows_complete_and_a_second_run_clones_nothing(
    fast_fake: FakeMiniMax, tmp_path: Path
) -> None:
    """30 rows: 30 done results, 30 voices on the server; a rerun skips them all."""
    manifest = bulk_manifest(tmp_path, BULK_ROWS)
    results = tmp_path / "results.jsonl"
    run = await run_cli(*clone_args(fast_fake, manifest, results), token=fast_fake.token)
    assert run.status == 0, run.output
    done = [r for r in result_lines(results) if r["status"] == "done"]
    assert len(done) == BULK_ROWS
    assert len({r["voice_id"] for r in done}) == BULK_ROWS
    assert len(fast_fake.record.voices_created) == BULK_ROWS
    assert set(created_names(fast_fake).values()) == {1}
    assert "progress:" in run.stderr  # plain lines, not a live display, in a pipe
    clones_before = fast_fake.record.requests["clone-voice"]
    again = await run_cli(*clone_args(fast_fake, manifest, results), token=fast_fake.token)
    assert again.status == 0, again.output
    assert fast_fake.record.requests["clone-voice"] == clones_before
    assert f"{BULK_ROWS} of {BULK_ROWS} job(s) already done" in again.stderr
    kinds = [r["type"] for r in read_results(results)]
    assert kinds.count("run") == 2
    assert kinds.count("end") == 2


def count_results(path: Path) -> int:
    """The ``result`` lines in ``path`` so far (0 before it exists)."""
    return path.read_text().count('"type":"result"') if path.exists() else 0


async def wait_for_results(path: Path, count: int) -> None:
    """Poll until ``path`` holds ``count`` result lines."""
    # Another process writes the file: there is no event to wait on, only the file to poll.
    while count_results(path) < count:  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(signal.SIGKILL, id="sigkill-with-clones-in-flight"),
        pytest.param(signal.SIGINT, id="ctrl-c-with-clones-in-flight"),
    ],
)
async def test_interrupted_run_resumes_cloning_each_voice_exactly_once(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """Stopped mid-run with clones in flight, a second run finishes: each voice created once."""
    async with FakeMiniMax(
        accounts=ACCOUNTS,
        max_voices_per_account=MANY_SLOTS,
        clone_latency=(1.0, 1.5),
        retry_after=0.05,
    ) as fake:
        manifest = bulk_manifest(tmp_path, KILLED_ROWS)
        results = tmp_path / "results.jsonl"
        args = clone_args(fake, manifest, results, "--settle", SHORT_SETTLE)
        with (tmp_path / "first.out").open("wb") as out, (tmp_path / "first.err").open("wb") as err:
            first = await start_cli(*args, token=fake.token, stdout=out, stderr=err)
            await asyncio.wait_for(wait_for_results(results, RESULTS_BEFORE_KILL), CLI_TIMEOUT)
            assert sum(fake.record.clones_in_flight.values()) > 0
            first.send_signal(stop)
            status = await asyncio.wait_for(first.wait(), CLI_TIMEOUT)
        first_err = (tmp_path / "first.err").read_text()
        if stop is signal.SIGINT:
            assert status == 130, first_err
            assert "To resume, run:" in first_err
            last = read_results(results)[-1]
            assert (last["type"], last["status"]) == ("end", "interrupted")
        else:
            assert status == -signal.SIGKILL
        recorded = len(result_lines(results))
        assert recorded < KILLED_ROWS

        second = await run_cli(*args, token=fake.token)
        assert second.status == 0, second.output
        done = {r["voice_name"] for r in result_lines(results) if r["status"] == "done"}
        assert len(done) == KILLED_ROWS
        names = created_names(fake)
        assert len(fake.record.voices_created) == KILLED_ROWS, names
        assert set(names.values()) == {1}
        assert any(r.get("adopted") for r in result_lines(results))


@pytest.mark.anyio
async def test_failed_jobs_exit_1_with_their_error_in_the_results(tmp_path: Path) -> None:
    """With --allow-partial, a job that cannot get a voice slot is a failed result and the
    exit status is 1."""
    async with FakeMiniMax(
        accounts=["100001"], max_voices_per_account=1, clone_latency=0.01
    ) as fake:
        samples = write_samples(tmp_path, 1)
        manifest = write_csv(
            tmp_path / "m.csv",
            [
                ("One", "English", samples[0].name, "", ""),
                ("Two", "English", samples[0].name, "", ""),
            ],
        )
        results = tmp_path / "r.jsonl"
        run = await run_cli(
            "--base-url", fake.base_url, "clone", str(manifest), "--results", str(results),
            "--voice-slots", "1", "--allow-partial", token=fake.token,
        )  # fmt: skip
    assert run.status == 1, run.output
    statuses = sorted(str(r["status"]) for r in result_lines(results))
    assert statuses == ["done", "failed"]
    failed = next(r for r in result_lines(results) if r["status"] == "failed")
    error = failed["error"]
    assert isinstance(error, dict)
    assert error["type"] == "VoiceSlotsExhaustedError"


# ---------------------------------------------------------------------- bad manifests

WAV_OK = "ok.wav"
WAV_SHORT = "short.wav"
NOT_AUDIO = "notes.wav"
HEADER = "voice_name,language_tag,samples,account,need_noise_reduction"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param(
            "m.csv",
            "voice_name,language_tag\nA,English\n",
            ["line 1: the header lacks samples"],
            id="missing-column",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER},colour\nA,English,ok.wav,,,red\n",
            ["line 1: unknown column(s) 'colour'"],
            id="unknown-column",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER}\nA,English,{WAV_OK},,\n{'x' * 31},English,{WAV_OK},,\n",
            ["line 3: voice_name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is 31 characters long"],
            id="name-too-long",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER}\nA,English,,,\n,English,{WAV_OK},,\n",
            ["line 2: missing samples", "line 3: missing voice_name"],
            id="missing-values",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER}\nA,English,{WAV_OK},,\nB,English,missing.wav,,\n",
            ["line 3: sample 'missing.wav': no such file"],
            id="missing-sample-file",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER}\nA,English,{NOT_AUDIO},,\nB,English,{WAV_SHORT},,\n",
            [
                "line 2: sample 'notes.wav': not a valid WAV file",
                "line 3: sample 'short.wav': is 5.0 s long",
            ],
            id="bad-sample-files",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER}\nA,English,{';'.join([WAV_OK] * 11)},,\n",
            ["line 2: 11 samples; a voice takes at most 10"],
            id="too-many-samples",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER}\nA,English,{WAV_OK},100001,\nA,English,{WAV_OK},100001,\nA,French,{WAV_OK},100002,\n",
            ["line 3: voice_name 'A' on account 100001 duplicates line 2"],
            id="duplicate-on-one-account",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER}\nA,English,{WAV_OK},100001,\nA,English,{WAV_OK},,\n",
            ["line 3: voice_name 'A' on any account duplicates line 2"],
            id="duplicate-with-any-account",
        ),
        pytest.param(
            "m.csv",
            f"{HEADER}\nA,English,{WAV_OK},,maybe\n",
            ["line 2: need_noise_reduction 'maybe' is not true or false"],
            id="bad-noise-reduction",
        ),
        pytest.param(
            "m.jsonl",
            '{"voice_name": "A", "language_tag": "English", "samples": ["ok.wav"]}\n'
            '{"voice_name": "B",\n'
            '{"voice_name": "C", "samples": "ok.wav"}\n'
            "[1, 2]\n",
            ["line 2: not valid JSON", "line 3: missing language_tag", "line 4: not a JSON object"],
            id="bad-json-lines",
        ),
        pytest.param("m.csv", f"{HEADER}\n", ["no rows"], id="empty"),
    ],
)
async def test_bad_manifest_lists_every_problem_and_sends_nothing(
    fake: FakeMiniMax,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    expected: list[str],
) -> None:
    """Each bad row is reported with its line number; exit 2, no request, no results file."""
    (tmp_path / WAV_OK).write_bytes(make_wav(10.5))
    (tmp_path / WAV_SHORT).write_bytes(make_wav(5.0))
    (tmp_path / NOT_AUDIO).write_text("not audio at all")
    manifest = tmp_path / name
    manifest.write_text(text, encoding="utf-8")
    results = tmp_path / "results.jsonl"
    run = await run_cli_in_process(
        "--base-url", fake.base_url, "clone", str(manifest), "--results", str(results),
        token=fake.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 2, run.output
    for message in expected:
        assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert fake.record.total_requests == 0
    assert not results.exists()


@pytest.mark.anyio
async def test_unknown_account_and_language_exit_2_before_the_results_file(
    fast_fake: FakeMiniMax, tmp_path: Path
) -> None:
    """Rows naming an unconfigured account or an unknown language stop the run, unwritten."""
    samples = write_samples(tmp_path, 1)
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            ("A", "English", samples[0].name, "999999", ""),
            ("B", "Klingon", samples[0].name, "", ""),
        ],
    )
    results = tmp_path / "results.jsonl"
    run = await run_cli(*clone_args(fast_fake, manifest, results), token=fast_fake.token)
    assert run.status == 2, run.output
    assert "line 2: account '999999' is not one of the configured accounts" in run.stderr
    assert "line 3: language_tag 'Klingon' is not one of the API's languages" in run.stderr
    assert not results.exists()
    assert fast_fake.record.requests["clone-voice"] == fast_fake.record.uploads == 0


# ---------------------------------------------------------------------- the token


def files_containing(folder: Path, text: str, *, but: Path) -> list[Path]:
    """Files under ``folder`` (except ``but``) that contain ``text``."""
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and path != but and text.encode() in path.read_bytes()
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "case",
    [
        pytest.param("clone", id="successful-clone"),
        pytest.param("refused", id="refused-token"),
        pytest.param("in-base-url", id="token-inside-a-bad-base-url"),
        pytest.param("on-hold", id="account-on-hold"),
        pytest.param("as-argument", id="token-pasted-as-the-manifest"),
    ],
)
async def test_the_token_never_appears_in_output_or_files(
    fast_fake: FakeMiniMax, tmp_path: Path, case: str
) -> None:
    """With --debug, on success and on errors, neither stdout, stderr nor files show it."""
    token = fast_fake.token
    samples = write_samples(tmp_path / "s", 1)
    manifest = write_csv(tmp_path / "m.csv", [("A", "English", f"s/{samples[0].name}", "", "")])
    results = tmp_path / "results.jsonl"
    token_file = tmp_path / "token.txt"
    base_url = fast_fake.base_url
    extra: tuple[str, ...] = ()
    manifest_argument = str(manifest)
    expected = 0
    if case == "refused":
        token = "user:1234-WrongToken987654321"
        expected = 1
    elif case == "in-base-url":
        base_url = f"http://example.com/{token}/v1/minimax"
        expected = 2
    elif case == "on-hold":
        fast_fake.set_account_status("100001", 596)
        extra = ("--accounts", "100001")
        expected = 1
    elif case == "as-argument":
        manifest_argument = token
        expected = 2
    token_file.write_text(token + "\n")
    run = await run_cli(
        "--debug", "--base-url", base_url, "--token-file", str(token_file), *extra,
        "clone", manifest_argument, "--results", str(results), "--voice-slots", "4", token=None,
    )  # fmt: skip
    assert run.status == expected, run.output
    secret = token.partition("-")[2]
    assert secret not in run.output
    assert files_containing(tmp_path, secret, but=token_file) == []
    if case not in ("clone", "as-argument"):
        assert "Traceback" in run.stderr  # --debug shows it, redacted


@pytest.mark.anyio
async def test_a_token_argument_is_refused(fake: FakeMiniMax) -> None:
    """There is no --token option: the token is never a plain argument."""
    run = await run_cli("--token", fake.token, "accounts", token=None)
    assert run.status == 2
    assert fake.token.partition("-")[2] not in run.output
    assert fake.record.total_requests == 0


# ---------------------------------------------------------------------- sandbox, demo, everyday


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("voices", "live"),
    [pytest.param(12, "0", id="plain-progress"), pytest.param(3, "1", id="live-progress")],
)
async def test_demo_clones_across_three_sandbox_accounts(voices: int, live: str) -> None:
    """``demo`` exits 0 and prints its results table with every voice done."""
    env = cli_env(None, TTY_INTERACTIVE=live)
    run = await run_cli("demo", "--voices", str(voices), token=None, env=env)
    assert run.status == 0, run.output
    assert "results" in run.stdout
    assert f"{voices} done (0 adopted), 0 failed" in run.stdout
    for account in ACCOUNTS:
        assert account in run.stdout
    assert ("progress:" in run.stderr) is (live == "0")


@pytest.mark.anyio
@pytest.mark.parametrize("example", ["manifest.csv", "manifest.jsonl"])
async def test_example_manifests_clone_in_the_sandbox_without_a_token(
    tmp_path: Path, example: str
) -> None:
    """No token at all: ``clone`` says it uses the sandbox, and the shipped examples work."""
    results = tmp_path / "results.jsonl"
    run = await run_cli("clone", str(EXAMPLES / example), "--results", str(results), token=None)
    assert run.status == 0, run.output
    assert "SANDBOX MODE" in run.stderr
    assert read_results(results)[0]["sandbox"] is True
    done = {str(r["voice_name"]) for r in result_lines(results) if r["status"] == "done"}
    assert done == {"Alice", "Bruno", "Chiara", "Dmitri"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("args", "check"),
    [
        pytest.param(("voices", "--cloned", "--json"), "cloned", id="voices-cloned"),
        pytest.param(
            ("voices", "--system", "--tags", "Italian,Female", "--limit", "5", "--json"),
            "system",
            id="voices-system",
        ),
        pytest.param(("config", "--json"), "config", id="config"),
        pytest.param(("accounts", "--json"), "accounts", id="accounts"),
    ],
)
async def test_sandbox_commands_print_json(args: tuple[str, ...], check: str) -> None:
    """``--sandbox`` everyday commands with ``--json`` print parseable JSON on stdout."""
    run = await run_cli("--sandbox", *args, token=None)
    assert run.status == 0, run.output
    value = json.loads(run.stdout)
    if check == "cloned":
        assert value == []
    elif check == "system":
        assert len(value) == 5
        assert all({"Italian", "Female"} <= set(v["tag_list"]) for v in value)
    elif check == "config":
        assert "Italian" in value["languages"]
    else:
        assert [a["account"] for a in value] == list(ACCOUNTS)
        assert "token" not in json.dumps(value)


@pytest.mark.anyio
async def test_upload_then_delete_against_the_server(
    fast_fake: FakeMiniMax, tmp_path: Path
) -> None:
    """``upload`` prints a file id of the chosen account; ``delete`` frees a cloned voice."""
    sample = write_samples(tmp_path, 1)[0]
    base = ("--base-url", fast_fake.base_url)
    run = await run_cli(
        *base, "upload", str(sample), "--account", "100002", "--json", token=fast_fake.token
    )
    assert run.status == 0, run.output
    uploaded = json.loads(run.stdout)
    assert uploaded["account"] == "100002"
    voice = fast_fake.add_voice("100003", "Manual")
    voice_id = str(voice["voice_id"])
    run = await run_cli(*base, "delete", voice_id, token=fast_fake.token)
    assert run.status == 0, run.output
    assert fast_fake.voices("100003") == []


@pytest.mark.anyio
async def test_missing_token_for_other_commands_is_a_usage_error(fake: FakeMiniMax) -> None:
    """Without a token, everyday commands say how to give one and exit 2."""
    run = await run_cli("--base-url", fake.base_url, "voices", token=None)
    assert run.status == 2
    assert "USEAPI_TOKEN" in run.stderr
    assert fake.record.total_requests == 0


@pytest.mark.anyio
async def test_without_the_cli_extra_a_hint_and_exit_2() -> None:
    """``python -m minimax_async`` without typer prints the install hint, no traceback."""
    code = (
        "import runpy, sys; sys.modules['typer'] = None; "
        "runpy.run_module('minimax_async', run_name='__main__')"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "accounts",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env(None),
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    assert process.returncode == 2
    assert err.decode().strip() == INSTALL_HINT
    assert "pip install 'minimax_async[cli]'" in INSTALL_HINT
    assert out == b""
