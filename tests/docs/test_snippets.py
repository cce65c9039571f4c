"""Every Python snippet of the README and docs/ type-checks (``mypy --strict``) and runs.

Snippets run as users would run them: in a subprocess, in a fresh directory holding the sample
files they name, with ``USEAPI_TOKEN``/``USEAPI_BASE_URL`` pointing at a ``FakeMiniMax``
serving the accounts they name. ``tests/docs/_snippets.py`` explains the directives.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from minimax_async import BASE_URL_ENV_VAR, TOKEN_ENV_VAR
from minimax_async.cli._fleet import COORDINATOR_ENV_VAR
from minimax_async.testing import FakeMiniMax, make_mp3, make_wav
from tests._real import require
from tests.fleet.redis_support import INSTALL_HINT, RedisProcess

from ._snippets import ROOT, Snippet, SnippetError, collect, markdown_files

SNIPPETS = [snippet for path in markdown_files() for snippet in collect(path)]
#: Seconds a snippet may run (each clone on the fake server takes 10 ms).
RUN_TIMEOUT = 90
_MYPY_LINE = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): (?P<message>.*)$")


def _ids(snippet: Snippet) -> str:
    return snippet.name


@pytest.fixture(scope="session")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One ``mypy --strict`` run over every checked snippet: its errors by snippet name."""
    folder = tmp_path_factory.mktemp("snippets-mypy")
    checked = {}
    for snippet in SNIPPETS:
        if snippet.skip is None:
            source, origin = snippet.program()
            (folder / f"{snippet.module}.py").write_text(source, encoding="utf-8")
            checked[snippet.module] = (snippet, origin)
    if not checked:
        return {}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-error-summary",
            *sorted(str(folder / f"{module}.py") for module in checked),
        ],
        cwd=ROOT,  # shares the project's mypy cache
        capture_output=True,
        text=True,
        check=False,
    )
    errors: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        match = _MYPY_LINE.match(line)
        module = Path(match["file"]).stem if match else None
        if match is None or module not in checked:
            errors.setdefault("<mypy>", []).append(line)
            continue
        snippet, origin = checked[module]
        md_line = origin[min(int(match["line"]), len(origin)) - 1]
        errors.setdefault(snippet.name, []).append(f"{snippet.where}:{md_line}: {match['message']}")
    if result.returncode not in (0, 1) or (result.returncode == 1 and not errors):
        errors.setdefault("<mypy>", []).append(result.stderr or result.stdout)
    return errors


def test_snippets_are_collected() -> None:
    """The collector sees every Python fence of the README (a count cross-check)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    fences = re.findall(r"^\s*```(?:python|py)\s*$", readme, flags=re.MULTILINE)
    assert len([s for s in SNIPPETS if s.path.name == "README.md"]) == len(fences) > 0


def test_mypy_ran_cleanly(mypy_errors: dict[str, list[str]]) -> None:
    """mypy itself worked (an error outside any snippet would hide in no test)."""
    assert "<mypy>" not in mypy_errors, "\n".join(mypy_errors["<mypy>"])


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if s.skip is None], ids=_ids)
def test_snippet_type_checks(snippet: Snippet, mypy_errors: dict[str, list[str]]) -> None:
    """``mypy --strict`` passes on the snippet (with its hidden set-up)."""
    assert not mypy_errors.get(snippet.name), "\n".join(mypy_errors[snippet.name])


@pytest.mark.anyio
@pytest.mark.parametrize("snippet", SNIPPETS, ids=_ids)
async def test_snippet_runs(snippet: Snippet, tmp_path: Path) -> None:
    """The snippet runs to the end, against the fake server when it names accounts."""
    reason = snippet.skip or snippet.norun
    if reason is not None:
        pytest.skip(f"{snippet.name} is marked not to run: {reason}")
    await run_snippet(snippet, tmp_path)


async def run_snippet(snippet: Snippet, folder: Path) -> None:
    """Run ``snippet`` in ``folder`` as a user would; fail with its output if it fails."""
    for number, name in enumerate(snippet.files):
        data = make_mp3(12) if name.endswith(".mp3") else make_wav(12, frequency=200 + 20 * number)
        (folder / name).write_bytes(data)
    source, _ = snippet.program()
    script = folder / f"{snippet.module}.py"
    script.write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("USEAPI_")}
    if snippet.run == "pytest":
        # -p no:looptime_plugin: the bench group's looptime, when installed beside the
        # tests, registers a pytest plugin that breaks anyio tests (see pyproject.toml);
        # a user's environment has no looptime, and this keeps ours as clean as theirs.
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-p", "no:looptime_plugin", script.name]
    else:
        command = [sys.executable, script.name]
    with contextlib.ExitStack() as stack:
        if snippet.redis:
            server = RedisProcess(require("redis-server", INSTALL_HINT))
            stack.callback(server.close)
            server.start()
            env[COORDINATOR_ENV_VAR] = server.url
        if not snippet.accounts:
            result = await _run(command, folder, env)
        else:
            async with FakeMiniMax(
                accounts=snippet.accounts, clone_latency=0.01, retry_after=0.01
            ) as fake:
                env[TOKEN_ENV_VAR], env[BASE_URL_ENV_VAR] = fake.token, fake.base_url
                result = await _run(command, folder, env)
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"{snippet.name} failed ({result.returncode}):\n{output}"
    if snippet.run == "pytest":
        assert re.search(r"\b[1-9]\d* passed\b", output), output


async def _run(
    command: list[str], folder: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[bytes]:
    with anyio.fail_after(RUN_TIMEOUT):
        return await anyio.run_process(command, cwd=folder, env=env, check=False)


# ---------------------------------------------------------------- the collector itself


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_directives_set_up_and_indent_a_fragment(tmp_path: Path) -> None:
    text = (
        "# Title\n\n```sh\nls\n```\n\n"
        '<!-- snippet: accounts=1,2 files=a.wav run=python norun="no reason at all"\n'
        "import minimax_async\n"
        "async with minimax_async.Client() as client:\n"
        "-->\n\n"
        "```python\nawait client.get_config()\n```\n"
    )
    (snippet,) = collect(_write(tmp_path, text))
    assert (snippet.line, snippet.setup_line) == (13, 8)
    assert snippet.accounts == ("1", "2")
    assert snippet.files == ("a.wav",)
    assert snippet.norun == "no reason at all"
    source, origin = snippet.program()
    assert "async def _snippet() -> None:\n    import minimax_async\n" in source
    assert "\n        await client.get_config()\n" in source
    assert source.endswith("asyncio.run(_snippet())\n")
    assert origin[source.splitlines().index("        await client.get_config()")] == 13


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- snippet: acounts=1 -->\n```python\npass\n```\n", "'acounts=1' is not one of"),
        ("<!-- snippet: skip= -->\n```python\npass\n```\n", "skip= needs a reason"),
        ("<!-- snippet: run=trio -->\n```python\npass\n```\n", "run='trio'"),
        ("<!-- snippet: files=a.flac -->\n```python\npass\n```\n", "a .wav or .mp3"),
        ("<!-- snippet: accounts=1 -->\n```sh\nls\n```\n", "directive before a 'sh' block"),
        ("<!-- snippet: accounts=1 -->\ntext\n```python\npass\n```\n", "without a Python block"),
        ("<!-- snippet: accounts=1\nimport os\n", "ends with a line holding only -->"),
        ("```python\ndef (:\n```\n", "not valid Python"),
        ("<!-- snippet: redis=no -->\n```python\npass\n```\n", "write redis=yes"),
    ],
    ids=["key", "reason", "runner", "file", "language", "gap", "unclosed", "syntax", "redis"],
)
def test_malformed_directives_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SnippetError, match=re.escape(message)):
        [snippet.program() for snippet in collect(path)]


@pytest.mark.anyio
async def test_a_redis_snippet_gets_a_running_redis_server(tmp_path: Path) -> None:
    """``redis=yes``: MINIMAX_ASYNC_COORDINATOR names a redis-server that answers PING."""
    text = (
        "<!-- snippet: redis=yes -->\n```python\n"
        "import os\nimport redis\n"
        "url = os.environ['MINIMAX_ASYNC_COORDINATOR']\n"
        "assert url.startswith('unix://'), url\n"
        "assert redis.Redis.from_url(url).ping()\n```\n"
    )
    (snippet,) = collect(_write(tmp_path, text))
    assert snippet.redis
    await run_snippet(snippet, tmp_path)


@pytest.mark.anyio
async def test_a_failing_snippet_fails_its_test(tmp_path: Path) -> None:
    """The runner reports a snippet that raises, and a pytest snippet whose test fails."""
    text = (
        "<!-- snippet: accounts=1 -->\n```python\n"
        "import os\nassert os.environ['USEAPI_BASE_URL'].startswith('http://127.0.0.1')\n"
        "raise SystemExit('boom')\n```\n\n"
        "<!-- snippet: run=pytest -->\n```python\ndef test_no() -> None:\n    assert False\n```\n"
    )
    for snippet in collect(_write(tmp_path, text)):
        with pytest.raises(AssertionError, match="boom" if snippet.run == "python" else "failed"):
            await run_snippet(snippet, tmp_path)
