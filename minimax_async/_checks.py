"""Checks of the arguments users pass in, where they enter: pure functions, no I/O.

Each returns the value to use, or raises a typed error naming the argument:
:class:`ConfigurationError` for how a client is set up, :class:`ValidationError` for the
arguments of one call. They run before anything is sent.
"""

from __future__ import annotations

import ipaddress
import math
import os
import string
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from ._exceptions import ConfigurationError, ValidationError

__all__ = [
    "check_account_arg",
    "check_accounts",
    "check_base_url",
    "check_count",
    "check_flag",
    "check_path_id",
    "check_sample_source",
    "check_seconds",
    "check_token",
]

#: Characters a base URL may hold: no spaces, quotes, backslashes or controls.
_URL_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "-._~:/%[]")


def _printable(value: str) -> bool:
    """No control characters (CR/LF would split an HTTP header or a log line)."""
    return value.isprintable()


def check_token(token: object) -> str:
    """The API token, or :class:`ConfigurationError`: not a string, blank, or with spaces
    or control characters (a CR/LF would make every request fail inside aiohttp)."""
    if not isinstance(token, str):
        raise ConfigurationError(f"token must be a string, not {type(token).__name__}")
    if not token.strip():
        raise ConfigurationError("token is blank")
    if not _printable(token) or any(c.isspace() for c in token):
        raise ConfigurationError(
            "token holds whitespace or control characters (a line break, say); pass the token alone"
        )
    return token


def check_base_url(base_url: object, name: str = "base_url") -> str:
    """The API root without a trailing slash, or :class:`ConfigurationError`.

    Refused: not a string; a scheme other than https (http only to a loopback host); no
    host; a bad port; user info; a ``?query`` or ``#fragment``; spaces, quotes or other
    characters a URL root has no use for.
    """
    if not isinstance(base_url, str):
        raise ConfigurationError(f"{name} must be a string, not {type(base_url).__name__}")
    if "?" in base_url:
        raise ConfigurationError(f"{name} {base_url!r} has a query string; give the API root")
    if "#" in base_url:
        raise ConfigurationError(f"{name} {base_url!r} has a #fragment; give the API root")
    if "@" in base_url:
        raise ConfigurationError(f"{name} {base_url!r} holds user info; pass token= instead")
    bad = sorted({c for c in base_url if c not in _URL_CHARACTERS})
    if bad:
        raise ConfigurationError(
            f"{name} {base_url!r} holds characters a URL root cannot: {''.join(bad)!r}"
        )
    parts = urlsplit(base_url)
    try:
        parts.port  # noqa: B018  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise ConfigurationError(f"{name} {base_url!r} has an invalid port") from None
    if parts.scheme == "https" and parts.hostname:
        return base_url.rstrip("/")
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return base_url.rstrip("/")
        raise ConfigurationError(
            f"{name} {base_url!r} is plain http to a non-loopback host; the token would "
            "travel unencrypted. Use https (http is allowed only for 127.0.0.1/localhost)."
        )
    raise ConfigurationError(f"{name} {base_url!r} is not an http(s) URL")


def check_seconds(
    name: str,
    value: object,
    *,
    allow_zero: bool = False,
    error: type[ConfigurationError] | type[ValidationError] = ConfigurationError,
) -> float:
    """A finite, positive (or zero) number of seconds; ``bool``, NaN and infinity refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(error, name, f"must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        wanted = "zero or more" if allow_zero else "more than zero"
        raise _error(error, name, f"is {value!r}; it must be a finite number, {wanted}")
    return float(value)


def check_count(
    name: str,
    value: object,
    *,
    minimum: int = 1,
    error: type[ConfigurationError] | type[ValidationError] = ConfigurationError,
) -> int:
    """An ``int`` (not a ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(error, name, f"must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise _error(error, name, f"is {value}; it must be at least {minimum}")
    return value


def check_flag(name: str, value: object) -> bool:
    """``True`` or ``False``, nothing merely truthy."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def _account_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value.strip():
        return "must be a non-empty account id"
    if value != value.strip() or not _printable(value):
        return f"{value!r} holds surrounding spaces or control characters"
    return None


def check_accounts(accounts: object) -> tuple[str, ...] | None:
    """The configured account ids (duplicates dropped, order kept), or ``None``."""
    if accounts is None:
        return None
    if isinstance(accounts, (str, bytes)):
        raise ConfigurationError("accounts must be a list of account ids, not one string")
    if not isinstance(accounts, Iterable):
        raise ConfigurationError(
            f"accounts must be a list of account ids, not {type(accounts).__name__}"
        )
    account_list = tuple(dict.fromkeys(accounts))
    if not account_list:
        raise ConfigurationError("accounts must hold at least one non-empty account id")
    for account in account_list:
        problem = _account_problem(account)
        if problem is not None:
            raise ConfigurationError(f"accounts: an account id {problem}")
    return account_list


def check_account_arg(account: object, name: str = "account") -> str | None:
    """An ``account=`` argument: ``None``, or a non-empty id without control characters."""
    if account is None:
        return None
    problem = _account_problem(account)
    if problem is not None:
        raise ValidationError(name, problem)
    return account  # type: ignore[return-value]  # a str: _account_problem checked it


def check_path_id(name: str, value: object) -> str:
    """An id that goes into a URL path: a non-empty string, not ``.`` or ``..``, no controls.

    The wire layer percent-encodes it; dot segments would be resolved away by URL rules
    (``get_clip("..")`` would ask for ``GET /v1/minimax/``).
    """
    if not isinstance(value, str):
        raise ValidationError(name, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValidationError(name, "must be a non-empty string")
    if value in (".", ".."):
        raise ValidationError(name, f"{value!r} is not an id (a URL dot segment)")
    if not _printable(value):
        raise ValidationError(name, "holds control characters")
    return value


def check_sample_source(source: object, name: str = "source") -> None:
    """A sample given as bytes or a path (``str`` or ``os.PathLike``)."""
    if isinstance(source, (bytes, bytearray, memoryview, str, os.PathLike)):
        return
    raise ValidationError(
        name, f"must be bytes or a path to an .mp3/.wav file, not {type(source).__name__}"
    )


def _error(
    error: type[ConfigurationError] | type[ValidationError], name: str, message: str
) -> ConfigurationError | ValidationError:
    if issubclass(error, ValidationError):
        return error(name, message)
    return error(f"{name} {message}")
