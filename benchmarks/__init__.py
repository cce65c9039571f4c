"""Benchmarks of minimax_async against what users would write instead.

Run ``python -m benchmarks`` (``--quick`` for the CI smoke test); see ``benchmarks/README.md``.
Everything runs against ``minimax_async.testing.FakeMiniMax`` on 127.0.0.1, in a process of its
own, and the results go to ``benchmarks/RESULTS.md``.
"""
