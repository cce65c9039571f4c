"""The typer application: global options and one function per command.

The functions here only parse options and hand over: manifests to ``_manifest``, bulk runs to
``_clone``, output to ``_render`` and ``_output``, the client and errors to ``_session``.
"""

# Typer reads these annotations at run time: no ``from __future__ import annotations``.

import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final

import attrs
import typer
from rich.text import Text

from minimax_async import (
    BASE_URL_ENV_VAR,
    MAX_VOICES_PER_ACCOUNT,
    TOKEN_ENV_VAR,
    Voice,
    __version__,
    account_from_id,
)
from minimax_async._samples import read_sample
from minimax_async.cli._cleanup import (
    Deletion,
    VoiceFilter,
    delete_found,
    find_voices,
    parse_moment,
    results_voice_ids,
)
from minimax_async.cli._clone import (
    DEFAULT_SETTLE_SECONDS,
    CloneOptions,
    check_capacity,
    check_manifest,
    print_outcome,
    run_clone,
)
from minimax_async.cli._fleet import (
    COORDINATOR_ENV_VAR,
    DEFAULT_NAMESPACE,
    NAMESPACE_ENV_VAR,
    CoordinatorOption,
    make_coordinator,
)
from minimax_async.cli._manifest import load_manifest
from minimax_async.cli._messages import cli_message
from minimax_async.cli._output import (
    console_logging,
    emit_json,
    err_console,
    out_console,
    print_error,
    print_note,
    print_warning,
    redact,
)
from minimax_async.cli._plan import capacity_json, capacity_table
from minimax_async.cli._render import (
    accounts_json,
    accounts_table,
    config_json,
    config_table,
    upload_json,
    voices_json,
    voices_table,
)
from minimax_async.cli._results import History, read_history
from minimax_async.cli._sandbox import (
    DEMO_VOICES,
    SANDBOX_ACCOUNTS,
    demo_manifest,
    sandbox_accounts,
)
from minimax_async.cli._session import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    GlobalOptions,
    Interrupted,
    check_results_path,
    open_session,
    register_proxy_secret,
    register_secrets,
    report,
    run_async,
)

__all__ = ["app", "remember_invocation"]

#: System voices listed when ``--limit`` is not given.
DEFAULT_SYSTEM_VOICE_LIMIT: Final = 50
_MAX_PAGE_SIZE: Final = 500

app = typer.Typer(
    name="minimax-async",
    help=(
        "Bulk voice cloning with useapi.net's MiniMax audio API (v1).\n\n"
        f"The API token comes from {TOKEN_ENV_VAR} or --token-file (never from an argument). "
        "Without any token, 'clone' runs on the built-in sandbox server; '--sandbox' does "
        "that for any command. Global options go before the command."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        out_console.print(f"minimax-async {__version__}")
        raise typer.Exit()


def _split_accounts(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    accounts = tuple(dict.fromkeys(a.strip() for a in value.split(",") if a.strip()))
    if not accounts:
        raise typer.BadParameter("give at least one account id, e.g. --accounts 123456,789012")
    return accounts


@app.callback()
def global_options(
    ctx: typer.Context,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            envvar=BASE_URL_ENV_VAR,
            help="API root (default: https://api.useapi.net/v1/minimax).",
            show_default=False,
        ),
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option(
            "--proxy",
            metavar="URL",
            help="Send every request through this http:// or https:// proxy "
            "(default: HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY).",
            show_default=False,
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file",
            metavar="PATH",
            help="Trust the CA certificates in this PEM file (e.g. a corporate proxy's) "
            "instead of the system's.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help=f"Read the API token from this file instead of {TOKEN_ENV_VAR}.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    accounts: Annotated[
        str | None,
        typer.Option(
            "--accounts",
            help="Use these MiniMax accounts (comma-separated) instead of "
            "asking the API for the usable ones.",
            show_default=False,
        ),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Run against the built-in fake server "
            f"(accounts {', '.join(SANDBOX_ACCOUNTS)}); nothing is sent to useapi.net.",
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and the library's debug log.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Bulk voice cloning with useapi.net's MiniMax audio API (v1)."""
    if proxy is not None:
        register_proxy_secret(proxy)
    ctx.obj = GlobalOptions(
        base_url=base_url,
        proxy=proxy,
        ca_file=ca_file,
        token_file=token_file,
        accounts=_split_accounts(accounts),
        sandbox=sandbox,
        debug=debug,
    )


def _global(ctx: typer.Context) -> GlobalOptions:
    options = ctx.find_root().obj
    return options if isinstance(options, GlobalOptions) else GlobalOptions()


_invocation: list[str] = ["minimax-async"]


def remember_invocation(program: Sequence[str], args: Sequence[str]) -> None:
    """Note how this process was started, for the "to resume, run: ..." hint."""
    _invocation[:] = [*program, *args]


def _resume_command() -> str:
    """The command line that ran this process, to be run again to resume."""
    return shlex.join(_invocation)


def _execute(
    options: GlobalOptions, body: Callable[[], int], *, on_interrupt: str | None = None
) -> None:
    """Run a command's body; map interruption and errors to a line and an exit status."""
    register_secrets(options)
    try:
        with console_logging(debug=options.debug):
            status = body()
    except (Interrupted, KeyboardInterrupt):
        print_note("interrupted", style="bold yellow")
        if on_interrupt:
            print_note(on_interrupt, style="yellow")
        status = EXIT_INTERRUPTED
    except typer.Exit:
        raise
    except Exception as exc:
        status = report(exc, debug=options.debug)
    raise typer.Exit(status)


# ---------------------------------------------------------------------- clone, demo


@app.command()
def clone(
    ctx: typer.Context,
    manifest: Annotated[
        Path,
        typer.Argument(
            help="CSV (voice_name,language_tag,samples[,account][,need_noise_reduction]) or "
            "JSON Lines with the same keys; samples separated by ';'.",
            dir_okay=False,
            show_default=False,
        ),
    ],
    results: Annotated[
        Path,
        typer.Option(
            "--results",
            "-r",
            help="JSON Lines file the run appends to; run again with the same file to resume.",
            dir_okay=False,
            show_default=False,
        ),
    ],
    voice_slots: Annotated[
        int,
        typer.Option("--voice-slots", min=1, help="Cloned voices one account holds."),
    ] = MAX_VOICES_PER_ACCOUNT,
    settle: Annotated[
        float,
        typer.Option(
            "--settle",
            min=0.0,
            help="On resume, seconds after the interrupted run during "
            "which its clones may still finish on the server (they are waited for, never "
            "cloned twice).",
        ),
    ] = DEFAULT_SETTLE_SECONDS,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Go on when the free voice slots are fewer than the jobs (the jobs that "
            "find no slot fail); without it such a run stops before anything is uploaded.",
        ),
    ] = False,
    coordinator: Annotated[
        str | None,
        typer.Option(
            "--coordinator",
            envvar=COORDINATOR_ENV_VAR,
            help="Redis URL (redis://, rediss://, unix://) shared with other runs on the same "
            "accounts: the per-account limits hold across all of them, and a resumed run "
            "adopts a crashed run's clones. Needs the redis extra.",
            show_default=False,
        ),
    ] = None,
    namespace: Annotated[
        str,
        typer.Option(
            "--namespace",
            envvar=NAMESPACE_ENV_VAR,
            help="With --coordinator: the namespace every run sharing these accounts uses.",
        ),
    ] = DEFAULT_NAMESPACE,
    liveness_ttl: Annotated[
        float | None,
        typer.Option(
            "--liveness-ttl",
            min=0.1,
            help="With --coordinator: seconds after which a crashed run's waiting jobs stop "
            "holding their places (default 15).",
            show_default=False,
        ),
    ] = None,
    inflight_hold: Annotated[
        float | None,
        typer.Option(
            "--inflight-hold",
            min=0.1,
            help="With --coordinator: seconds a crashed run's clone on the wire keeps its "
            "slot, and its resumed job waits before adopting it (default: the clone "
            "timeout, 120).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Clone every voice of a manifest, with live progress; resumable with the same --results."""
    options = _global(ctx)

    def body() -> int:
        shared = (
            None
            if coordinator is None
            else CoordinatorOption(coordinator, namespace, liveness_ttl, inflight_hold)
        )
        loaded = load_manifest(manifest)
        check_results_path(results, manifest=loaded.path)

        async def main() -> int:
            fleet = None if shared is None else make_coordinator(shared)
            async with open_session(
                options, voice_slots=voice_slots, auto_sandbox=True, coordinator=fleet
            ) as session:
                clone_options = CloneOptions(
                    results=results,
                    settle=settle,
                    title=f"cloning {manifest.name}",
                    allow_partial=allow_partial,
                )
                outcome = await run_clone(session, loaded, clone_options)
            print_outcome(outcome, clone_options)
            return outcome.exit_status

        return run_async(main)

    _execute(
        options,
        body,
        on_interrupt=f"The results file is consistent. To resume, run: {_resume_command()}",
    )


@app.command()
def demo(
    ctx: typer.Context,
    voices: Annotated[
        int, typer.Option("--voices", min=1, max=300, help="How many voices to clone.")
    ] = DEMO_VOICES,
    results: Annotated[
        Path | None,
        typer.Option(
            "--results",
            "-r",
            help="Keep the results file here (default: a temporary one).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Clone generated voices across the sandbox accounts (4 each), with live progress."""
    options = _global(ctx)
    demo_accounts = sandbox_accounts(voices)
    if len(demo_accounts) > len(SANDBOX_ACCOUNTS):
        print_note(
            f"demo: {voices} voices at {MAX_VOICES_PER_ACCOUNT} per account (the real limit) "
            f"need {len(demo_accounts)} sandbox accounts; a useapi.net subscription has "
            f"{len(SANDBOX_ACCOUNTS)} per service",
            style="yellow",
        )

    def body() -> int:
        with tempfile.TemporaryDirectory(prefix="minimax-async-demo-") as folder:
            manifest = demo_manifest(Path(folder), voices)
            path = results if results is not None else Path(folder) / "results.jsonl"

            async def main() -> int:
                async with open_session(
                    options, force_sandbox=True, sandbox_accounts=demo_accounts
                ) as session:
                    clone_options = CloneOptions(
                        results=path,
                        title=f"demo: {voices} voices on {len(session.accounts)} sandbox accounts",
                        full_table=True,
                    )
                    outcome = await run_clone(session, manifest, clone_options)
                print_outcome(outcome, clone_options, show_path=results is not None)
                return outcome.exit_status

            status = run_async(main)
        print_note(
            "Next: write a manifest (see examples/manifest.csv) and run "
            "'minimax-async clone MANIFEST --results results.jsonl'",
            style="dim",
        )
        return status

    _execute(options, body)


@app.command()
def plan(
    ctx: typer.Context,
    manifest: Annotated[
        Path,
        typer.Argument(help="The manifest 'clone' would run.", dir_okay=False, show_default=False),
    ],
    results: Annotated[
        Path | None,
        typer.Option(
            "--results",
            "-r",
            help="The results file of earlier runs: count only the jobs still to do "
            "(read, never written).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    voice_slots: Annotated[
        int,
        typer.Option("--voice-slots", min=1, help="Cloned voices one account holds."),
    ] = MAX_VOICES_PER_ACCOUNT,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Show whether a manifest's jobs fit in the free voice slots; nothing is uploaded or cloned."""
    options = _global(ctx)

    def body() -> int:
        loaded = load_manifest(manifest)
        history = History()
        if results is not None:
            check_results_path(results, manifest=loaded.path)
            try:
                history = read_history(results)
            except OSError as exc:
                raise CliError(
                    f"cannot read {results}: {exc.strerror or exc}", EXIT_USAGE
                ) from None

        async def main() -> int:
            async with open_session(options, voice_slots=voice_slots, auto_sandbox=True) as session:
                await check_manifest(session, loaded)
                pending = [row for row in loaded.rows if row.key not in history.done]
                capacity = await check_capacity(session, pending, history)
            done = len(loaded.rows) - len(pending)
            status = EXIT_USAGE if capacity.would_fail else EXIT_OK
            if json_output:
                emit_json(capacity_json(capacity, done_before=done))
                return status
            title = f"voice slots for {manifest.name}"
            if done or capacity.adoptable:
                title += f" ({done} done before, {capacity.adoptable} to adopt)"
            out_console.print(capacity_table(capacity, title=title))
            style = "bold red" if capacity.would_fail else "bold green"
            out_console.print(Text(capacity.summary(), style=style))
            for line in capacity.details():
                out_console.print(Text(f"  {line}", style="red"))
            return status

        return run_async(main)

    _execute(options, body)


# ---------------------------------------------------------------------- everyday commands

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AccountOption = Annotated[
    str | None,
    typer.Option("--account", "-a", help="The MiniMax account to use.", show_default=False),
]


@app.command()
def accounts(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List the MiniMax accounts configured at useapi.net."""
    options = _global(ctx)

    async def main() -> int:
        async with open_session(options, resolve_accounts=False) as session:
            listed = await session.client.list_accounts()
        if json_output:
            emit_json(accounts_json(listed))
        else:
            out_console.print(accounts_table(listed))
        return EXIT_OK

    _execute(options, lambda: run_async(main))


@app.command()
def config(
    ctx: typer.Context, account: AccountOption = None, json_output: JsonFlag = False
) -> None:
    """Show the language, emotion and voice tags the API knows."""
    options = _global(ctx)

    async def main() -> int:
        async with open_session(options) as session:
            vocabulary = await session.client.get_config(account=account)
        if json_output:
            emit_json(config_json(vocabulary))
        else:
            out_console.print(config_table(vocabulary))
        return EXIT_OK

    _execute(options, lambda: run_async(main))


def _split_tags(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


@app.command()
def voices(
    ctx: typer.Context,
    cloned: Annotated[
        bool, typer.Option("--cloned", help="Your cloned voices (the default).")
    ] = False,
    system: Annotated[bool, typer.Option("--system", help="The system voices.")] = False,
    account: AccountOption = None,
    tags: Annotated[
        str | None,
        typer.Option(
            "--tags",
            help="Only voices with all these tags, e.g. Italian,Female.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            help=f"At most this many voices (system: default "
            f"{DEFAULT_SYSTEM_VOICE_LIMIT}; 0: all).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """List cloned voices (of every account, or --account) or system voices."""
    options = _global(ctx)
    if cloned and system:
        raise typer.BadParameter("give --cloned or --system, not both")
    wanted = _split_tags(tags)

    async def main() -> int:
        found: list[Voice] = []
        owners: list[str | None] = []
        async with open_session(options) as session:
            client = session.client
            if system:
                cap = DEFAULT_SYSTEM_VOICE_LIMIT if limit is None else limit
                page_size = min(cap, _MAX_PAGE_SIZE) if cap else _MAX_PAGE_SIZE
                async for voice in client.iter_system_voices(
                    tag_list=wanted or None, account=account, page_size=page_size
                ):
                    found.append(voice)
                    if cap and len(found) >= cap:
                        break
            else:
                targets: Sequence[str | None] = [account] if account else session.accounts
                for target in targets:
                    for voice in await client.list_cloned_voices(account=target):
                        if set(wanted) <= set(voice.tag_list):
                            found.append(voice)
                            owners.append(target)
                if limit:
                    found, owners = found[:limit], owners[:limit]
        as_cloned = None if system else owners
        if json_output:
            emit_json(voices_json(found, accounts=as_cloned))
        else:
            out_console.print(voices_table(found, accounts=as_cloned))
        return EXIT_OK

    _execute(options, lambda: run_async(main))


@app.command()
def upload(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(help="An .mp3 or .wav file, 10-60 s.", dir_okay=False, show_default=False),
    ],
    account: AccountOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Upload a voice sample; print its file id (usable in a manifest's samples)."""
    options = _global(ctx)

    def body() -> int:
        read_sample(path)  # checked before anything is sent

        async def main() -> int:
            async with open_session(options) as session:
                target = account or (session.accounts[0] if session.accounts else None)
                sample = await session.client.upload_sample(path, account=target)
            if json_output:
                emit_json(upload_json(sample))
            else:
                out_console.print(f"uploaded {path} to account {sample.account or target}:")
                out_console.print(sample.file_id, markup=False, highlight=False)
            return EXIT_OK

        return run_async(main)

    _execute(options, body)


@app.command()
def delete(
    ctx: typer.Context,
    voice_id: Annotated[
        str, typer.Argument(help="A cloned voice's id (see 'voices --cloned').", show_default=False)
    ],
    account: AccountOption = None,
) -> None:
    """Delete one cloned voice and free its slot (says so when there was no such voice)."""
    options = _global(ctx)

    async def main() -> int:
        async with open_session(options) as session:
            client = session.client
            target = account if account is not None else account_from_id(voice_id)
            listed = await client.list_cloned_voices(account=target)
            existed = any(voice.voice_id == voice_id for voice in listed)
            await client.delete_voice(voice_id, account=account)
            where = target or (session.accounts[0] if session.accounts else "the default account")
        if existed:
            out_console.print(Text(redact(f"deleted {voice_id} on account {where}")))
        else:
            print_warning(
                f"{voice_id} is not one of the cloned voices of account {where}: nothing was "
                "deleted (the API answered OK, as its delete does whether or not the voice "
                "exists; see 'minimax-async voices --cloned')"
            )
        return EXIT_OK

    _execute(options, lambda: run_async(main))


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date: give e.g. 2025-01-24 or 2025-01-24T10:00:00Z"
        ) from None


def _confirm(question: str) -> bool:
    """Ask on stderr, read the answer from stdin: only ``y`` or ``yes`` is yes; anything
    else, or no answer at all (stdin closed), is no."""
    err_console.print(Text(f"{question} [y/N]: "), end="")
    err_console.file.flush()
    answer = sys.stdin.readline()
    if not answer:
        err_console.print()
    return answer.strip().lower() in ("y", "yes")


@app.command("delete-voices")
def delete_voices(
    ctx: typer.Context,
    all_voices: Annotated[
        bool, typer.Option("--all", help="Every cloned voice (of --account, or of all accounts).")
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Voices whose name matches this shell-style pattern, e.g. 'Demo *'.",
            show_default=False,
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Voices created before this date or time (ISO 8601; UTC unless it says).",
            show_default=False,
        ),
    ] = None,
    from_results: Annotated[
        Path | None,
        typer.Option(
            "--from-results",
            help="Voices that the runs of this results file cloned (or adopted).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    account: AccountOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking first.")] = False,
) -> None:
    """Delete many cloned voices at once, after showing them and asking (or --yes)."""
    options = _global(ctx)
    filtered = name is not None or older_than is not None or from_results is not None
    if all_voices and filtered:
        raise typer.BadParameter("--all means every voice: give it alone, or only the filters")
    if not (all_voices or filtered):
        raise typer.BadParameter(
            "say which voices: --all, --name PATTERN, --older-than DATE or --from-results FILE"
        )
    before = _moment(older_than)

    def body() -> int:
        ids = results_voice_ids(from_results) if from_results is not None else None
        chosen = VoiceFilter(name=name, older_than=before, voice_ids=ids)

        async def find() -> tuple[tuple[str, ...], list[tuple[str, Voice]]]:
            async with open_session(options) as session:
                accounts = (account,) if account is not None else session.accounts
                return session.accounts, await find_voices(session, accounts, chosen)

        accounts, found = run_async(find)
        if not found:
            print_note("no cloned voice matches: nothing to delete")
            return EXIT_OK
        out_console.print(
            voices_table(
                [voice for _, voice in found],
                accounts=[owner for owner, _ in found],
                title=f"cloned voices to delete ({len(found)})",
            )
        )
        count = f"{len(found)} voice{'s' if len(found) != 1 else ''}"
        if not yes and not _confirm(f"Delete these {count}? This cannot be undone"):
            print_note("nothing deleted", style="yellow")
            return EXIT_FAILED

        async def remove() -> list[Deletion]:
            # The accounts are known by now: no second GET accounts.
            again = attrs.evolve(options, accounts=accounts)
            async with open_session(again) as session:
                return await delete_found(session, found)

        deletions = run_async(remove)
        failed = [d for d in deletions if d.error is not None]
        for deletion in deletions:
            voice = deletion.voice
            if deletion.error is None:
                out_console.print(
                    Text(
                        redact(
                            f"deleted {voice.voice_id} ({voice.voice_name}) on {deletion.account}"
                        )
                    )
                )
            else:
                print_error(
                    f"{voice.voice_id} ({voice.voice_name}) on {deletion.account}: "
                    f"{type(deletion.error).__name__}: {cli_message(deletion.error)}"
                )
        summary = f"deleted {len(deletions) - len(failed)} of {count}"
        if failed:
            summary += f"; {len(failed)} failed"
        out_console.print(Text(summary, style="bold red" if failed else "bold green"))
        return EXIT_FAILED if failed else EXIT_OK

    _execute(options, body)
