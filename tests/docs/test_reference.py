"""The API reference (docs/reference/, built by ``mkdocs build --strict``) covers the public API."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

import minimax_async
import minimax_async.testing

from ._snippets import ROOT

REFERENCE = ROOT / "docs" / "reference"
_DIRECTIVE = re.compile(r"^::: (minimax_async(?:\.[\w]+)+)\s*$", re.MULTILINE)
#: Public names that have no entry of their own, and why.
NOT_DOCUMENTED = {"minimax_async.__version__": "the installed version string"}


def _documented() -> set[str]:
    return {
        name
        for page in REFERENCE.glob("*.md")
        for name in _DIRECTIVE.findall(page.read_text(encoding="utf-8"))
    }


@pytest.mark.parametrize("module", [minimax_async, minimax_async.testing], ids=lambda m: m.__name__)
def test_every_public_name_has_a_reference_entry(module: ModuleType) -> None:
    """Each name of ``__all__`` has a ``::: module.name`` entry in docs/reference/."""
    names = {f"{module.__name__}.{name}" for name in module.__all__}
    missing = sorted(names - _documented() - NOT_DOCUMENTED.keys())
    assert not missing, f"add '::: <name>' entries to a page of docs/reference/ for {missing}"


def test_every_reference_entry_is_a_public_name() -> None:
    """No entry documents a name that is gone or private."""
    public = {f"minimax_async.{name}" for name in minimax_async.__all__}
    public |= {f"minimax_async.testing.{name}" for name in minimax_async.testing.__all__}
    public.add("minimax_async.testing")
    assert sorted(_documented() - public) == []


def test_every_docs_page_is_in_the_site_navigation() -> None:
    """``mkdocs build --strict`` (CI) fails on a page missing from ``nav``: say it here first."""
    nav = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text("utf-8"), re.M))
    pages = {page.relative_to(ROOT / "docs").as_posix() for page in (ROOT / "docs").rglob("*.md")}
    assert sorted(pages - nav) == [], "add these pages to the nav of mkdocs.yml"
    assert sorted(nav - pages) == [], "the nav of mkdocs.yml names pages that do not exist"
