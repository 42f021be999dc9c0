"""A fetched page's records kept as the JSON texts the API sent, not as Python dicts.

Building a wide page's dicts (100 records x 750 fields: 75,000 Python strings) under the
interpreter lock was what held ingestion below its latency bound, and the raw stage only
turned the dicts back into JSON text. So the body is split into one text per record in C
(msgspec decodes it as a list of raw values: the JSON is checked, nothing is built), and
only what the checks need is taken from each record: the id and ``last_updated``, read
from the body's layout by numpy scans when it is plain (``plain_members``), else by a
small typed decode. A dropped field is cut out of the text where it is plainly there
once; any other record with it takes the full decode and is re-encoded as before.

Whatever this fast path does not take exactly (a body msgspec refuses or nested too deeply
for it, one that is not strict UTF-8, an element that is not an object) is left to the
caller's standard-library path, so what is accepted and the errors raised stay the standard
library's (``json_body.loads``'s for deep nesting). Pure, no I/O.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import msgspec
import numpy as np
import pyarrow as pa

from lbh_platform.common import json_body
from lbh_platform.common.rows import LAST_UPDATED
from lbh_platform.tascomi.plain_members import Member, plain_members

__all__ = [
    "DEFAULT_ID_COLUMN",
    "DROPPED_FIELDS",
    "RawRecords",
    "record_ids",
    "record_texts",
    "record_updated",
    "reencoded_texts",
    "split_body",
    "split_decoded",
]

# Huge base64 map images: the original dropped them and nothing downstream wants them.
DROPPED_FIELDS = ("gis_map_image_base64",)
# The id column every configured table uses (``TascomiTable.id_column``'s default): taken
# while the page is split, so the checks need no second pass over the texts.
DEFAULT_ID_COLUMN = "id"

_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_WHITESPACE = b" \t\n\r"
_BACKSLASH = ord("\\")
_OPEN, _CLOSE, _COMMA = ord("{"), ord("}"), ord(",")


def _keys_type(id_column: str, dropped: tuple[str, ...]) -> type:
    """A struct of one record's id, ``last_updated`` and the dropped fields' raw values (a
    decode into it skips every other field without building anything)."""
    names = {"key": id_column, "updated": LAST_UPDATED}
    fields: list[tuple[str, Any, Any]] = [("key", Any, None), ("updated", Any, None)]
    if id_column == LAST_UPDATED:
        del names["updated"], fields[1]
    for position, name in enumerate(dropped):
        names[f"drop{position}"] = name
        fields.append((f"drop{position}", msgspec.Raw | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.defstruct("RecordKeys", fields, rename=names)


_PAGE_KEYS = msgspec.json.Decoder(list[_keys_type(DEFAULT_ID_COLUMN, DROPPED_FIELDS)])  # type: ignore[misc]


class RawRecords(Sequence[Mapping[str, object]]):
    """A page's records: each one's JSON text (one Arrow string array, dropped fields
    removed), its ``last_updated`` and its id as decoded. Indexing or iterating decodes the
    texts into dicts (the values ``json.loads`` gives), for callers that want the fields."""

    __slots__ = ("_ids", "texts", "updated")

    def __init__(
        self, texts: pa.StringArray, updated: list[object], ids: dict[str, list[object]]
    ) -> None:
        self.texts = texts
        self.updated = updated
        self._ids = ids

    def ids(self, column: str) -> list[object]:
        """Each record's ``column`` value (None when absent); another column than the one
        taken at the split costs one more typed decode of the texts."""
        got = self._ids.get(column)
        if got is None:
            decoder = msgspec.json.Decoder(_keys_type(column, ()))
            got = [decoder.decode(text).key for text in self.texts.to_pylist()]
            self._ids[column] = got
        return got

    def select(self, positions: Sequence[int]) -> "RawRecords":
        """The records at ``positions`` (0-based), in that order."""
        return RawRecords(
            self.texts.take(pa.array(positions, pa.int64())),
            [self.updated[i] for i in positions],
            {column: [values[i] for i in positions] for column, values in self._ids.items()},
        )

    def __len__(self) -> int:
        return len(self.texts)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [json_body.loads(text) for text in self.texts.to_pylist()[index]]
        return json_body.loads(self.texts[index].as_py())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (json_body.loads(text) for text in self.texts.to_pylist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RawRecords):
            return self.texts.equals(other.texts)
        if isinstance(other, Sequence):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable contents, like a list

    def __repr__(self) -> str:
        return f"RawRecords({len(self.texts)} record(s), {self.texts.nbytes} bytes)"


def split_body(body: bytes) -> RawRecords | None:
    """The records of a page body that is a JSON array of objects, or None when the body
    needs the standard library's judgement (it may still be fine, or carry the error).

    One decode in C checks the JSON and gives each record's extent; the few members the
    checks need are found by numpy's scans of the body (``plain_members``), or, in a body
    not plain enough for those, by a second, typed decode. The texts are then gathered
    from the body into one buffer: no Python object per field or per text."""
    try:
        raws = _RAW_LIST.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if not body.isascii():
        try:
            body.decode("utf-8")  # what json.loads would refuse, it must see itself
        except UnicodeDecodeError:
            return None
    spans = _record_spans(body, raws)
    if spans is None:
        return None
    keyed = _plain_keys(body, spans) or _decoded_keys(body, spans)
    if keyed is None:
        return None
    ids, updated, gaps = keyed
    view = np.frombuffer(body, np.uint8)
    pieces: list[np.ndarray] = []
    lengths: list[int] = []
    for (start, end), record_gaps in zip(spans, gaps, strict=True):
        if record_gaps is None:
            try:
                text = _reencoded(body[start:end])
            except ValueError:
                return None
            pieces.append(np.frombuffer(text, np.uint8))
            lengths.append(len(text))
            continue
        length = 0
        for keep_from, keep_to in _kept_spans(start, end, record_gaps):
            pieces.append(view[keep_from:keep_to])
            length += keep_to - keep_from
        lengths.append(length)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        return None
    data = np.concatenate(pieces) if pieces else np.empty(0, np.uint8)
    texts = pa.Array.from_buffers(
        pa.string(),
        len(lengths),
        [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)],
    )
    return RawRecords(texts, updated, {DEFAULT_ID_COLUMN: ids})  # type: ignore[arg-type]


# Each record's id, its last_updated, and where its dropped fields sit (None: re-encode it).
_Keyed = tuple[list[object], list[object], list[list[tuple[int, int]] | None]]


def _record_spans(body: bytes, raws: list[msgspec.Raw]) -> list[tuple[int, int]] | None:
    """Each record's ``(start, end)`` in the body, or None when an element is not an
    object (or not where the raw values say: take no chances)."""
    spans = []
    at = _skip_space(body, _skip_space(body, 0) + 1)  # past the opening bracket
    for raw in raws:
        start, end = at, at + len(raw)
        if body[start] != _OPEN or body[end - 1] != _CLOSE:
            return None
        spans.append((start, end))
        at = _skip_space(body, end)
        if at < len(body) and body[at] == _COMMA:
            at = _skip_space(body, at + 1)
    return spans


_PLAIN_NAMES = (DEFAULT_ID_COLUMN, LAST_UPDATED, *DROPPED_FIELDS)


def _plain_keys(body: bytes, spans: list[tuple[int, int]]) -> _Keyed | None:
    """The keys read from the body's layout, when it is plain (see ``plain_members``)."""
    members = plain_members(body, [start for start, _ in spans], _PLAIN_NAMES)
    if members is None:
        return None
    id_members, updated_members, *dropped_members = members

    def value(member: Member | None) -> object:
        return None if member is None else msgspec.json.decode(body[member[1] : member[2]])

    gaps: list[list[tuple[int, int]] | None] = []
    for position in range(len(spans)):
        cuts = []
        for field in dropped_members:
            member = field[position]
            if member is not None:
                cuts.append(_member_gap(body, member[0], member[2]))
        gaps.append(_apart(cuts))
    return [value(m) for m in id_members], [value(m) for m in updated_members], gaps


def _decoded_keys(body: bytes, spans: list[tuple[int, int]]) -> _Keyed | None:
    """The keys by a typed decode of the whole body (any layout msgspec takes)."""
    try:
        keys = _PAGE_KEYS.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    escapes = b"\\" in body
    gaps = [
        _gaps(body, start, end, record, escapes)
        for (start, end), record in zip(spans, keys, strict=True)
    ]
    return [record.key for record in keys], [record.updated for record in keys], gaps


_STDLIB = json.JSONDecoder()
_RECORD_KEYS = msgspec.json.Decoder(_keys_type(DEFAULT_ID_COLUMN, DROPPED_FIELDS))


def split_decoded(body: bytes, records: list[dict[str, Any]]) -> RawRecords | None:
    """The texts of a body only the standard library accepts (``NaN``, a byte-order mark,
    UTF-16...), which it decoded into ``records``: the same texts as the API sent them, cut
    the same way, so a record reads alike whichever path its page took. None when a text
    cannot be held as UTF-8 (the caller then keeps the dicts, as before)."""
    text = body.decode(json.detect_encoding(body), "surrogatepass")  # as json.loads does
    at = _skip_space_text(text, 0) + 1  # past the opening bracket
    texts: list[bytes] = []
    for record in records:
        at = _skip_space_text(text, at)
        _, end = _STDLIB.raw_decode(text, at)
        try:
            chunk = text[at:end].encode("utf-8")
        except UnicodeEncodeError:
            return None
        at = _skip_space_text(text, end)
        if text.startswith(",", at):
            at += 1
        try:
            keys = _RECORD_KEYS.decode(chunk)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):  # NaN...
            keys = None
        gaps = None if keys is None else _gaps(chunk, 0, len(chunk), keys, b"\\" in chunk)
        if gaps is None and not any(name in record for name in DROPPED_FIELDS):
            gaps = []
        if gaps is None:
            reduced = {k: v for k, v in record.items() if k not in DROPPED_FIELDS}
            try:
                chunk = json.dumps(reduced, separators=(",", ":"), ensure_ascii=False).encode()
            except UnicodeEncodeError:
                return None
        else:
            chunk = b"".join(chunk[a:b] for a, b in _kept_spans(0, len(chunk), gaps))
        texts.append(chunk)
    return RawRecords(
        pa.array(texts, pa.string()),
        [record.get(LAST_UPDATED) for record in records],
        {DEFAULT_ID_COLUMN: [record.get(DEFAULT_ID_COLUMN) for record in records]},
    )


def _skip_space_text(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\n\r":
        at += 1
    return at


def _gaps(
    body: bytes, start: int, end: int, record: Any, escapes: bool
) -> list[tuple[int, int]] | None:
    """Where the record's dropped fields sit in ``body[start:end]`` (sorted, apart), or None
    when one cannot be cut out with certainty."""
    gaps: list[tuple[int, int] | None] = []
    for position, name in enumerate(DROPPED_FIELDS):
        value = getattr(record, f"drop{position}")
        if value is msgspec.UNSET:
            continue
        if escapes and body.find(b"\\", start, end) >= 0 and body.find(b"\\u", start, end) >= 0:
            return None  # the key might be spelled with escapes: only a decode can tell
        gap = _member_span(body, start, end, name, bytes(value))
        if gap is None:
            return None
        gaps.append(gap)
    return _apart(gaps)


def _apart(cuts: list[tuple[int, int] | None]) -> list[tuple[int, int]] | None:
    """The gaps in order, or None when one is unknown or two overlap (cutting both would
    cut wrongly)."""
    gaps = sorted(gap for gap in cuts if gap is not None)
    if len(gaps) < len(cuts) or any(a[1] > b[0] for a, b in zip(gaps, gaps[1:], strict=False)):
        return None
    return gaps


def _kept_spans(start: int, end: int, gaps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans, at = [], start
    for gap_start, gap_end in gaps:
        spans.append((at, gap_start))
        at = gap_end
    spans.append((at, end))
    return [span for span in spans if span[1] > span[0]]


def _member_span(
    body: bytes, start: int, end: int, name: str, value: bytes
) -> tuple[int, int] | None:
    """The span of member ``name`` (with one adjoining comma) in the object
    ``body[start:end]``, when it is there once, spelled plainly, holding ``value``.

    In valid JSON a quote not preceded by a backslash starts or ends a string token, so a
    plain ``"name"`` found once is that key (a string value would not be followed by ``:``),
    unless the text has ``\\u`` escapes (the real key could be spelled with them).
    """
    key = b'"' + name.encode() + b'"'
    found = body.find(key, start, end)
    if found <= start or body.find(key, found + 1, end) >= 0 or body[found - 1] == _BACKSLASH:
        return None
    at = _skip_space(body, found + len(key))
    if body[at] != ord(":"):
        return None
    at = _skip_space(body, at + 1)
    if not body.startswith(value, at):
        return None
    return _member_gap(body, found, at + len(value))


def _member_gap(body: bytes, found: int, value_end: int) -> tuple[int, int] | None:
    """The span to cut for the member whose key starts at ``found`` and whose value ends
    at ``value_end``: the member and one adjoining comma (None: no comma and not alone)."""
    after = _skip_space(body, value_end)
    if body[after] == _COMMA:
        return found, after + 1
    if body[after] != _CLOSE:
        return None
    before = found - 1
    while body[before] in _WHITESPACE:
        before -= 1
    if body[before] == _COMMA:
        return before, after
    if body[before] == _OPEN:
        return before + 1, after
    return None


def _skip_space(text: bytes, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _reencoded(text: bytes) -> bytes:
    """The record decoded, every dropped field removed, encoded as the raw stage always did."""
    record = json_body.loads(text)
    for name in DROPPED_FIELDS:
        record.pop(name, None)
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def reencoded_texts(texts: pa.Array) -> pa.Array:
    """Texts as the raw stage wrote them before it kept the API's: each record decoded and
    encoded by ``json.dumps`` (compact, non-ASCII kept); to compare with such partitions."""
    return pa.array(
        [
            None
            if text is None
            else json.dumps(json_body.loads(text), separators=(",", ":"), ensure_ascii=False)
            for text in texts.to_pylist()
        ],
        pa.string(),
    )


def record_texts(records: Sequence[Mapping[str, object]]) -> pa.StringArray:
    """Each record's JSON text: as received for fetched pages, else encoded compactly."""
    if isinstance(records, RawRecords):
        return records.texts
    texts = [json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records]
    return pa.array(texts, pa.string())


def record_updated(records: Sequence[Mapping[str, object]]) -> list[object]:
    """Each record's ``last_updated`` (None when absent)."""
    if isinstance(records, RawRecords):
        return records.updated
    return [r.get(LAST_UPDATED) for r in records]


def record_ids(records: Sequence[Mapping[str, object]], column: str) -> list[object]:
    """Each record's ``column`` (None when absent)."""
    if isinstance(records, RawRecords):
        return records.ids(column)
    return [r.get(column) for r in records]
