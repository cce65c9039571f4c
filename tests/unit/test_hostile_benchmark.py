"""Benchmark 8 (hostile bodies) is registered and renders; no timing is asserted here.

``benchmarks._hostile`` needs only the core; ``benchmarks.__main__`` imports every section and
so the whole ``bench`` dependency group, which the README's ``pip install -e '.[test]'`` leaves
out: that test skips without the group instead of failing the collection.
"""

from __future__ import annotations

import pytest

from benchmarks._hostile import HostileResult, render_hostile

#: The ``bench`` dependency group's packages (pyproject ``[dependency-groups]``), as imported.
BENCH_GROUP = ("aiometer", "httpx", "pydantic", "msgspec", "looptime")


def test_hostile_section_is_registered() -> None:
    """``python -m benchmarks`` (and ``--quick``) run the hostile-bodies section."""
    for module in BENCH_GROUP:
        pytest.importorskip(module, reason="the bench group: pip install --group bench")
    from benchmarks.__main__ import SECTIONS

    assert "hostile" in SECTIONS


def test_render_shows_time_per_mb_and_the_growth_ratio() -> None:
    """The table has a column per size and the 16 MB / 1 MB ratio of time per MB."""
    rows = [
        HostileResult("x", 1, 0.010),
        HostileResult("x", 4, 0.040),
        HostileResult("x", 16, 0.16),
    ]
    text = "\n".join(render_hostile(rows))
    assert "| x | 10.000 | 10.000 | 10.000 | 1.00 |" in text
    assert render_hostile([]) == []
