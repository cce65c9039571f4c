"""What every command shares: global options, the token, the client, exit statuses and the
mapping of errors to one red line each.

The token comes from ``USEAPI_TOKEN`` or ``--token-file`` (never from an argument) and is
registered with :func:`~minimax_async.cli._output.add_secret` the moment it is read, so no
later output can show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import attrs
from rich.text import Text

from minimax_async import (
    BASE_URL_ENV_VAR,
    DEFAULT_BASE_URL,
    MAX_VOICES_PER_ACCOUNT,
    TOKEN_ENV_VAR,
    Client,
    ConfigurationError,
    MiniMaxError,
    ValidationError,
)
from minimax_async.cli._manifest import ManifestError
from minimax_async.cli._messages import cli_message
from minimax_async.cli._output import (
    add_secret,
    err_console,
    print_error,
    print_note,
    print_traceback,
    print_warning,
    redact,
)
from minimax_async.cli._sandbox import SANDBOX_ACCOUNTS, describe_accounts, start_sandbox

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "GlobalOptions",
    "Interrupted",
    "Session",
    "check_results_path",
    "exit_status_for",
    "network_options",
    "open_session",
    "read_token",
    "register_proxy_secret",
    "register_secrets",
    "report",
    "run_async",
    "unwrap",
]

#: Every job done (or the command worked).
EXIT_OK: Final = 0
#: Some jobs failed, or the API refused the command.
EXIT_FAILED: Final = 1
#: Bad input or usage; nothing was sent.
EXIT_USAGE: Final = 2
#: Interrupted (Ctrl-C, SIGTERM): 128 + SIGINT.
EXIT_INTERRUPTED: Final = 130
_MAX_PROBLEMS_SHOWN: Final = 200
T = TypeVar("T")


@attrs.frozen
class GlobalOptions:
    """The options given before the command.

    Attributes:
        base_url: ``--base-url`` or ``USEAPI_BASE_URL`` (``None``: the production API).
        proxy: ``--proxy`` (``None``: the environment's proxy, if any).
        ca_file: ``--ca-file`` (``None``: the system's CAs).
        token_file: ``--token-file`` (``None``: the ``USEAPI_TOKEN`` variable).
        accounts: ``--accounts`` (``None``: ask the API).
        sandbox: ``--sandbox``.
        debug: ``--debug``.
    """

    base_url: str | None = None
    proxy: str | None = attrs.field(default=None, repr=False)  # may hold a password
    ca_file: Path | None = None
    token_file: Path | None = None
    accounts: tuple[str, ...] | None = None
    sandbox: bool = False
    debug: bool = False


class CliError(Exception):
    """A failure told as one red line (plus optional detail lines), with an exit status.

    Args:
        message: The line.
        exit_status: The process's exit status.
        details: More lines, printed under it.
    """

    def __init__(
        self, message: str, exit_status: int = EXIT_FAILED, *, details: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_status = exit_status
        self.details = tuple(details)


class Interrupted(Exception):
    """The command was stopped by Ctrl-C or SIGTERM."""


def read_token(options: GlobalOptions) -> str | None:
    """The API token: the contents of ``--token-file``, else ``USEAPI_TOKEN``, else ``None``.

    Raises:
        CliError: The token file cannot be read or is empty (exit status 2).
    """
    if options.token_file is not None:
        path = options.token_file
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            )
            raise CliError(f"cannot read the token file {path}: {reason}", EXIT_USAGE) from None
        if not token:
            raise CliError(f"the token file {path} is empty", EXIT_USAGE)
        add_secret(token)
        return token
    token = os.environ.get(TOKEN_ENV_VAR, "").strip()
    if token:
        add_secret(token)
        return token
    return None


def register_secrets(options: GlobalOptions) -> None:
    """Register the token (if any can be read) as a secret before anything is printed, so
    that even an error about another argument cannot show it."""
    with contextlib.suppress(CliError):
        read_token(options)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: equal once resolved (``..``, symlinks), or, when
    both exist, the same inode (a hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_results_path(path: Path, *, manifest: Path | None = None) -> None:
    """Refuse a results path that cannot work, before anything is sent.

    Args:
        path: The ``--results`` path.
        manifest: The manifest, which the results file must not be, by any other path.

    Raises:
        CliError: It is the manifest, a folder, or its folder does not exist (exit status 2).
    """
    if manifest is not None and _same_file(path, manifest):
        raise CliError(
            f"--results {path} is the manifest {manifest}: give another results file",
            EXIT_USAGE,
        )
    if path.is_dir():
        raise CliError(f"--results {path} is a directory", EXIT_USAGE)
    if not path.absolute().parent.is_dir():
        raise CliError(
            f"--results {path}: the folder {path.absolute().parent} does not exist", EXIT_USAGE
        )


@attrs.frozen
class Session:
    """A ready client and what the command needs to know about it.

    Attributes:
        client: The client (closed when the session ends).
        accounts: The accounts jobs may use (empty when not resolved).
        sandbox: Whether it talks to the built-in fake server.
        base_url: The API root (``None`` in the sandbox, whose port changes every run).
    """

    client: Client
    accounts: tuple[str, ...]
    sandbox: bool
    base_url: str | None


def register_proxy_secret(proxy: str) -> None:
    """Register the password of a ``--proxy`` URL as a secret, so that no output shows it."""
    with contextlib.suppress(ValueError):
        password = urlsplit(proxy).password
        if password:
            add_secret(password)


def network_options(options: GlobalOptions, *, sandbox: bool) -> dict[str, Any]:
    """The ``Client`` keywords of ``--proxy`` and ``--ca-file``. The sandbox, on this
    machine, is reached directly: no proxy, not even the environment's."""
    if sandbox:
        for flag, value in (("--proxy", options.proxy), ("--ca-file", options.ca_file)):
            if value is not None:
                print_warning(f"{flag} is ignored in the sandbox")
        return {"trust_env": False}
    return {"proxy": options.proxy, "ssl": options.ca_file}


async def _usable_accounts(token: str, base_url: str, network: dict[str, Any]) -> tuple[str, ...]:
    async with Client(token=token, base_url=base_url, **network) as probe:
        listed = await probe.list_accounts()
    usable: list[str] = []
    for account in listed:
        if not account.account:
            continue
        if account.usable_for_audio:
            usable.append(account.account)
        else:
            why = account.error or "it does not support audio"
            print_warning(f"account {account.account} is skipped: {why}")
    if not usable:
        raise CliError(
            "no usable MiniMax audio account is configured at useapi.net "
            "(see 'minimax-async accounts')"
        )
    return tuple(usable)


@asynccontextmanager
async def open_session(
    options: GlobalOptions,
    *,
    voice_slots: int = MAX_VOICES_PER_ACCOUNT,
    resolve_accounts: bool = True,
    auto_sandbox: bool = False,
    force_sandbox: bool = False,
    coordinator: Any = None,
    sandbox_accounts: Sequence[str] = SANDBOX_ACCOUNTS,
) -> AsyncIterator[Session]:
    """Start the sandbox if asked, find the accounts, and open a client.

    Args:
        options: The global options.
        voice_slots: Cloned voices per account (client limit, and the sandbox's).
        resolve_accounts: Find the usable accounts (``--accounts``, else GET accounts).
        auto_sandbox: Use the sandbox when no token is given at all (``clone``).
        force_sandbox: Always use the sandbox (``demo``).
        sandbox_accounts: The sandbox's accounts, when it is used.
        coordinator: A ``RedisCoordinator`` shared with other runs (``clone --coordinator``);
            ``None`` keeps the limits within this process.

    Raises:
        CliError: No token, or no usable account.
    """
    token = None if force_sandbox else read_token(options)
    sandbox = options.sandbox or force_sandbox
    if not sandbox and token is None:
        if not auto_sandbox:
            raise CliError(
                f"no API token: set {TOKEN_ENV_VAR} or pass --token-file PATH "
                "(or add --sandbox to try the built-in fake server)",
                EXIT_USAGE,
            )
        if options.base_url is not None:
            raise CliError(
                f"--base-url (or {BASE_URL_ENV_VAR}) needs an API token: set {TOKEN_ENV_VAR} "
                "or pass --token-file PATH",
                EXIT_USAGE,
            )
        sandbox = True
        err_console.rule("[bold yellow]SANDBOX MODE[/]", style="yellow")
        print_note(
            f"No API token given ({TOKEN_ENV_VAR} or --token-file): this run uses the built-in "
            "sandbox server (fake accounts, nothing is sent to useapi.net, the voices vanish "
            "when it ends).",
            style="bold yellow",
        )
        err_console.rule(style="yellow")
    async with AsyncExitStack() as stack:
        if sandbox:
            if options.base_url is not None:
                print_warning(f"--base-url ({BASE_URL_ENV_VAR}) is ignored in the sandbox")
            fake = await stack.enter_async_context(
                start_sandbox(voice_slots=voice_slots, accounts=sandbox_accounts)
            )
            add_secret(fake.token)
            token, base_url = fake.token, fake.base_url
            if not auto_sandbox or options.sandbox:
                print_note(
                    f"sandbox: built-in fake server, accounts {describe_accounts(fake.accounts)}",
                    style="dim",
                )
        else:
            base_url = options.base_url or DEFAULT_BASE_URL
        assert token is not None
        network = network_options(options, sandbox=sandbox)
        accounts = options.accounts
        if accounts is None and resolve_accounts:
            accounts = await _usable_accounts(token, base_url, network)
        shared: dict[str, Any] = {} if coordinator is None else {"coordinator": coordinator}
        client = Client(
            token=token,
            base_url=base_url,
            accounts=accounts,
            max_voices_per_account=voice_slots,
            **shared,
            **network,
        )
        await stack.enter_async_context(client)
        yield Session(client, accounts or (), sandbox, None if sandbox else base_url)


def unwrap(exc: BaseException) -> BaseException:
    """The one error inside (nested) exception groups of one error each, else ``exc``."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def exit_status_for(exc: BaseException) -> int:
    """The exit status an error maps to (bad input: 2; anything else: 1)."""
    exc = unwrap(exc)
    if isinstance(exc, CliError):
        return exc.exit_status
    if isinstance(exc, (ManifestError, ValidationError, ConfigurationError)):
        return EXIT_USAGE
    return EXIT_FAILED


def report(exc: BaseException, *, debug: bool) -> int:
    """Print an error as one red line (with ``debug``, its traceback first); its status."""
    inner = unwrap(exc)
    if debug:
        print_traceback(exc)
    if isinstance(inner, CliError):
        print_error(inner.message)
        for line in inner.details:
            err_console.print(Text(f"  {redact(line)}", style="red"), soft_wrap=True)
    elif isinstance(inner, ManifestError):
        print_error(f"{inner.path}: {len(inner.problems)} problem(s); nothing was sent")
        for problem in inner.problems[:_MAX_PROBLEMS_SHOWN]:
            err_console.print(Text(f"  {redact(str(problem))}", style="red"), soft_wrap=True)
        if len(inner.problems) > _MAX_PROBLEMS_SHOWN:
            err_console.print(
                f"  … and {len(inner.problems) - _MAX_PROBLEMS_SHOWN} more", style="red"
            )
    elif isinstance(inner, (MiniMaxError, OSError)):
        # The library speaks of Python calls; the command line of its commands and options.
        print_error(f"{type(inner).__name__}: {cli_message(inner)}")
    else:
        hint = "" if debug else " (run with --debug for the traceback)"
        print_error(f"internal error: {type(inner).__name__}: {inner}{hint}")
    return exit_status_for(inner)


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main`` on a fresh event loop; Ctrl-C or SIGTERM cancels it cleanly.

    A second signal while it unwinds ends the process at once (every results line is
    already on disk by then).

    Returns:
        What ``main`` returned.

    Raises:
        Interrupted: A signal stopped it.
    """
    signals = 0

    async def runner() -> T:
        nonlocal signals
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                os._exit(EXIT_INTERRUPTED)
            task.cancel()

        installed: list[signal.Signals] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, non-main thread
                continue
            installed.append(signum)
        try:
            return await main()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    try:
        status = asyncio.run(runner())
    except BaseException as exc:
        # A signal's cancellation may surface as another error while the run unwinds.
        if signals or isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            raise Interrupted from None
        raise
    if signals:
        raise Interrupted
    return status
