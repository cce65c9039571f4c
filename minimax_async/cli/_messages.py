"""Library errors in the words of the command line.

The library's messages speak of Python (``Client.delete_voice``, ``pass account=...``,
``Client(max_response_bytes=...)``); a user of ``minimax-async`` needs the commands and
options that do the same. :func:`cli_message` rewrites them; everything else is kept as is.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["FREE_SLOTS_HINT", "cli_message"]

#: How to free voice slots from the command line.
FREE_SLOTS_HINT: Final = (
    "delete voices ('minimax-async voices --cloned' lists them; "
    "'minimax-async delete-voices' or 'minimax-async delete VOICE_ID' deletes them)"
)
#: The library's operation names (as its account errors give them) and the commands.
_COMMANDS: Final = {
    "clone_from_samples": "clone",
    "clone_voice": "clone",
    "delete_voice": "delete",
    "free_voice_slots": "plan",
    "get_config": "config",
    "iter_system_voices": "voices --system",
    "list_cloned_voices": "voices --cloned",
    "upload_sample": "upload",
}
_OPERATION: Final = re.compile(r"^(?P<field>\w+: )?(?P<operation>[a-z_]+)(?= needs )")
_PYTHON_HINTS: Final = (
    (re.compile(r"delete voices \(Client\.delete_voice\)"), FREE_SLOTS_HINT),
    (re.compile(r"\(Client\.delete_voice\)"), "('minimax-async delete-voices')"),
    (re.compile(r"pass account=\.\.\."), "give --account ACCOUNT"),
    (re.compile(r"account=\.\.\."), "--account"),
    (
        re.compile(r"pass Client\(ssl=\.\.\.\) a CA file or an ssl\.SSLContext that trusts it"),
        "give --ca-file PATH (a PEM file of the CA that issued it)",
    ),
    (re.compile(r"^ssl: "), "--ca-file: "),
    (re.compile(r"^proxy "), "--proxy "),
    # A client setting the command line does not offer: no advice is better than Python.
    (re.compile(r" ?\(Client\([^()]*\)\)"), ""),
)


def cli_message(exc: BaseException) -> str:
    """The message of ``exc``, with advice about Python calls replaced by commands."""
    text = str(exc)
    for pattern, replacement in _PYTHON_HINTS:
        text = pattern.sub(replacement, text)
    match = _OPERATION.match(text)
    if match and match["operation"] in _COMMANDS:
        command = f"'minimax-async {_COMMANDS[match['operation']]}'"
        text = f"{match['field'] or ''}{command}{text[match.end() :]}"
    return text
