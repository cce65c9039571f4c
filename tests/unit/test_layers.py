"""The import graph of the package points one way (rule 1 of the architecture review, on the
real tree): no cycle, and every import of the core goes to a lower layer. ``cli/`` sits on
top and uses the public names plus an allowlist; ``testing/`` imports nothing of the client
(it is an independent reading of the contract)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

import minimax_async

PACKAGE_DIR: Final = Path(minimax_async.__file__).parent

#: The core's layers, lowest first. A module may import only from layers below its own.
LAYERS: Final[tuple[frozenset[str], ...]] = tuple(
    frozenset(layer)
    for layer in (
        {"_exceptions", "_version"},
        {"_checks"},
        {"_models", "_samples", "_retry", "_accounts", "_lifecycle"},
        {"_bulk", "_converter", "_wire", "_capacity", "_coordinator"},
        {"_placement", "_counting", "_offers"},  # the scheduler's parts
        {"_transport", "_scheduler", "_uploads"},
        {"_sending"},
        {"_cloning", "_clone_run"},
        {"_client"},
        {"__init__"},
        {"__main__"},
    )
)
#: Core modules the CLI may import besides the package itself (the rest is public API).
CLI_ALLOWLIST: Final = frozenset({"_samples", "_cloning"})


def module_name(path: Path) -> str:
    """``cli._clone``, ``_client``, ``__init__``, ``testing.__init__`` ..."""
    return ".".join(path.relative_to(PACKAGE_DIR).with_suffix("").parts)


def imports(path: Path, name: str) -> Iterator[str]:
    """The package modules that module ``name`` (its source at ``path``) imports, relative
    to the package (the package itself is ``__init__``), type-checking-only ones included."""
    package = name.split(".")[:-1]  # the file's own package, relative to minimax_async
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "minimax_async":
                module = node.module.split(".")[1:]
            else:
                continue
            # ``from . import x`` / ``from .pkg import mod``: the names may be submodules.
            for alias in node.names:
                if (PACKAGE_DIR.joinpath(*module, f"{alias.name}.py")).exists():
                    targets.append([*module, alias.name])
            targets.append(module)
        elif isinstance(node, ast.Import):
            targets.extend(
                alias.name.split(".")[1:]
                for alias in node.names
                if alias.name.split(".")[0] == "minimax_async"
            )
        for target in targets:
            if not target or PACKAGE_DIR.joinpath(*target).is_dir():
                target = [*target, "__init__"]
            yield ".".join(target)


def graph() -> dict[str, set[str]]:
    """Every module of the package and what it imports (self-references dropped)."""
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = module_name(path)
        edges[name] = set(imports(path, name)) - {name}
    return edges


def layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if module in layer:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


#: Subpackages that are layers of their own, above the core (``fleet/``: the Redis
#: coordinator, an optional extra) or beside it (``testing/``).
SUBPACKAGES: Final = ("cli.", "testing.", "fleet.")


def core(module: str) -> bool:
    return not module.startswith(SUBPACKAGES)


def test_every_core_module_has_a_layer() -> None:
    """A new module of the core must be placed in a layer."""
    for module in graph():
        if core(module):
            layer_of(module)


def test_the_core_imports_only_downwards() -> None:
    """Each import of a core module goes to a strictly lower layer: no cycle, no arrow up,
    and neither cli/ nor testing/ is imported by the core (__main__ runs the CLI)."""
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if core(module) and module != "__main__"
        for target in targets
        if not core(target) or layer_of(target) >= layer_of(module)
    ]
    assert wrong == []


def test_testing_imports_nothing_of_the_client() -> None:
    """The fake server is an independent oracle: it imports only its own modules."""
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if module.startswith("testing.")
        for target in targets
        if not target.startswith("testing.")
    ]
    assert wrong == []


def test_cli_uses_the_public_api_and_the_allowlist() -> None:
    """cli/ imports the package, its own modules, the fake server (the sandbox) and only the
    allowlisted internals (promote a name rather than grow the list)."""
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if module.startswith("cli.")
        for target in targets
        if not target.startswith(("cli.", "testing."))
        and target != "__init__"
        and target not in CLI_ALLOWLIST
    ]
    assert wrong == []


def test_fleet_sits_on_the_core() -> None:
    """fleet/ (an extra) may use the core; the core and the fake server never import it."""
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if not module.startswith(("fleet.", "cli."))
        for target in targets
        if target.startswith("fleet.")
    ]
    assert wrong == []


def test_no_cycle_anywhere() -> None:
    """No import cycle in the whole package, cli/ and testing/ included (the package's
    ``__init__`` and a subpackage's ``__init__`` re-exporting its modules are not a cycle
    of their own: edges into an ``__init__`` from its own subpackage are left out)."""
    edges = graph()

    def parent_init(module: str, target: str) -> bool:
        return target.endswith("__init__") and module.startswith(target[: -len("__init__")])

    pruned = {m: {t for t in ts if t in edges and not parent_init(m, t)} for m, ts in edges.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for target in sorted(pruned[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(pruned):
        visit(module, [])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("from ._wire import x", {"_wire"}, id="relative"),
        pytest.param("from . import __version__", {"__init__"}, id="package"),
        pytest.param("from . import _version", {"_version", "__init__"}, id="submodule"),
        pytest.param("import minimax_async._client", {"_client"}, id="absolute"),
        pytest.param("from minimax_async.testing import F", {"testing.__init__"}, id="subpackage"),
        pytest.param("import aiohttp", set(), id="foreign"),
    ],
)
def test_imports_reads_each_form(tmp_path: Path, source: str, expected: set[str]) -> None:
    """The parser sees every form of import (a checker that misses one cannot fail)."""
    probe = tmp_path / "probe.py"
    probe.write_text(source + "\n", encoding="utf-8")
    assert set(imports(probe, "_probe")) == expected


#: Core modules that may use raw asyncio, each for a reason stated in its docstring (rule 2).
RAW_ASYNCIO: Final = frozenset(
    {
        "_accounts",  # the waiters are futures (memory per queued job)
        "_clone_run",  # one future per wait of the results iterator
        "_counting",  # the background voice counts
        "_lifecycle",  # aclose() cancels tasks and takes its cancellation back
        "_offers",  # room offers on the loop's timers
        "_scheduler",  # timers and waiters
        "_transport",  # aiohttp's own timeouts
        "_uploads",  # shared uploads, shielded
    }
)


def runtime_imports(path: Path) -> set[str]:
    """Top-level names of the modules imported at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def core_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = module_name(path)
        if core(name):
            yield name, path


def test_only_the_transport_imports_aiohttp() -> None:
    """The core's only aiohttp code is _transport (type-only imports aside)."""
    users = {name for name, path in core_files() if "aiohttp" in runtime_imports(path)}
    assert users == {"_transport"}


def test_raw_asyncio_only_where_a_reason_is_stated() -> None:
    """The clone engine, the send pipeline and the facade speak anyio only; raw asyncio is
    kept to the modules listed (each says why in its docstring)."""
    users = {name for name, path in core_files() if "asyncio" in runtime_imports(path)}
    assert users <= RAW_ASYNCIO
