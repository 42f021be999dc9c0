"""Keys in raw files holding one or more records each (an event sink's files): a file whose
every record holds a key is removed, one with other records is rewritten without them.

Parquet (any number of rows, columns by the writer's names), one JSON object, or JSON lines.
A file that cannot be read as any of them, but whose bytes hold a key's text, is removed (it
was quarantined as unreadable; it may still hold the person). Rewrites go to a hidden
temporary name in the same folder and are moved into place, so a file is old or new.
"""

import contextlib
import io
import json
import posixpath
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lbh_platform.erasure.keys import Keys
from lbh_platform.erasure.locate import Locator, Removed, holding_rows, scrub
from lbh_platform.erasure.paths import holds, without_elements

PARQUET_MAGIC = b"PAR1"
Outcome = Literal["unchanged", "removed", "rewritten"]


class StoredFile(Protocol):
    path: str
    name: str


class FileStore(Protocol):
    """Raw files by day (``YYYYMMDD``): :class:`lbh_platform.event_streams.sink.EventFiles`."""

    fs: pafs.FileSystem
    display: str

    def days(self) -> list[str]: ...

    def files(self, value: str) -> Sequence[StoredFile]: ...


@dataclass(frozen=True)
class FileResult:
    outcome: Outcome
    removed: Removed = Removed()


def scrub_payload(payload: bytes, locator: Locator, keys: Keys) -> tuple[bytes | None, Removed]:
    """The file's bytes without the keys: the same bytes when it holds none, ``None`` when
    nothing is left of it."""
    if payload[:4] == PARQUET_MAGIC:
        return _parquet(payload, locator, keys)
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _unreadable(payload, keys)
    try:
        document = json.loads(text)
    except ValueError:
        return _json_lines(payload, text, locator, keys)
    new, removed = _document(document, locator, keys)
    if not removed:
        return payload, removed
    return (None if new is None else _dumps(new).encode()), removed


def _document(document: object, locator: Locator, keys: Keys) -> tuple[object | None, Removed]:
    if not holds(document, locator.path, keys):
        return document, Removed()
    if locator.removes == "rows":
        return None, Removed(rows=1)
    new, n = without_elements(document, locator.path, keys)
    return new, Removed(elements=n)


def _json_lines(
    payload: bytes, text: str, locator: Locator, keys: Keys
) -> tuple[bytes | None, Removed]:
    lines = text.splitlines()
    kept: list[str] = []
    removed = Removed()
    for line in lines:
        try:
            document = json.loads(line) if line.strip() else None
        except ValueError:
            document = None
        if document is None:
            if line.strip() and _holds_text(line.encode(), keys):
                removed = removed + Removed(rows=1)  # an unreadable line naming a key
                continue
            kept.append(line)
            continue
        new, gone = _document(document, locator, keys)
        removed = removed + gone
        if new is not None:
            kept.append(_dumps(new) if gone else line)
    if not removed:
        return payload, removed
    if not any(line.strip() for line in kept):
        return None, removed
    return ("\n".join(kept) + "\n").encode(), removed


def _parquet(payload: bytes, locator: Locator, keys: Keys) -> tuple[bytes | None, Removed]:
    try:
        table = pq.read_table(pa.BufferReader(payload))
    except (pa.ArrowException, OSError, ValueError):
        return _unreadable(payload, keys)
    if not holding_rows(table, locator, keys).true_count:
        return payload, Removed()
    kept, removed = scrub(table, locator, keys)
    if kept.num_rows == 0:
        return None, removed
    sink = io.BytesIO()
    # The writer's list layout (item names) is kept: readers of the sink's files expect it.
    pq.write_table(kept, sink, compression="snappy", use_compliant_nested_type=False)
    return sink.getvalue(), removed


def _holds_text(payload: bytes, keys: Keys) -> bool:
    return keys.literal is not None and any(k.encode() in payload for k in keys.literal)


def _unreadable(payload: bytes, keys: Keys) -> tuple[bytes | None, Removed]:
    return (None, Removed(rows=1)) if _holds_text(payload, keys) else (payload, Removed())


def _dumps(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def file_holds(fs: pafs.FileSystem, path: str, locator: Locator, keys: Keys) -> bool:
    payload = _read(fs, path)
    _, removed = scrub_payload(payload, locator, keys)
    return bool(removed)


def erase_file(fs: pafs.FileSystem, path: str, locator: Locator, keys: Keys) -> FileResult:
    """Remove or rewrite one file so it holds no key (atomically); unchanged otherwise."""
    payload = _read(fs, path)
    new, removed = scrub_payload(payload, locator, keys)
    if not removed:
        return FileResult("unchanged")
    if new is None:
        fs.delete_file(path)
        return FileResult("removed", removed)
    folder = posixpath.dirname(path)
    temporary = f"{folder}/_tmp-{uuid.uuid4().hex}"
    try:
        with fs.open_output_stream(temporary) as sink:
            sink.write(new)
        fs.move(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError, FileNotFoundError):
            fs.delete_file(temporary)
        raise
    return FileResult("rewritten", removed)


def _read(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as stream:
        return stream.read()
