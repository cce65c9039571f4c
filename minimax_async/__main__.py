"""``python -m minimax_async``: the command line (needs the ``cli`` extra)."""

from __future__ import annotations

from minimax_async.cli import main

if __name__ == "__main__":
    main()
