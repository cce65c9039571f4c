"""Voice-slot capacity: how many more voices each account can hold, from one listing each.

:meth:`minimax_async.Client.free_voice_slots` lists the cloned voices of every account once
(``GET audio/voices?is_system=false``) and returns one :class:`VoiceSlots` per account, so that
a bulk run can be checked against the free slots before anything is uploaded.
"""

from __future__ import annotations

import attrs

from ._models import Voice

__all__ = ["VoiceSlots"]


@attrs.frozen
class VoiceSlots:
    """The cloned-voice slots of one account, as one listing saw them.

    Attributes:
        account: The account (``None`` in single-account mode, when none was named).
        limit: The voices an account can hold (the client's ``max_voices_per_account``, or
            the documented 4 when the client does not count voices).
        voices: The account's cloned voices when it was listed; every one takes a slot,
            voices made by hand in the web UI included.
    """

    account: str | None
    limit: int
    voices: tuple[Voice, ...] = ()

    @property
    def used(self) -> int:
        """Slots taken: the voices listed."""
        return len(self.voices)

    @property
    def free(self) -> int:
        """Slots left for new voices (never below 0, even on an account over its limit)."""
        return max(0, self.limit - self.used)
