"""Tables and JSON for the everyday commands: accounts, config, voices, upload.

Each ``*_json`` function gives plain JSON-ready values and each ``*_table`` a rich table of the
same data. Secrets (an account's stored session token) are never part of either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.table import Table
from rich.text import Text

from minimax_async import Account, AudioConfig, UploadedSample, Voice
from minimax_async.cli._output import redact
from minimax_async.cli._results import format_time

__all__ = [
    "accounts_json",
    "accounts_table",
    "config_json",
    "config_table",
    "upload_json",
    "voices_json",
    "voices_table",
]


def _cell(value: object, *, style: str = "") -> Text:
    """A table cell of data from the server, never showing a secret (a server may echo the
    token back in any field)."""
    return Text(redact(str(value)), style=style)


def _time(moment: datetime | None) -> str | None:
    return format_time(moment.timestamp()) if moment is not None else None


def _epoch(seconds: float | None) -> str | None:
    return format_time(seconds) if seconds is not None else None


def accounts_json(accounts: Sequence[Account]) -> list[dict[str, object]]:
    """The accounts as JSON values (without their stored session token)."""
    return [
        {
            "account": a.account,
            "usable_for_audio": a.usable_for_audio,
            "support_audio": a.support_audio,
            "max_jobs": a.max_jobs,
            "error": a.error,
            "user": a.jwt.user.name if a.jwt is not None and a.jwt.user is not None else None,
            "session_expires": _epoch(a.jwt.exp) if a.jwt is not None else None,
        }
        for a in accounts
    ]


def accounts_table(accounts: Sequence[Account]) -> Table:
    """The accounts as a table."""
    table = Table(title="MiniMax accounts", title_justify="left")
    for column in ("account", "audio", "max jobs", "user", "session expires", "status"):
        table.add_column(column)
    for row in accounts_json(accounts):
        usable = bool(row["usable_for_audio"])
        table.add_row(
            _cell(row["account"]),
            Text("yes" if usable else "no", style="green" if usable else "red"),
            str(row["max_jobs"] if row["max_jobs"] is not None else "-"),
            _cell(row["user"] or "-"),
            str(row["session_expires"] or "-"),
            _cell(row["error"] or "ok", style="red" if row["error"] else "green"),
        )
    return table


def config_json(config: AudioConfig) -> dict[str, object]:
    """The tag and emotion vocabularies as JSON values."""
    return {
        "languages": list(config.languages),
        "emotions": list(config.emotions),
        "genders": [t.tag_name for t in config.voice_tag_gender if t.tag_name],
        "ages": [t.tag_name for t in config.voice_tag_age if t.tag_name],
        "accents": [
            {"language": a.language, "tag_name": a.tag_name} for a in config.voice_tag_accent
        ],
    }


def config_table(config: AudioConfig) -> Table:
    """The vocabularies as a two-column table."""
    data = config_json(config)
    table = Table(title="audio config (tags for --tags, language_tag for manifests)")
    table.add_column("vocabulary")
    table.add_column("values")
    for key in ("languages", "emotions", "genders", "ages"):
        values = data[key]
        assert isinstance(values, list)
        table.add_row(key, _cell(", ".join(map(str, values))))
    accents = data["accents"]
    assert isinstance(accents, list)
    table.add_row(
        "accents", _cell(", ".join(f"{a['tag_name']} ({a['language']})" for a in accents))
    )
    return table


def voices_json(
    voices: Sequence[Voice], *, accounts: Sequence[str | None] | None = None
) -> list[dict[str, object]]:
    """Voices as JSON values; with ``accounts`` (one per voice) as cloned voices."""
    rows: list[dict[str, object]] = []
    for i, voice in enumerate(voices):
        row: dict[str, object] = {
            "voice_id": voice.voice_id,
            "voice_name": voice.voice_name,
            "tag_list": list(voice.tag_list),
        }
        if accounts is not None:
            row["account"] = accounts[i] if accounts[i] is not None else voice.account
            row["create_time"] = _time(voice.create_time)
            row["voice_status"] = voice.voice_status
        else:
            row["uniq_id"] = voice.uniq_id
            row["sample_audio"] = voice.sample_audio
        rows.append(row)
    return rows


def voices_table(
    voices: Sequence[Voice],
    *,
    accounts: Sequence[str | None] | None = None,
    title: str | None = None,
) -> Table:
    """Voices as a table; with ``accounts`` (one per voice) as cloned voices."""
    cloned = accounts is not None
    title = title or f"{'cloned' if cloned else 'system'} voices ({len(voices)})"
    table = Table(title=title, title_justify="left")
    columns = (
        ("account", "voice id", "name", "tags", "created")
        if cloned
        else ("voice id", "uniq id", "name", "tags")
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in voices_json(voices, accounts=accounts):
        tags = row["tag_list"]
        assert isinstance(tags, list)
        cells = [
            _cell(row["voice_id"] or ""),
            _cell(row["voice_name"] or ""),
            _cell(", ".join(map(str, tags))),
        ]
        if cloned:
            table.add_row(_cell(row["account"] or "-"), *cells, str(row["create_time"] or "-"))
        else:
            table.add_row(cells[0], _cell(row["uniq_id"] or ""), *cells[1:])
    return table


def upload_json(sample: UploadedSample) -> dict[str, object]:
    """An uploaded sample as JSON values."""
    return {"file_id": sample.file_id, "account": sample.account, "oss_path": sample.oss_path}
