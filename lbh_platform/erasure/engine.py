"""Erasure: every partition of every stage that holds the keys, rewritten without them,
atomically per partition, verified and audited.

The caller (a source's wiring, the ``erase`` command) names the stages in pipeline order,
each a :class:`TableTarget` (a partitioned table and where it holds the key) or a
:class:`FileTarget` (raw files by day), so nothing here knows a source. In order:

1. find: every partition (and raw file) holding a key, reading only the key's column;
2. record a ``started`` audit entry (who, when, a salted hash of each key; never a value);
3. rewrite each holding partition (:meth:`PartitionedTable.rewrite`: temporary file, then a
   move) and remove or rewrite each holding file, stage by stage in the given order, the
   partitions of a stage in date order. A stage whose lineage is judged by write times names
   the stages it is built from (``depends_on``): its partition is published again unchanged
   (:meth:`PartitionedTable.republish`) when one it depends on was rewritten, so it still
   postdates its inputs: the same partition value, or, ``cumulative`` (a snapshot, built on
   the one before and every import up to its day), any value up to it and its own earlier
   partitions. ``restate`` recomputes a partition's footer notes after its inputs changed
   (e.g. what raw files an events partition was compacted from);
4. verify: find again; any partition still holding a key fails the erasure, naming it;
5. record a ``completed`` (or ``incomplete``) entry with the rows removed per partition.

Publishing a partition again makes it newer than its inputs, so an erasure must not start
on a partition that is already older than one it depends on (a snapshot whose import was
re-run and not yet rebuilt: its proof fails, and an erasure would make it pass while it is
stale). Such partitions are refused, named, before anything changes: rebuild them first, or
pass ``allow_unsound`` (they are then recorded in the audit entry, to be rebuilt). The one
exception is finishing an interrupted erasure of the same keys (its ``started`` entry has no
``completed`` one): partitions it left out of order are then published again, in order.

A crash leaves every partition old or new (each publish is one move); running the same
erasure again finishes it (partitions already rewritten hold nothing, so they are left as
they are) and a second erasure of erased keys changes nothing.
"""

import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.erasure.audit import AuditLog
from lbh_platform.erasure.files import erase_file, file_holds
from lbh_platform.erasure.keys import KeySet, salt_fingerprint
from lbh_platform.erasure.locate import count_holding, scrub
from lbh_platform.erasure.order import check_order, out_of_order
from lbh_platform.erasure.recorded import AUDIT_KIND, unfinished
from lbh_platform.erasure.targets import FileTarget, TableTarget, Target

log = logging.getLogger(__name__)


class ErasureIncomplete(DataError):
    """Partitions still hold an erased key after the erasure (named, never the key)."""


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
    allow_unsound: bool = False,
) -> ErasureReport:
    """Erase ``keys`` from every target (see the module docstring); raises
    :class:`ErasureIncomplete` when a partition still holds one afterwards, and
    :class:`lbh_platform.common.errors.DataError`, changing nothing, when a partition is
    already older than one it depends on (unless resuming, or ``allow_unsound``)."""
    if audit is not None and salt is None:
        raise ConfigurationError("an audited erasure needs the salt (LBH_ERASURE_SALT)")
    erasure_id = uuid.uuid4().hex
    short = erasure_id[:8]
    check_order(targets)
    held = find(targets, keys, workers)
    report = ErasureReport(erasure_id, request, [h for found in held for h in found])
    disorder = out_of_order(targets)
    resuming = (
        audit is not None
        and salt is not None
        and unfinished(audit, request.source, request.table, keys, salt)
    )
    if disorder and not resuming and not allow_unsound:
        where = "; ".join(f"{d.stage} {d.partition} ({d.reason})" for d in disorder[:10])
        raise DataError(
            f"erasure ({request.source} {request.table}): nothing changed: {len(disorder)} "
            f"partition(s) are already older than what they are built from, so their proof "
            f"fails: {where}. Rebuilding them first keeps that visible (an erasure publishes "
            "them again, which would hide it); or erase anyway with allow_unsound "
            "(--allow-unsound) and rebuild them afterwards"
        )
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
        "resumed": resuming,
        "out_of_order_before": [asdict(d) for d in disorder],
    }
    if audit is not None:
        report.audit_entries.append(
            audit.append(
                AUDIT_KIND,
                {**entry, "status": "started", "held": [asdict(h) for h in report.held]},
            )
        )
    changed: dict[str, set[str]] = {}
    redo = {(d.stage, d.partition) for d in disorder} if resuming else set()
    try:
        for target, found in zip(targets, held, strict=True):
            again = {v for stage, v in redo if stage == target.stage}
            done = _erase_target(target, found, keys, changed, again, short)
            report.changes.extend(done)
            changed[target.stage] = {c.partition for c in done}
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
    target: Target,
    found: list[Held],
    keys: KeySet,
    changed: dict[str, set[str]],
    again: set[str],
    short: str,
) -> list[Change]:
    """Publish what holds the keys, and what depends on a partition published before it."""
    if isinstance(target, FileTarget):
        return [
            _erase_files(target, day, keys, short) for day in sorted(h.partition for h in found)
        ]
    holders = {h.partition for h in found}
    values = holders | again
    inputs = set().union(*(changed.get(stage, set()) for stage in target.depends_on))
    if inputs or values:
        present = set(target.table.partitions())
        if target.cumulative:
            start = min(holders | again | inputs, default=None)
            values |= {p for p in present if start is not None and p >= start}
        else:
            values |= inputs & present
    return [_publish(target, v, v in holders, keys, short) for v in sorted(values)]


def _publish(target: TableTarget, value: str, holds: bool, keys: KeySet, short: str) -> Change:
    try:
        return _publish_one(target, value, holds, keys, short)
    except (ValueError, pa.ArrowException, OSError) as exc:
        raise DataError(
            f"erasure {short}: {target.stage} {target.table.location(value)}: {exc}; that "
            "partition is unchanged (each is replaced whole or not at all); fix the cause and "
            "run the erasure again"
        ) from exc


def _publish_one(target: TableTarget, value: str, holds: bool, keys: KeySet, short: str) -> Change:
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
