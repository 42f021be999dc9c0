"""Erasure: every partition of every stage that holds the keys, rewritten without them,
atomically per partition, verified and audited.

The caller (a source's wiring, the ``erase`` command) names the stages in pipeline order,
each a :class:`TableTarget` (a partitioned table and where it holds the key) or a
:class:`FileTarget` (raw files by day), so nothing here knows a source. In order:

1. find: every partition (and raw file) holding a key, reading only the key's column;
2. record a ``started`` audit entry (who, when, a salted hash of each key; never a value);
3. rewrite each holding partition (:meth:`PartitionedTable.rewrite`: temporary file, then a
   move) and remove or rewrite each holding file, stage by stage in the given order, the
   partitions of a stage in date order. A stage whose lineage is judged by write times
   (``follows``) also has the partitions that depend on a rewritten one published again
   unchanged (:meth:`PartitionedTable.republish`), so a snapshot still postdates its inputs:
   ``same_partition`` (an import's later stage: the same partition value rewritten earlier)
   and ``up_to_partition`` (a snapshot: every partition from the first one rewritten here or
   earlier on). ``restate`` recomputes a partition's footer notes after its inputs changed
   (e.g. what raw files an events partition was compacted from);
4. verify: find again; any partition still holding a key fails the erasure, naming it;
5. record a ``completed`` (or ``incomplete``) entry with the rows removed per partition.

A crash leaves every partition old or new (each publish is one move); running the same
erasure again finishes it (partitions already rewritten hold nothing, so they are left as
they are) and a second erasure of erased keys changes nothing.
"""

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

import pyarrow as pa

from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.erasure.audit import AuditLog
from lbh_platform.erasure.files import FileStore, erase_file, file_holds
from lbh_platform.erasure.keys import ErasedKeys, KeySet, salt_fingerprint
from lbh_platform.erasure.locate import Locator, count_holding, scrub
from lbh_platform.storage.partitioned_table import PartitionedTable

log = logging.getLogger(__name__)
AUDIT_KIND = "erasure"
Follows = Literal["none", "same_partition", "up_to_partition"]
Restate = Callable[[str, dict[str, str]], Mapping[str, str]]


class ErasureIncomplete(DataError):
    """Partitions still hold an erased key after the erasure (named, never the key)."""


@dataclass(frozen=True)
class TableTarget:
    """One stage's partitioned table and where its rows hold the key."""

    stage: str
    table: PartitionedTable
    locator: Locator
    follows: Follows = "none"
    restate: Restate | None = None

    @property
    def location(self) -> str:
        return self.table.display


@dataclass(frozen=True)
class FileTarget:
    """Raw files by day (an event sink's), each holding one or more records."""

    stage: str
    files: FileStore
    locator: Locator

    @property
    def location(self) -> str:
        return self.files.display


Target = TableTarget | FileTarget


@dataclass(frozen=True)
class Request:
    """Who asks to erase what; ``reference`` (a ticket number) must never hold the values."""

    source: str
    table: str
    who: str
    run_id: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Held:
    """A partition (or a day of raw files) holding keys: ``count`` rows (files)."""

    stage: str
    location: str
    partition: str
    count: int


@dataclass(frozen=True)
class Change:
    """What the erasure did to one partition (or one day of raw files)."""

    stage: str
    location: str
    partition: str
    action: str  # rewritten, restated, republished, files
    rows_before: int = 0
    rows_removed: int = 0
    elements_removed: int = 0
    files_removed: int = 0
    files_rewritten: int = 0


@dataclass
class ErasureReport:
    erasure_id: str
    request: Request
    held: list[Held]
    changes: list[Change] = field(default_factory=list)
    residual: list[Held] = field(default_factory=list)
    audit_entries: list[str] = field(default_factory=list)

    @property
    def rows_removed(self) -> int:
        return sum(c.rows_removed for c in self.changes)

    @property
    def rewritten(self) -> list[Change]:
        return [
            c
            for c in self.changes
            if c.rows_removed or c.elements_removed or c.files_removed or c.files_rewritten
        ]


# --------------------------------------------------------------------------- find


def find(targets: Sequence[Target], keys: KeySet, workers: int = 8) -> list[list[Held]]:
    """Per target, every partition holding a key (only the key's column is read)."""
    with ThreadPoolExecutor(workers, thread_name_prefix="erasure-scan") as pool:
        return [_find(target, keys, pool) for target in targets]


def _find(target: Target, keys: KeySet, pool: ThreadPoolExecutor) -> list[Held]:
    if isinstance(target, FileTarget):
        store = target.files
        listed = [(day, f) for day in store.days() for f in store.files(day)]
        hits = pool.map(
            lambda item: file_holds(store.fs, item[1].path, target.locator, keys), listed
        )
        per_day: dict[str, int] = {}
        for (day, _), hit in zip(listed, hits, strict=True):
            if hit:
                per_day[day] = per_day.get(day, 0) + 1
        return [Held(target.stage, target.location, d, n) for d, n in sorted(per_day.items())]
    table, locator = target.table, target.locator

    def count(value: str) -> int:
        try:
            rows = table.read(value, columns=[locator.column])
            return count_holding(rows, locator, keys)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(
                f"erasure: cannot search {table.location(value)} for the keys ({locator}): {exc}"
            ) from exc

    values = table.partitions()
    counts = pool.map(count, values)
    return [
        Held(target.stage, target.location, v, n) for v, n in zip(values, counts, strict=True) if n
    ]


# --------------------------------------------------------------------------- erase


def erase(
    request: Request,
    targets: Sequence[Target],
    keys: KeySet,
    *,
    audit: AuditLog | None,
    salt: str | None,
    workers: int = 8,
) -> ErasureReport:
    """Erase ``keys`` from every target (see the module docstring); raises
    :class:`ErasureIncomplete` when a partition still holds one afterwards."""
    if audit is not None and salt is None:
        raise ConfigurationError("an audited erasure needs the salt (LBH_ERASURE_SALT)")
    erasure_id = uuid.uuid4().hex
    short = erasure_id[:8]
    held = find(targets, keys, workers)
    report = ErasureReport(erasure_id, request, [h for found in held for h in found])
    log.info(
        "erasure %s (%s %s, %d key(s)): %d partition(s) hold them",
        short,
        request.source,
        request.table,
        len(keys),
        len(report.held),
    )
    entry = {
        "erasure_id": erasure_id,
        "source": request.source,
        "table": request.table,
        "who": request.who,
        "run_id": request.run_id,
        "reference": request.reference,
        "started_at": datetime.now(UTC).isoformat(),
        "key_count": len(keys),
        "key_hashes": keys.hashes(salt) if salt is not None else [],
        "salt_fingerprint": salt_fingerprint(salt) if salt is not None else None,
        "targets": [
            {"stage": t.stage, "location": t.location, "locator": str(t.locator)} for t in targets
        ],
    }
    if audit is not None:
        report.audit_entries.append(
            audit.append(
                AUDIT_KIND,
                {**entry, "status": "started", "held": [asdict(h) for h in report.held]},
            )
        )
    changed: set[str] = set()
    try:
        for target, found in zip(targets, held, strict=True):
            done = _erase_target(target, found, keys, changed, short)
            report.changes.extend(done)
            changed |= {c.partition for c in done}
    except BaseException as exc:
        if audit is not None:
            report.audit_entries.append(
                audit.append(
                    AUDIT_KIND,
                    {
                        **entry,
                        "status": "interrupted",
                        "finished_at": datetime.now(UTC).isoformat(),
                        "error": type(exc).__name__,
                        "changes": [asdict(c) for c in report.changes],
                    },
                )
            )
        raise
    report.residual = [h for found in find(targets, keys, workers) for h in found]
    if audit is not None:
        report.audit_entries.append(
            audit.append(
                AUDIT_KIND,
                {
                    **entry,
                    "status": "incomplete" if report.residual else "completed",
                    "finished_at": datetime.now(UTC).isoformat(),
                    "changes": [asdict(c) for c in report.changes],
                    "rows_removed": report.rows_removed,
                    "verified": not report.residual,
                    "residual": [asdict(h) for h in report.residual],
                },
            )
        )
    if report.residual:
        where = ", ".join(f"{h.location} {h.partition}" for h in report.residual[:10])
        raise ErasureIncomplete(
            f"erasure {short} ({request.source} {request.table}): {len(report.residual)} "
            f"partition(s) still hold the keys after the rewrite: {where}; run the erasure "
            "again, and if they remain, report it (nothing was lost: every partition is whole)"
        )
    log.info(
        "erasure %s: done, %d row(s) removed, %d partition(s) changed, verified",
        short,
        report.rows_removed,
        len(report.changes),
    )
    return report


def _erase_target(
    target: Target, found: list[Held], keys: KeySet, changed: set[str], short: str
) -> list[Change]:
    if isinstance(target, FileTarget):
        return [
            _erase_files(target, day, keys, short) for day in sorted(h.partition for h in found)
        ]
    holders = {h.partition for h in found}
    values = set(holders)
    if target.follows != "none":
        present = set(target.table.partitions())
        if target.follows == "same_partition":
            values |= changed & present
        else:
            start = min(holders | changed, default=None)
            values |= {p for p in present if start is not None and p >= start}
    return [_publish(target, v, v in holders, keys, short) for v in sorted(values)]


def _publish(target: TableTarget, value: str, holds: bool, keys: KeySet, short: str) -> Change:
    table = target.table
    notes = dict(target.restate(value, table.file_metadata(value))) if target.restate else None
    if holds or notes is not None:
        removed_total = [0, 0]

        def transform(rows: pa.Table) -> pa.Table:
            if not holds:
                return rows
            kept, removed = scrub(rows, target.locator, keys)
            removed_total[0] += removed.rows
            removed_total[1] += removed.elements
            return kept

        result = table.rewrite(value, transform, notes)
        change = Change(
            target.stage,
            target.location,
            value,
            "rewritten" if holds else "restated",
            rows_before=result.rows_before,
            rows_removed=removed_total[0],
            elements_removed=removed_total[1],
        )
    else:
        written = table.republish(value)
        change = Change(target.stage, target.location, value, "republished", written.rows)
    log.info(
        "erasure %s: %s %s %s (%d row(s), %d element(s) removed)",
        short,
        target.stage,
        value,
        change.action,
        change.rows_removed,
        change.elements_removed,
    )
    return change


def _erase_files(target: FileTarget, day: str, keys: KeySet, short: str) -> Change:
    store = target.files
    removed = rewritten = rows = elements = 0
    for stored in store.files(day):
        result = erase_file(store.fs, stored.path, target.locator, keys)
        removed += result.outcome == "removed"
        rewritten += result.outcome == "rewritten"
        rows += result.removed.rows
        elements += result.removed.elements
    log.info(
        "erasure %s: %s %s: %d file(s) removed, %d rewritten",
        short,
        target.stage,
        day,
        removed,
        rewritten,
    )
    return Change(
        target.stage,
        target.location,
        day,
        "files",
        rows_removed=rows,
        elements_removed=elements,
        files_removed=removed,
        files_rewritten=rewritten,
    )


# --------------------------------------------------------------------------- recorded


def erased_keys(audit: AuditLog, source: str, table: str, salt: str) -> ErasedKeys:
    """The keys whose erasure from ``source`` ``table`` is recorded (started counts: a
    crashed erasure's keys are dropped too), each with when it was last erased; what an
    ingest drops (:func:`lbh_platform.erasure.locate.drop_erased`).

    Entries recorded under another salt cannot be matched: that is an error, never a
    silent return of erased records.
    """
    mark = salt_fingerprint(salt)
    erased: dict[str, datetime] = {}
    for entry in audit.entries(AUDIT_KIND):
        if entry.get("source") != source or entry.get("table") != table:
            continue
        hashes = entry.get("key_hashes") or []
        if not hashes:
            continue
        if entry.get("salt_fingerprint") != mark:
            raise ConfigurationError(
                f"erasure {str(entry.get('erasure_id', '?'))[:8]} of {source} {table} was "
                "recorded under another LBH_ERASURE_SALT: its keys cannot be recognised. "
                "Restore the salt it was recorded with (see docs/PERSONAL_DATA.md)"
            )
        when = datetime.fromisoformat(entry["started_at"])
        for digest in hashes:
            if digest not in erased or erased[digest] < when:
                erased[digest] = when
    return ErasedKeys(salt, erased)
