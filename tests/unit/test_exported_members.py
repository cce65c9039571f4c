"""The public surface (minimax_async.__all__): complete, sorted, documented, typed."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import minimax_async

PACKAGE_DIR = Path(minimax_async.__file__).parent

#: Names in a submodule's ``__all__`` that are shared between modules of the package but are
#: not part of the public API, and why.
INTERNAL = {
    "_exceptions": {"error_class_for_status"},  # the wire layer's status table
    "_models": set(),
    "_bulk": set(),
    "_capacity": set(),
    "_client": set(),
    # The one retry loop and its rules, used by the send and clone paths.
    "_retry": {"Retrying", "is_retryable", "known_not_processed", "may_resend"},
    "_lifecycle": {"ClientState", "Operations"},  # the client's lifecycle guard
    "_sending": {"Options", "Sender"},  # the send pipeline
    "_uploads": {"SampleChecks", "UploadCache", "gather_first_error"},  # reuse across jobs
    # The clone engine; the CLI imports adoptable (the one adoption rule).
    "_cloning": {"DEFAULT_RECHECK_DELAY", "Cloner", "adoptable"},
    "_clone_run": {"JobRunner"},  # what CloneRun drives (the client's job placement)
    "_scheduler": {"CloneScheduler", "LocalCoordinator", "Ticket"},  # the client's admission
    # machinery; one account's state and the coordinator seam under it
    "_accounts": {
        "PREFETCH_PER_ACCOUNT",
        "RATE_LIMIT_STRIKE_WINDOW",
        "AccountRules",
        "AccountState",
        "ErrorFactory",
        "Phase",
        "Ticket",
        "out_of_rotation_error",
    },
    # CoordinatorFactory types Client(coordinator=...); users pass a
    # minimax_async.fleet.RedisCoordinator, the one implementation.
    "_coordinator": {
        "Clock",
        "Coordinator",
        "CoordinatorFactory",
        "ErrorFactory",
        "HeldBack",
        "NoRoomNow",
        "TicketT",
        "Timer",
    },
    # The client's sample loading. SampleSource appears in public signatures
    # (VoiceJob.samples, Client.upload_sample) but is only a type alias of builtins.
    "_samples": {
        "CONTENT_TYPE_BY_SUFFIX",
        "SAMPLE_CONTENT_TYPES",
        "LocalSample",
        "SampleSource",
        "load_sample",
        "read_sample",
        "sniff_content_type",
    },
}


def natural_key(name: str) -> list[tuple[int, int]]:
    """Ruff's "natural" order: characters by code point, runs of digits by value."""
    return [
        (ord("0"), int(token)) if token.isdigit() else (ord(token), 0)
        for token in re.findall(r"\d+|.", name)
    ]


def member_kind(name: str) -> int:
    """Ruff RUF022's groups: SCREAMING_CASE constants, then CamelCase, then the rest."""
    if len(name) > 1 and name.upper() == name and name.lower() != name:
        return 0
    if name[0].isupper():
        return 1
    return 2


def ruff_isort_key(name: str) -> tuple[int, list[tuple[int, int]]]:
    """The sort key of ruff's RUF022 ("isort-style" sort of ``__all__``)."""
    return member_kind(name), natural_key(name)


def public_objects() -> list[tuple[str, object]]:
    """Every exported class and function (constants and ``__version__`` have no docstring)."""
    return [
        (name, getattr(minimax_async, name))
        for name in minimax_async.__all__
        if inspect.isclass(getattr(minimax_async, name))
        or inspect.isfunction(getattr(minimax_async, name))
    ]


def test_every_name_in_all_exists() -> None:
    """Every name in __all__ is an attribute of the package."""
    missing = [name for name in minimax_async.__all__ if not hasattr(minimax_async, name)]
    assert missing == []


def test_all_has_no_duplicates() -> None:
    """No name is exported twice."""
    assert len(set(minimax_async.__all__)) == len(minimax_async.__all__)


def test_all_is_sorted_as_ruff_does() -> None:
    """__all__ is in RUF022 order: constants, then classes, then the rest, each natural-sorted."""
    assert minimax_async.__all__ == sorted(minimax_async.__all__, key=ruff_isort_key)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(
            ["b", "A", "Ab", "AB", "_x", "B_2", "B_10"],
            ["AB", "B_2", "B_10", "A", "Ab", "_x", "b"],
            id="groups-and-digits",
        ),
        pytest.param(
            ["MAX_SAMPLE_BYTES", "MAX_SAMPLES_PER_VOICE", "APIError", "Account"],
            ["MAX_SAMPLES_PER_VOICE", "MAX_SAMPLE_BYTES", "APIError", "Account"],
            id="case-sensitive-code-points",
        ),
    ],
)
def test_ruff_isort_key(names: list[str], expected: list[str]) -> None:
    """The reimplemented RUF022 key orders as ruff does on known cases."""
    assert sorted(names, key=ruff_isort_key) == expected


@pytest.mark.parametrize("module_name", [pytest.param(name, id=name) for name in INTERNAL])
def test_submodule_public_names_are_exported(module_name: str) -> None:
    """Every public name of the submodules is re-exported, bar the listed internals."""
    module: ModuleType = importlib.import_module(f"minimax_async.{module_name}")
    missing = set(module.__all__) - INTERNAL[module_name] - set(minimax_async.__all__)
    assert missing == set()


@pytest.mark.parametrize("module_name", [pytest.param(name, id=name) for name in INTERNAL])
def test_exported_names_are_the_submodules_objects(module_name: str) -> None:
    """A re-exported name is the very object of its submodule, not a copy."""
    module: ModuleType = importlib.import_module(f"minimax_async.{module_name}")
    for name in set(module.__all__) & set(minimax_async.__all__):
        assert getattr(minimax_async, name) is getattr(module, name), name


def test_package_has_a_docstring() -> None:
    """The package itself is documented."""
    assert (minimax_async.__doc__ or "").strip()


@pytest.mark.parametrize(("name", "obj"), public_objects())
def test_public_name_has_docstring(name: str, obj: object) -> None:
    """Every exported class and function has its own docstring (not an inherited one)."""
    assert (obj.__doc__ or "").strip(), name


@pytest.mark.parametrize(
    ("name", "cls"), [(name, obj) for name, obj in public_objects() if inspect.isclass(obj)]
)
def test_public_methods_have_docstrings(name: str, cls: type) -> None:
    """Every public method and property a public class defines has a docstring."""
    undocumented = []
    for attribute, value in vars(cls).items():
        if attribute.startswith("_"):
            continue
        function = value.fget if isinstance(value, property) else value
        if isinstance(function, (staticmethod, classmethod)):
            function = function.__func__
        if inspect.isfunction(function) and not (function.__doc__ or "").strip():
            undocumented.append(f"{name}.{attribute}")
    assert undocumented == []


CONSTANTS = [
    name for name in minimax_async.__all__ if not name.startswith("_") and member_kind(name) == 0
]


@pytest.mark.parametrize("name", CONSTANTS)
def test_public_constant_is_documented(name: str) -> None:
    """Every exported constant carries a ``#:`` doc comment where it is defined."""
    definition = re.compile(rf"^{name}\s*(:[^=]*)?=", re.MULTILINE)
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if definition.match(line):
                assert number > 0
                assert lines[number - 1].startswith("#:"), f"{path.name}:{number + 1}"
                return
    pytest.fail(f"{name} is not defined at module level in {PACKAGE_DIR}")


def test_version_is_a_string() -> None:
    """__version__ is exported and is a non-empty string."""
    assert "__version__" in minimax_async.__all__
    assert isinstance(minimax_async.__version__, str)
    assert minimax_async.__version__


def test_py_typed_ships() -> None:
    """The package ships its PEP 561 py.typed marker."""
    assert importlib.resources.files("minimax_async").joinpath("py.typed").is_file()
