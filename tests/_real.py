"""Real components the tests start themselves (redis-server, ...): find them or skip.

Locally a missing tool skips its tests with an install hint. With
``MINIMAX_ASYNC_REQUIRE_REAL=1`` (``.ci/run`` exports it after installing the tools) the same
absence fails the test instead, so CI always runs them.
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["REQUIRE_REAL_VARIABLE", "require"]

#: The environment variable that turns a missing real component into a test failure.
REQUIRE_REAL_VARIABLE = "MINIMAX_ASYNC_REQUIRE_REAL"


def require(tool: str, hint: str) -> str:
    """Return the path of the executable ``tool``, or skip (fail under CI) without it.

    Args:
        tool: The executable's name, looked up on ``PATH``.
        hint: How to install it, shown in the skip or failure message.

    Returns:
        The executable's absolute path.
    """
    path = shutil.which(tool)
    if path is not None:
        return path
    message = f"{tool} is not installed (install it with: {hint})"
    if os.environ.get(REQUIRE_REAL_VARIABLE) == "1":
        pytest.fail(f"{message}; {REQUIRE_REAL_VARIABLE}=1 requires it", pytrace=False)
    pytest.skip(message)
