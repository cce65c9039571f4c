"""Capacity before cost: do the jobs of a run fit in the free voice slots of its accounts?

Before anything is uploaded, ``clone`` (and ``plan``) lists the cloned voices of every
account once (:meth:`minimax_async.Client.free_voice_slots`) and counts the jobs still to do
against the free slots: a job pinned to an account needs a slot on that account, an unpinned
job a slot on any account left over once the pinned jobs are counted. Jobs that would find no
slot are the jobs that would fail with ``VoiceSlotsExhaustedError`` after every other clone
ended, which with real clones is many minutes later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import attrs
from rich.table import Table
from rich.text import Text

from minimax_async import VoiceSlots
from minimax_async.cli._manifest import ManifestRow

__all__ = [
    "AccountCapacity",
    "CapacityPlan",
    "capacity_json",
    "capacity_table",
    "plan_capacity",
    "plural",
]


def plural(count: int, one: str, many: str | None = None) -> str:
    """``"1 job"``, ``"2 jobs"`` (``many`` for irregular plurals)."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


@attrs.frozen
class AccountCapacity:
    """One account's slots and the jobs pinned to it.

    Attributes:
        account: The account.
        limit: Voices it can hold.
        used: Voices it holds now.
        pinned: Jobs still to do that must run on it.
        pinned_short: Those of them that find no free slot on it.
    """

    account: str
    limit: int
    used: int
    pinned: int
    pinned_short: int

    @property
    def free(self) -> int:
        """Slots free now."""
        return max(0, self.limit - self.used)

    @property
    def left_over(self) -> int:
        """Free slots left for unpinned jobs once the pinned ones are counted."""
        return max(0, self.free - self.pinned)


@attrs.frozen
class CapacityPlan:
    """How the jobs still to do fit in the free voice slots.

    Attributes:
        accounts: Every account, in the run's order.
        jobs: Jobs that need a new voice (done and adoptable jobs excluded).
        unpinned: Those of them that may run on any account.
        unpinned_short: Unpinned jobs that find no free slot anywhere.
        adoptable: Jobs whose voices already exist (a resumed run adopts them: no slot needed).
    """

    accounts: tuple[AccountCapacity, ...]
    jobs: int
    unpinned: int
    unpinned_short: int
    adoptable: int = 0

    @property
    def free(self) -> int:
        """Free slots on every account together."""
        return sum(a.free for a in self.accounts)

    @property
    def would_fail(self) -> int:
        """Jobs that would find no free voice slot."""
        return self.unpinned_short + sum(a.pinned_short for a in self.accounts)

    def summary(self) -> str:
        """E.g. ``"30 jobs need 30 voice slots; 12 are free on 3 accounts: 18 would fail"``."""
        free = self.free
        text = (
            f"{plural(self.jobs, 'job')} {'needs' if self.jobs == 1 else 'need'} "
            f"{plural(self.jobs, 'voice slot')}; {free} {'is' if free == 1 else 'are'} free "
            f"on {plural(len(self.accounts), 'account')}"
        )
        if self.would_fail:
            text += f": {self.would_fail} would fail"
        return text

    def details(self) -> list[str]:
        """One line per account whose pinned jobs do not fit, and one for unpinned jobs."""
        lines = [
            f"account {a.account}: {plural(a.pinned, 'pinned job')}, "
            f"{plural(a.free, 'free slot')} ({a.used}/{a.limit} used): {a.pinned_short} would fail"
            for a in self.accounts
            if a.pinned_short
        ]
        if self.unpinned_short:
            lines.append(
                f"{plural(self.unpinned, 'unpinned job')}, "
                f"{plural(sum(a.left_over for a in self.accounts), 'slot')} left on any account: "
                f"{self.unpinned_short} would fail"
            )
        return lines


def plan_capacity(
    rows: Sequence[ManifestRow], slots: Sequence[VoiceSlots], *, adoptable: int = 0
) -> CapacityPlan:
    """Count ``rows`` (the jobs that need a new voice) against the free ``slots``.

    Pinned jobs are counted against their accounts first; unpinned jobs take what is left on
    any account. (The client places unpinned jobs as they reach the front of the queue, so an
    unpinned job may in fact take the slot a pinned job needed: pin both or neither when an
    account is nearly full.)
    """
    pinned: Counter[str | None] = Counter(
        row.pinned_account for row in rows if row.pinned_account is not None
    )
    accounts = tuple(
        AccountCapacity(
            account=str(s.account),
            limit=s.limit,
            used=s.used,
            pinned=pinned[s.account],
            pinned_short=max(0, pinned[s.account] - s.free),
        )
        for s in slots
    )
    listed = {a.account for a in accounts}
    # A job pinned to an account that was not listed has no slot (the manifest check refuses
    # such rows before this point; counted here so that the plan never says they fit).
    unlisted = sum(n for account, n in pinned.items() if account not in listed)
    unpinned = sum(1 for row in rows if row.pinned_account is None)
    room = sum(a.left_over for a in accounts)
    return CapacityPlan(
        accounts=accounts,
        jobs=len(rows),
        unpinned=unpinned,
        unpinned_short=max(0, unpinned - room) + unlisted,
        adoptable=adoptable,
    )


def capacity_json(plan: CapacityPlan, *, done_before: int = 0) -> dict[str, object]:
    """The plan as JSON values (what ``plan --json`` prints)."""
    return {
        "summary": plan.summary(),
        "jobs": plan.jobs,
        "free": plan.free,
        "would_fail": plan.would_fail,
        "done_before": done_before,
        "adoptable": plan.adoptable,
        "unpinned": plan.unpinned,
        "unpinned_would_fail": plan.unpinned_short,
        "accounts": [
            {
                "account": a.account,
                "voices": a.used,
                "limit": a.limit,
                "free": a.free,
                "pinned": a.pinned,
                "would_fail": a.pinned_short,
            }
            for a in plan.accounts
        ],
    }


def capacity_table(plan: CapacityPlan, *, title: str) -> Table:
    """The plan as a table: one row per account, then the unpinned jobs and the totals."""
    table = Table(title=Text(title), title_justify="left")
    for column in ("account", "voices", "limit", "free", "pinned jobs", "would fail"):
        table.add_column(column, justify="left" if column == "account" else "right")
    for a in plan.accounts:
        table.add_row(
            Text(a.account),
            str(a.used),
            str(a.limit),
            str(a.free),
            str(a.pinned),
            Text(str(a.pinned_short), style="red" if a.pinned_short else ""),
        )
    table.add_section()
    table.add_row(
        "any account",
        "",
        "",
        str(sum(a.left_over for a in plan.accounts)),
        f"{plan.unpinned} unpinned",
        Text(str(plan.unpinned_short), style="red" if plan.unpinned_short else ""),
    )
    table.add_row(
        Text("all", style="bold"),
        str(sum(a.used for a in plan.accounts)),
        str(sum(a.limit for a in plan.accounts)),
        str(plan.free),
        f"{plan.jobs} to clone",
        Text(str(plan.would_fail), style="bold red" if plan.would_fail else "bold green"),
    )
    return table
