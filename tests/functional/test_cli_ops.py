"""The operations around a bulk run, end to end against the fake server: the capacity check
before anything is uploaded (``clone`` and ``plan``), bulk deletion of cloned voices, and the
results-path checks.

The CLI's ``main`` runs in a worker thread (``run_cli_in_process``) while the test's event
loop serves the fake; the prompt tests run it as a subprocess so that a real stdin answers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minimax_async import Client
from minimax_async.cli._results import ResultsBusyError, ResultsFile, lock_path
from minimax_async.testing import FakeMiniMax

from .cli_support import (
    read_results,
    result_lines,
    run_cli,
    run_cli_in_process,
    write_csv,
    write_samples,
)

ACCOUNTS = ("100001", "100002", "100003")
LISTINGS = {"accounts", "config", "voices"}


@pytest.fixture
async def three() -> AsyncIterator[FakeMiniMax]:
    """Three accounts with the real limit of 4 voices each, clones of a few ms."""
    async with FakeMiniMax(accounts=ACCOUNTS, clone_latency=0.005, retry_after=0.01) as server:
        yield server


def manifest_of(folder: Path, names: list[str], *, accounts: list[str] | None = None) -> Path:
    """A CSV manifest cloning ``names`` (pinned to ``accounts`` where given) from one sample."""
    sample = write_samples(folder / "samples", 1)[0]
    pins = accounts or [""] * len(names)
    return write_csv(
        folder / "manifest.csv",
        [
            (name, "English", f"samples/{sample.name}", pin, "")
            for name, pin in zip(names, pins, strict=True)
        ],
    )


def names(count: int) -> list[str]:
    """``count`` distinct voice names."""
    return [f"Voice {i:02d}" for i in range(count)]


# ---------------------------------------------------------------------- library side


@pytest.mark.anyio
async def test_free_voice_slots_lists_each_account_once(three: FakeMiniMax) -> None:
    """One listing per account; hand-made voices take slots; the limit is the client's."""
    three.add_voice("100001", "By hand")
    three.add_voice("100001", "By hand 2")
    three.add_voice("100003", "By hand 3")
    async with Client(
        token=three.token, base_url=three.base_url, accounts=ACCOUNTS, max_voices_per_account=4
    ) as client:
        slots = await client.free_voice_slots()
        assert three.record.requests["voices"] == len(ACCOUNTS)
        assert [(s.account, s.used, s.free, s.limit) for s in slots] == [
            ("100001", 2, 2, 4),
            ("100002", 0, 4, 4),
            ("100003", 1, 3, 4),
        ]
        assert {v.voice_name for v in slots[0].voices} == {"By hand", "By hand 2"}
        only = await client.free_voice_slots(accounts=["100003"])
        assert [s.account for s in only] == ["100003"]


# ---------------------------------------------------------------------- capacity before cost


@pytest.mark.anyio
async def test_a_run_that_needs_more_slots_is_refused_before_any_upload(
    three: FakeMiniMax,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """30 jobs, 12 free slots: exit 2 with the count; only listings reached the server."""
    manifest = manifest_of(tmp_path, names(30))
    results = tmp_path / "results.jsonl"
    run = await run_cli_in_process(
        "--base-url", three.base_url, "clone", str(manifest), "--results", str(results),
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 2, run.output
    assert "30 jobs need 30 voice slots; 12 are free on 3 accounts: 18 would fail" in run.stderr
    assert "--allow-partial" in run.stderr
    assert set(three.record.requests) <= LISTINGS, three.record.requests
    assert three.record.requests["voices"] == len(ACCOUNTS)
    assert three.record.uploads == 0
    assert not results.exists()


@pytest.mark.anyio
async def test_allow_partial_clones_the_jobs_that_fit(
    three: FakeMiniMax,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --allow-partial the run warns, clones what fits and fails the rest (exit 1)."""
    three.add_voice("100001", "By hand")  # 3 + 4 + 4 = 11 free
    manifest = manifest_of(tmp_path, names(13))
    results = tmp_path / "results.jsonl"
    run = await run_cli_in_process(
        "--base-url", three.base_url, "clone", str(manifest), "--results", str(results),
        "--allow-partial", token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 1, run.output
    assert "13 jobs need 13 voice slots; 11 are free on 3 accounts: 2 would fail" in run.stderr
    statuses = [r["status"] for r in result_lines(results)]
    assert statuses.count("done") == 11
    assert statuses.count("failed") == 2
    assert len(three.record.voices_created) == 11


@pytest.mark.anyio
async def test_plan_counts_pinned_jobs_against_their_accounts(
    three: FakeMiniMax,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``plan``: a full account's pinned jobs would fail though other accounts have room."""
    for i in range(4):
        three.add_voice("100001", f"Old {i}")
    manifest = manifest_of(tmp_path, names(4), accounts=["100001", "100001", "100002", ""])
    run = await run_cli_in_process(
        "--base-url", three.base_url, "plan", str(manifest),
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 2, run.output
    assert "4 jobs need 4 voice slots; 8 are free on 3 accounts: 2 would fail" in run.stdout
    assert "account 100001: 2 pinned jobs, 0 free slots (4/4 used): 2 would fail" in run.stdout
    row = next(line for line in run.stdout.splitlines() if "100001" in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]] == ["100001", "4", "4", "0", "2", "2"]
    as_json = await run_cli_in_process(
        "--base-url", three.base_url, "plan", str(manifest), "--json",
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert as_json.status == 2, as_json.output
    value = json.loads(as_json.stdout)
    assert (value["jobs"], value["free"], value["would_fail"]) == (4, 8, 2)
    assert value["accounts"][0] == {
        "account": "100001", "voices": 4, "limit": 4, "free": 0, "pinned": 2, "would_fail": 2,
    }  # fmt: skip
    assert (value["unpinned"], value["unpinned_would_fail"]) == (1, 0)
    assert set(three.record.requests) <= LISTINGS
    assert three.record.uploads == 0


@pytest.mark.anyio
async def test_plan_that_fits_exits_0(
    three: FakeMiniMax,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``plan`` of jobs that fit: the table, the count, exit 0, nothing sent but listings."""
    manifest = manifest_of(tmp_path, names(5))
    run = await run_cli_in_process(
        "--base-url", three.base_url, "plan", str(manifest),
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 0, run.output
    assert "5 jobs need 5 voice slots; 12 are free on 3 accounts" in run.stdout
    assert run.stdout.splitlines()[-1] == "5 jobs need 5 voice slots; 12 are free on 3 accounts"
    for account in ACCOUNTS:
        assert account in run.stdout
    assert set(three.record.requests) <= LISTINGS


@pytest.mark.anyio
async def test_a_resumed_run_counts_only_the_jobs_still_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Done jobs, and jobs whose voices exist (adopted on resume), need no new slot."""
    async with FakeMiniMax(accounts=["100001"], clone_latency=0.005) as fake:
        manifest = manifest_of(tmp_path, names(4))
        results = tmp_path / "results.jsonl"
        base = ("--base-url", fake.base_url)
        first = await run_cli_in_process(
            *base, "clone", str(manifest), "--results", str(results),
            token=fake.token, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        assert first.status == 0, first.output
        # As if the run had been killed before it recorded its last two results.
        lines = results.read_text().splitlines()
        last_two = [i for i, line in enumerate(lines) if '"type":"result"' in line][-2:]
        kept = [line for i, line in enumerate(lines) if i not in last_two]
        results.write_text("".join(f"{line}\n" for line in kept))
        plan = await run_cli_in_process(
            *base, "plan", str(manifest), "--results", str(results),
            token=fake.token, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        assert plan.status == 0, plan.output
        assert "0 jobs need 0 voice slots; 0 are free on 1 account" in plan.stdout
        assert "2 done before, 2 to adopt" in plan.stdout
        fake.record.reset()
        again = await run_cli_in_process(
            *base, "clone", str(manifest), "--results", str(results), "--settle", "0",
            token=fake.token, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        assert again.status == 0, again.output
        assert fake.record.uploads == 0
        assert sum(1 for r in result_lines(results) if r.get("adopted")) == 2
        # Two more rows on the full account: refused, counting 2 jobs, not 6.
        bigger = manifest_of(tmp_path, names(6))
        refused = await run_cli_in_process(
            *base, "clone", str(bigger), "--results", str(results),
            token=fake.token, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        assert refused.status == 2, refused.output
        assert "2 jobs need 2 voice slots; 0 are free on 1 account: 2 would fail" in refused.stderr
        assert read_results(results)[-1]["type"] == "end"  # nothing appended by the refusal


# ---------------------------------------------------------------------- the results path


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["dotdot", "symlink", "hardlink"])
async def test_a_results_path_that_is_the_manifest_is_refused(
    three: FakeMiniMax,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    """The manifest reached through ``..``, a symlink or a hard link is not a results file."""
    manifest = manifest_of(tmp_path, names(1))
    before = manifest.read_bytes()
    (tmp_path / "sub").mkdir()
    if how == "dotdot":
        results = tmp_path / "sub" / ".." / manifest.name
    elif how == "symlink":
        results = tmp_path / "sub" / "results.jsonl"
        results.symlink_to(manifest)
    else:
        results = tmp_path / "sub" / "results.jsonl"
        results.hardlink_to(manifest)
    for command in ("clone", "plan"):
        run = await run_cli_in_process(
            "--base-url", three.base_url, command, str(manifest), "--results", str(results),
            token=three.token, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        assert run.status == 2, run.output
        assert "is the manifest" in run.stderr
    assert manifest.read_bytes() == before
    assert three.record.total_requests == 0


# ---------------------------------------------------------------------- cleanup in bulk

JAN_2025_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
DAY_MS = 86_400_000


def voice_names(fake: FakeMiniMax, account: str) -> list[str]:
    """The names of the voices on ``account``."""
    return sorted(str(v["voice_name"]) for v in fake.voices(account))


@pytest.mark.anyio
async def test_delete_voices_by_name_with_yes(
    three: FakeMiniMax, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--name 'Demo *' --yes``: the matching voices of every account go, the rest stay."""
    for account, name in [
        ("100001", "Demo A"), ("100001", "Demo B"), ("100001", "Keep"), ("100002", "Demo C"),
        ("100003", "demo lower"),
    ]:  # fmt: skip
        three.add_voice(account, name)
    run = await run_cli_in_process(
        "--base-url", three.base_url, "delete-voices", "--name", "Demo *", "--yes",
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 0, run.output
    assert voice_names(three, "100001") == ["Keep"]
    assert voice_names(three, "100002") == []
    assert voice_names(three, "100003") == ["demo lower"]  # the pattern is case-sensitive
    assert three.record.requests["delete-voice"] == 3
    assert "deleted 3 of 3 voices" in run.stdout


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "deleted"),
    [
        pytest.param("y\n", True, id="answered-yes"),
        pytest.param("n\n", False, id="answered-no"),
        pytest.param("", False, id="no-answer"),
    ],
)
async def test_delete_voices_asks_first(three: FakeMiniMax, answer: str, deleted: bool) -> None:
    """Without --yes the voices are shown and a prompt on stderr asks; only yes deletes."""
    three.add_voice("100002", "Old one")
    three.add_voice("100002", "Old two")
    run = await run_cli(
        "--base-url", three.base_url, "delete-voices", "--all", "--account", "100002",
        token=three.token, answer=answer,
    )  # fmt: skip
    assert "Delete these 2 voices? This cannot be undone [y/N]" in run.stderr
    assert "Old one" in run.stdout
    assert "Old two" in run.stdout
    if deleted:
        assert run.status == 0, run.output
        assert voice_names(three, "100002") == []
        assert three.record.requests["delete-voice"] == 2
    else:
        assert run.status == 1, run.output
        assert "nothing deleted" in run.stderr
        assert voice_names(three, "100002") == ["Old one", "Old two"]
        assert three.record.requests["delete-voice"] == 0


@pytest.mark.anyio
async def test_delete_voices_older_than_a_date(
    three: FakeMiniMax, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--older-than 2025-01-03``: voices created before it go, later ones stay."""
    for day, name in [(0, "Day 0"), (1, "Day 1"), (5, "Day 5")]:
        # The fake's clock, injected: the voice is created on that day.
        monkeypatch.setattr(
            "minimax_async.testing._state.now_ms", lambda day=day: JAN_2025_MS + day * DAY_MS
        )
        three.add_voice("100001", name)
    run = await run_cli_in_process(
        "--base-url", three.base_url, "delete-voices", "--older-than", "2025-01-03", "--yes",
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 0, run.output
    assert voice_names(three, "100001") == ["Day 5"]
    bad = await run_cli_in_process(
        "--base-url", three.base_url, "delete-voices", "--older-than", "last week",
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert bad.status == 2
    assert "'last week' is not a date" in bad.output


@pytest.mark.anyio
async def test_delete_voices_a_results_file_created(
    three: FakeMiniMax,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--from-results``: the voices of the run's results go; a hand-made one stays."""
    three.add_voice("100001", "By hand")
    manifest = manifest_of(tmp_path, names(3))
    results = tmp_path / "results.jsonl"
    base = ("--base-url", three.base_url)
    run = await run_cli_in_process(
        *base, "clone", str(manifest), "--results", str(results),
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 0, run.output
    assert sum(len(three.voices(a)) for a in ACCOUNTS) == 4
    run = await run_cli_in_process(
        *base, "delete-voices", "--from-results", str(results), "--yes",
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.status == 0, run.output
    assert [voice_names(three, a) for a in ACCOUNTS] == [["By hand"], [], []]
    assert three.record.requests["delete-voice"] == 3


@pytest.mark.anyio
async def test_delete_voices_needs_a_choice(
    three: FakeMiniMax, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No selector at all, or --all with a filter: a usage error, nothing sent."""
    for extra in ((), ("--all", "--name", "x*")):
        run = await run_cli_in_process(
            "--base-url", three.base_url, "delete-voices", *extra, "--yes",
            token=three.token, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        assert run.status == 2, run.output
    assert three.record.total_requests == 0


@pytest.mark.anyio
async def test_delete_of_a_missing_id_says_nothing_was_deleted(
    three: FakeMiniMax, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API's delete succeeds for any id: the CLI says the voice was not there."""
    voice = three.add_voice("100002", "Real")
    base = ("--base-url", three.base_url)
    missing = "user:1234-minimax:100002-audio:999999"
    run = await run_cli_in_process(
        *base, "delete", missing, token=three.token, monkeypatch=monkeypatch, capsys=capsys
    )
    assert run.status == 0, run.output
    assert "nothing was deleted" in run.stderr
    assert "the API answered OK" in run.stderr
    assert f"deleted {missing}" not in run.output
    real = str(voice["voice_id"])
    run = await run_cli_in_process(
        *base, "delete", real, token=three.token, monkeypatch=monkeypatch, capsys=capsys
    )
    assert run.status == 0, run.output
    assert f"deleted {real} on account 100002" in run.stdout
    assert three.voices("100002") == []


# ---------------------------------------------------------------------- errors in CLI words


@pytest.mark.anyio
async def test_errors_name_cli_commands_not_python_methods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The slot error of a failed job and the missing-account error speak of commands."""
    async with FakeMiniMax(accounts=["100001", "100002"], clone_latency=0.005) as fake:
        for account in ("100001", "100002"):
            for i in range(3):
                fake.add_voice(account, f"Old {i}")
        manifest = manifest_of(tmp_path, names(3))
        results = tmp_path / "results.jsonl"
        base = ("--base-url", fake.base_url)
        run = await run_cli_in_process(
            *base, "clone", str(manifest), "--results", str(results), "--allow-partial",
            token=fake.token, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        assert run.status == 1, run.output
        failed = [r for r in result_lines(results) if r["status"] == "failed"]
        assert len(failed) == 1
        error = failed[0]["error"]
        assert isinstance(error, dict)
        assert error["type"] == "VoiceSlotsExhaustedError"
        message = str(error["message"])
        assert "'minimax-async delete-voices'" in message
        assert "Client." not in message
        assert "Client." not in run.output
        run = await run_cli_in_process(
            *base, "delete", "1234567890", token=fake.token, monkeypatch=monkeypatch, capsys=capsys
        )
        assert run.status == 2, run.output
        assert "'minimax-async delete' needs an account" in run.stderr
        assert "--account" in run.stderr
        assert "account=" not in run.stderr
        assert "delete_voice" not in run.stderr


# ---------------------------------------------------------------------- the results-file lock


def test_the_results_lock_keeps_a_second_writer_out(tmp_path: Path) -> None:
    """The lock (filelock, ``FILE.lock``) refuses a second writer until the first closes."""
    path = tmp_path / "results.jsonl"
    first = ResultsFile.open(path)
    try:
        with pytest.raises(ResultsBusyError, match="another minimax-async run is writing"):
            ResultsFile.open(path)
        assert lock_path(path).exists()
    finally:
        first.close()
    ResultsFile.open(path).close()


@pytest.mark.anyio
async def test_a_clone_refuses_a_results_file_another_process_writes(
    three: FakeMiniMax, tmp_path: Path
) -> None:
    """A results file locked by another process: exit 2 before any upload, file untouched."""
    manifest = manifest_of(tmp_path, names(2))
    results = tmp_path / "results.jsonl"
    held = ResultsFile.open(results)
    try:
        run = await run_cli(
            "--base-url", three.base_url, "clone", str(manifest), "--results", str(results),
            token=three.token,
        )  # fmt: skip
    finally:
        held.close()
    assert run.status == 2, run.output
    assert f"another minimax-async run is writing {results}" in run.stderr
    assert results.read_bytes() == b""
    assert three.record.uploads == 0


# ---------------------------------------------------------------------- the demo


@pytest.mark.anyio
async def test_demo_keeps_four_voices_per_account_and_adds_accounts() -> None:
    """``demo --voices 20``: five sandbox accounts of 4 voices, and the note says so."""
    run = await run_cli("demo", "--voices", "20", token=None)
    assert run.status == 0, run.output
    assert "20 voices at 4 per account (the real limit) need 5 sandbox accounts" in run.stderr
    assert "20 done (0 adopted), 0 failed" in run.stdout
    rows = [line for line in run.stdout.splitlines() if "Demo " in line]
    per_account = Counter(
        next(cell.strip() for cell in row.split("│") if cell.strip().startswith("1000"))
        for row in rows
    )
    assert len(rows) == 20
    assert max(per_account.values()) <= 4
    assert len(per_account) == 5


@pytest.mark.anyio
async def test_voice_tables_and_lines_never_show_the_token(
    three: FakeMiniMax, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A voice whose name is the token (a server echoing it): neither the table of
    ``voices`` nor the lines of ``delete-voices`` show it."""
    three.add_voice("100001", three.token)
    secret = three.token.partition("-")[2]
    base = ("--base-url", three.base_url)
    listed = await run_cli_in_process(
        *base, "voices", "--cloned", token=three.token, monkeypatch=monkeypatch, capsys=capsys
    )
    deleted = await run_cli_in_process(
        *base, "delete-voices", "--all", "--yes",
        token=three.token, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    for run in (listed, deleted):
        assert run.status == 0, run.output
        assert secret not in run.output
    assert three.voices("100001") == []
