"""Records as they enter: each must carry a usable id, and a record served twice in one import
(edited while the client paged, so it moved to a later page) is kept once, at its newest
version.

Pure, no I/O: the ingest stage runs this on the fetched pages before anything is written, so
a record without an id fails the partition with the table, partition and page named, and a raw
partition never holds two versions of one record (which the blocking uniqueness check on
``parsed`` would otherwise stop, although the newer version is plainly the right one).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lbh_platform.common.errors import DataError
from lbh_platform.tascomi.page_records import RawRecords, record_ids, record_updated
from lbh_platform.tascomi.transforms import PageLike


@dataclass(frozen=True)
class CheckedPage:
    """A page as the raw stage records it, after the checks."""

    number: int
    url: str
    status: int
    records: Sequence[Mapping[str, object]]


@dataclass(frozen=True)
class CheckedPages:
    pages: list[CheckedPage]
    superseded: int  # older versions dropped because a newer one came on another page
    examples: list[str]  # a few of them, for the log


def record_key(value: object) -> str | None:
    """The id as text (``17`` and ``"17"`` are one record); None when it is unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _updated(value: object) -> str:
    return value if isinstance(value, str) else ""  # missing or null counts as oldest


def _kept(records: Sequence[Mapping[str, object]], positions: list[int]) -> Sequence[Mapping]:
    if len(positions) == len(records):
        return records
    if isinstance(records, RawRecords):
        return records.select(positions)
    return [records[i] for i in positions]


def check_pages(
    pages: Sequence[PageLike], table: str, id_column: str, partition: str
) -> CheckedPages:
    """Refuse a record without a usable ``id_column``; keep only the newest version of an id
    seen more than once (equal ``last_updated`` are all kept, for the checks to judge).

    Reads only each record's id and ``last_updated`` (taken when a fetched page was split),
    so the records' texts pass through untouched."""
    newest: dict[str, str] = {}
    keyed: list[tuple[list[str], list[str]]] = []
    for page in pages:
        keys: list[str] = []
        updates = [_updated(v) for v in record_updated(page.records)]
        for position, value in enumerate(record_ids(page.records, id_column), start=1):
            key = record_key(value)
            if key is None:
                record = page.records[position - 1]
                problem = (
                    f"has no {id_column!r}"
                    if value is None
                    else f"has an unusable {id_column!r} {value!r} (a string or integer is needed)"
                )
                raise DataError(
                    f"tascomi {table} partition {partition} page {page.number} ({page.url}): "
                    f"record {position} {problem}; nothing was published. Fields: "
                    f"{sorted(record)[:12]}"
                )
            updated = updates[position - 1]
            if updated > newest.get(key, ""):
                newest[key] = updated
            else:
                newest.setdefault(key, updated)
            keys.append(key)
        keyed.append((keys, updates))
    checked: list[CheckedPage] = []
    superseded = 0
    examples: list[str] = []
    for page, (keys, updates) in zip(pages, keyed, strict=True):
        kept: list[int] = []
        for position, (key, updated) in enumerate(zip(keys, updates, strict=True)):
            if updated < newest[key]:
                superseded += 1
                if len(examples) < 5:
                    examples.append(
                        f"{id_column} {key} on page {page.number} ({updated or 'no last_updated'}"
                        f" < {newest[key]})"
                    )
                continue
            kept.append(position)
        checked.append(CheckedPage(page.number, page.url, page.status, _kept(page.records, kept)))
    return CheckedPages(checked, superseded, examples)
