"""Finding and removing keys in Arrow tables: in a column, a nested field, or JSON text.

A :class:`Locator` says where a table holds the key: a field path over its columns
(``id``, ``household_members[].id``), or a field path inside the JSON text of each row's
``text_column`` (Tascomi's raw responses hold each record's JSON in a column named after the
table; the record's field is matched exactly, after decoding, never as a substring).

What is removed: the rows holding a key, or, for a path through a list, only the list's
elements holding it (a person inside a household: the household stays). Vectorised where it
matters (finding rows); the few rows edited are edited as Python values and put back in place.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.erasure.keys import ErasedKeys, Keys
from lbh_platform.erasure.paths import (
    FieldPath,
    holds,
    parse_path,
    text_of,
    values_at,
    without_elements,
)

Removal = Literal["rows", "elements"]


@dataclass(frozen=True)
class Locator:
    """Where a table holds a key; ``remove`` defaults to elements for a path through a list."""

    path: FieldPath
    text_column: str | None = None
    remove: Removal | None = None

    @classmethod
    def of(cls, path: str, *, text_column: str | None = None, remove: Removal | None = None):
        return cls(parse_path(path, "key locator"), text_column, remove)

    @property
    def removes(self) -> Removal:
        if self.remove is not None:
            return self.remove
        return "elements" if any(s.each for s in self.path.steps) else "rows"

    @property
    def column(self) -> str:
        """The one column a scan needs to read."""
        return self.text_column or self.path.column

    def __str__(self) -> str:
        where = f"{self.path}" if self.text_column is None else f"{self.text_column}:{self.path}"
        return f"{where} ({self.removes})"


@dataclass(frozen=True)
class Removed:
    rows: int = 0
    elements: int = 0

    def __add__(self, other: "Removed") -> "Removed":
        return Removed(self.rows + other.rows, self.elements + other.elements)

    def __bool__(self) -> bool:
        return bool(self.rows or self.elements)


# --------------------------------------------------------------------------- finding


def holding_rows(table: pa.Table, locator: Locator, keys: Keys) -> pa.Array:
    """A boolean mask of the rows holding any key."""
    if locator.column not in table.column_names or table.num_rows == 0:
        return pa.array([False] * table.num_rows, pa.bool_())
    column = table[locator.column].combine_chunks()
    if locator.text_column is not None:
        return _json_rows(column, locator.path, keys)
    return _column_rows(column, locator.path, keys, table.num_rows)


def _column_rows(column: pa.Array, path: FieldPath, keys: Keys, rows: int) -> pa.Array:
    values: pa.Array = column
    parents: pa.Array | None = None  # for each value, its row
    for index, step in enumerate(path.steps):
        if index:
            if not pa.types.is_struct(values.type):
                raise ValueError(f"{path}: {step.name!r} is inside a {values.type}, not a struct")
            if values.type.get_field_index(step.name) < 0:
                return pa.array([False] * rows, pa.bool_())  # a field this data never had
            values = pc.struct_field(values, step.name)
        if step.each:
            if not (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)):
                raise ValueError(f"{path}: {step.name!r} is a {values.type}, not a list")
            owners = pc.list_parent_indices(values)
            values = pc.list_flatten(values)
            parents = owners if parents is None else parents.take(owners)
    if pa.types.is_struct(values.type) or pa.types.is_list(values.type):
        raise ValueError(f"{path} ends at a {values.type}; name a field inside it")
    hit = keys.matching(values)
    if parents is None:
        return hit
    owners = pc.unique(parents.filter(hit))
    mask = pc.is_in(pa.array(range(rows), pa.int64()), value_set=owners.cast(pa.int64()))
    return pc.fill_null(mask, False)


def _candidates(texts: pa.Array, keys: Keys) -> pa.Array:
    """Texts that may hold a key: containing one as a substring, or any ``\\u`` escape (a key
    spelled with escapes); every text when the keys are known by hash only."""
    if keys.literal is None:
        return pc.invert(pc.is_null(texts))
    pattern = "|".join(re.escape(k) for k in keys.literal) + r"|\\u"
    return pc.fill_null(pc.match_substring_regex(texts, pattern), False)


def _json_rows(texts: pa.Array, path: FieldPath, keys: Keys) -> pa.Array:
    if pa.types.is_binary(texts.type):
        texts = texts.cast(pa.string())
    candidates = _candidates(texts, keys)
    mask = [False] * len(texts)
    for index in pc.indices_nonzero(candidates).to_pylist():
        record = _decode(texts[index].as_py())
        mask[index] = record is not None and holds(record, path, keys)
    return pa.array(mask, pa.bool_())


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def count_holding(table: pa.Table, locator: Locator, keys: Keys) -> int:
    return pc.sum(holding_rows(table, locator, keys).cast(pa.int64())).as_py() or 0


# --------------------------------------------------------------------------- removing


def scrub(
    table: pa.Table, locator: Locator, keys: Keys, mask: pa.Array | None = None
) -> tuple[pa.Table, Removed]:
    """``table`` without the keys (rows, or list elements), rows in their order, schema kept;
    ``mask`` limits it to those rows (default: every row holding a key)."""
    mask = holding_rows(table, locator, keys) if mask is None else mask
    hits = pc.indices_nonzero(mask)
    if len(hits) == 0:
        return table, Removed()
    if locator.removes == "rows":
        return table.filter(pc.invert(mask)), Removed(rows=len(hits))
    edited: list[dict[str, Any]] = []
    removed = 0
    for row in table.take(hits).to_pylist():
        new, n = _without_elements(row, locator, keys)
        edited.append(new)
        removed += n
    replaced = pa.Table.from_pylist(edited, schema=table.schema)
    return _put_back(table, mask, hits, replaced), Removed(elements=removed)


def _without_elements(row: dict[str, Any], locator: Locator, keys: Keys) -> tuple[dict, int]:
    if locator.text_column is None:
        return without_elements(row, locator.path, keys)
    record = _decode(row[locator.text_column])
    if record is None:
        return row, 0
    new, n = without_elements(record, locator.path, keys)
    if not n:
        return row, 0
    text = json.dumps(new, ensure_ascii=False, separators=(",", ":"))
    return {**row, locator.text_column: text}, n


def _put_back(table: pa.Table, mask: pa.Array, hits: pa.Array, replaced: pa.Table) -> pa.Table:
    """The rows of ``table`` with those at ``hits`` replaced, in the original order."""
    rest = table.filter(pc.invert(mask))
    order = pa.concat_arrays(
        [pc.indices_nonzero(pc.invert(mask)).cast(pa.int64()), hits.cast(pa.int64())]
    )
    combined = pa.concat_tables([rest, replaced.cast(table.schema)])
    return combined.take(pc.sort_indices(order))


# --------------------------------------------------------------------------- ingest filter


def drop_erased(
    table: pa.Table,
    locator: Locator,
    erased: ErasedKeys,
    changed_at: str | None = None,
    naive_zone: tzinfo = UTC,
) -> tuple[pa.Table, Removed]:
    """``table`` without keys whose erasure is recorded: what an ingest applies so the next
    run does not bring an erased record back.

    With ``changed_at`` (a field path of the row, or of the JSON record for a text locator:
    a timestamp, or ISO text; naive times are in ``naive_zone``, UTC unless given: Tascomi's
    ``last_updated`` is London time), a row the source changed after
    the key's erasure is kept: the source is the system of record, and a new version of the
    record is new data (see docs/PERSONAL_DATA.md).
    """
    if not len(erased) or table.num_rows == 0:
        return table, Removed()
    mask = holding_rows(table, locator, erased)
    if changed_at is not None and pc.any(mask).as_py():
        when = parse_path(changed_at, "changed_at")
        flags = mask.to_pylist()
        for index in pc.indices_nonzero(mask).to_pylist():
            row = table.slice(index, 1).to_pylist()[0]
            record = _decode(row.get(locator.text_column)) if locator.text_column else row
            flags[index] = _still_erased(record, locator, erased, when, naive_zone)
        mask = pa.array(flags, pa.bool_())
    return scrub(table, locator, erased, mask)


def _still_erased(
    record: Any, locator: Locator, erased: ErasedKeys, when: FieldPath, zone: tzinfo
) -> bool:
    if not isinstance(record, Mapping):
        return True
    return blocked(record, locator.path, erased, when, zone)


def blocked(
    record: Mapping[str, Any],
    path: FieldPath,
    erased: ErasedKeys,
    changed_at: FieldPath | None = None,
    naive_zone: tzinfo = UTC,
) -> bool:
    """Whether a decoded record (an API's dict) holds an erased key at ``path`` and was not
    changed by the source since that erasure (``changed_at``: the record's change time; a
    naive one is in ``naive_zone``)."""
    changed = None
    if changed_at is not None:
        value = next(iter(values_at(record, changed_at.steps)), None)
        changed = _moment(value, naive_zone)
    return any(
        value is not None and erased.blocks(text_of(value), changed)
        for value in values_at(record, path.steps)
    )


def _moment(value: Any, zone: tzinfo = UTC) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return None
