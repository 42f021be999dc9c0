"""Notice new event files: which import_date folders changed since the last look.

The cursor maps each recently seen folder (``YYYYMMDD``) to a fingerprint of its file names
(count and digest), so it stays small however many files land, and a folder whose files change
in any way (new, late or replaced) is noticed. Only the newest ``lookback`` folders are looked
at: the sink writes into the current day's folder, so older ones settle.
"""

import hashlib
import json

from lbh_platform.event_streams.sink import EventFiles

DEFAULT_LOOKBACK = 7


def fingerprint(names: list[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
    return f"{len(names)}:{digest}"


def load_cursor(text: str | None) -> dict[str, str]:
    """A cursor from its JSON text; anything unreadable starts afresh (every folder is new)."""
    if not text:
        return {}
    try:
        loaded = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def changed_days(
    files: EventFiles, cursor: dict[str, str], lookback: int = DEFAULT_LOOKBACK
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(folders whose files changed, as (YYYYMMDD, fingerprint)), and the new cursor."""
    recent = files.days(newest=lookback) if lookback > 0 else []
    changed: list[tuple[str, str]] = []
    new_cursor: dict[str, str] = {}
    for value in recent:
        names = [f.name for f in files.files(value)]
        if not names:
            continue
        seen = fingerprint(names)
        new_cursor[value] = seen
        if cursor.get(value) != seen:
            changed.append((value, seen))
    return changed, new_cursor
