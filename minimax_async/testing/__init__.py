"""Test helpers: an in-process fake of the useapi.net MiniMax audio API, and audio samples.

``FakeMiniMax`` serves the documented contract on ``127.0.0.1`` so that the client, its
tests, benchmarks and users' own tests run without the network::

    from minimax_async.testing import FakeMiniMax, make_wav

    async with FakeMiniMax(clone_latency=0.01) as fake:
        ...  # point a client at fake.base_url with fake.token
"""

from __future__ import annotations

from minimax_async.testing._audio import make_mp3, make_wav
from minimax_async.testing._faults import Fault, FaultPlan
from minimax_async.testing._gate import CloneGate
from minimax_async.testing._record import CloneSpan, CreatedVoice, ServerRecord
from minimax_async.testing._server import FakeMiniMax

__all__ = [
    "CloneGate",
    "CloneSpan",
    "CreatedVoice",
    "FakeMiniMax",
    "Fault",
    "FaultPlan",
    "ServerRecord",
    "make_mp3",
    "make_wav",
]
