"""What the audit log says about erased keys: which are erased (for the ingest), and whether
an erasure of some keys was left unfinished (for resuming it).

The ingest filter (:func:`drop_erased_rows`, :func:`drop_all_erased`) keeps a daily run from
bringing back a record whose erasure is recorded, until the source changes it again (a
change time after the erasure: the source's new data). An entry says which field held the
keys (its targets' locators), so person ids erased inside ``household_members[]`` are
removed from that list, never matched against the table's own key.
"""

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure.audit import AuditLog
from lbh_platform.erasure.keys import ErasedKeys, KeySet, erasure_salt, salt_fingerprint
from lbh_platform.erasure.locate import Locator, Removed, drop_erased
from lbh_platform.erasure.paths import parse_path

log = logging.getLogger(__name__)
AUDIT_KIND = "erasure"
# A target's recorded locator: ``[text_column:]path (rows|elements)`` (Locator.__str__).
_LOCATOR = re.compile(r"^(?:(?P<text>[^:]+):)?(?P<path>\S+) \((?:rows|elements)\)$")


def _entries(audit: AuditLog, source: str, table: str) -> list[dict[str, Any]]:
    """Entries erasing keys from ``source`` ``table`` (with at least one key hash)."""
    return [
        entry
        for entry in audit.entries(AUDIT_KIND)
        if entry.get("source") == source and entry.get("table") == table and entry.get("key_hashes")
    ]


def recorded_paths(entry: Mapping[str, Any]) -> set[str]:
    """The field paths an entry's keys were erased at, over the stages' columns (a raw
    file's own spelling, such as ``Tenure.HouseholdMembers[].Id``, is included too)."""
    found = set()
    for target in entry.get("targets") or []:
        matched = _LOCATOR.match(str(target.get("locator", "")))
        if matched:
            found.add(matched.group("path"))
    return found


def erased_paths(audit: AuditLog, source: str, table: str) -> list[str]:
    """Every field path keys of ``source`` ``table`` were erased at."""
    paths: set[str] = set()
    for entry in _entries(audit, source, table):
        paths |= recorded_paths(entry)
    return sorted(paths)


def erased_keys(
    audit: AuditLog, source: str, table: str, salt: str, path: str | None = None
) -> ErasedKeys:
    """The keys whose erasure from ``source`` ``table`` is recorded (started counts: a
    crashed erasure's keys are dropped too), each with when it was last erased; what an
    ingest drops (:func:`lbh_platform.erasure.locate.drop_erased`). With ``path``, only
    keys erased at that field path (an entry naming no targets counts for every path).

    Entries recorded under another salt cannot be matched: that is an error, never a
    silent return of erased records.
    """
    entries = _entries(audit, source, table)
    if path is not None:
        entries = [e for e in entries if not e.get("targets") or path in recorded_paths(e)]
    return _erased(entries, source, table, salt)


def _erased(entries: Iterable[Mapping[str, Any]], source: str, table: str, salt: str) -> ErasedKeys:
    mark = salt_fingerprint(salt)
    erased: dict[str, datetime] = {}
    for entry in entries:
        hashes = entry.get("key_hashes") or []
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


def drop_erased_rows(
    audit: AuditLog,
    source: str,
    table: str,
    rows: pa.Table,
    path: str,
    *,
    text_column: str | None = None,
    changed_at: str | None = None,
    naive_zone: tzinfo = UTC,
    salt: str | None = None,
) -> tuple[pa.Table, Removed]:
    """``rows`` (a day's ingest) without records whose key at ``path`` was erased from
    ``source`` ``table`` (rows, or list elements for a path through a list), unless the
    source changed the record after the erasure (``changed_at``, a field path of the row or,
    with ``text_column``, of each row's JSON record; naive times in ``naive_zone``).

    Nothing erased from the table: ``rows`` as they are, without needing the salt. Otherwise
    the salt (``LBH_ERASURE_SALT``) is required: without it the run fails rather than let an
    erased record back. Logs how many were dropped, never a key.
    """
    entries = _entries(audit, source, table)
    entries = [e for e in entries if not e.get("targets") or path in recorded_paths(e)]
    if not entries or rows.num_rows == 0:
        return rows, Removed()
    erased = _erased(entries, source, table, salt if salt is not None else erasure_salt())
    locator = Locator(parse_path(path, f"{source} {table} erased-key path"), text_column)
    kept, removed = drop_erased(rows, locator, erased, changed_at, naive_zone)
    if removed:
        log.info(
            "%s %s: %d row(s) and %d list element(s) of erased records left out of this "
            "ingest (erasure recorded, not changed by the source since)",
            source,
            table,
            removed.rows,
            removed.elements,
        )
    return kept, removed


def drop_all_erased(
    audit: AuditLog,
    source: str,
    table: str,
    rows: pa.Table,
    *,
    text_column: str | None = None,
    changed_at: str | None = None,
    naive_zone: tzinfo = UTC,
    salt: str | None = None,
) -> tuple[pa.Table, Removed]:
    """:func:`drop_erased_rows` for every path keys of the table were erased at: those whose
    column ``rows`` has (the entity's key and, say, ``household_members[].id``), or, with
    ``text_column``, each as a field of the row's JSON record."""
    total = Removed()
    for path in erased_paths(audit, source, table):
        if text_column is None and parse_path(path).column not in rows.column_names:
            continue
        rows, removed = drop_erased_rows(
            audit,
            source,
            table,
            rows,
            path,
            text_column=text_column,
            changed_at=changed_at,
            naive_zone=naive_zone,
            salt=salt,
        )
        total = total + removed
    return rows, total


def drop_erased_family(
    audit: AuditLog,
    source: str,
    table: str,
    root: pa.Table,
    key: str,
    children: Mapping[str, pa.Table],
    parent_key: str,
    *,
    changed_at: str | None = None,
    naive_zone: tzinfo = UTC,
    salt: str | None = None,
) -> tuple[pa.Table, dict[str, pa.Table], dict[str, Removed]]:
    """A root table and tables of rows belonging to its records (an Alloy export: the root
    design and its joined designs, by ``primary_item``) without the erased records: the
    root's rows as :func:`drop_erased_rows` decides (by ``key`` and ``changed_at``), and each
    child row whose ``parent_key`` is erased unless its root record is kept (changed by the
    source since), so a record comes back whole or not at all. Returns the root, the
    children and what was removed per table (the root under ``table``)."""
    root_kept, removed = drop_erased_rows(
        audit,
        source,
        table,
        root,
        key,
        changed_at=changed_at,
        naive_zone=naive_zone,
        salt=salt,
    )
    report = {table: removed}
    entries = [
        e
        for e in _entries(audit, source, table)
        if not e.get("targets") or key in recorded_paths(e)
    ]
    if not entries:
        return root_kept, dict(children), report
    erased = _erased(entries, source, table, salt if salt is not None else erasure_salt())
    kept_keys = pc.unique(_as_text(root_kept[key])) if key in root_kept.column_names else None
    kept_children = {}
    for name, rows in children.items():
        if parent_key not in rows.column_names or rows.num_rows == 0:
            kept_children[name] = rows
            report[name] = Removed()
            continue
        parents = _as_text(rows[parent_key])
        drop = erased.matching(parents)
        if kept_keys is not None and len(kept_keys):
            back = pc.fill_null(pc.is_in(parents, value_set=kept_keys), False)
            drop = pc.and_(drop, pc.invert(back))
        kept_children[name] = rows.filter(pc.invert(drop))
        report[name] = Removed(rows=rows.num_rows - kept_children[name].num_rows)
    return root_kept, kept_children, report


def _as_text(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return pc.cast(values, pa.string())


def unfinished(audit: AuditLog, source: str, table: str, keys: KeySet, salt: str) -> bool:
    """Whether the newest erasure of these keys from this table never completed."""
    hashes = keys.hashes(salt)
    last: dict[str, str] = {}
    for entry in audit.entries(AUDIT_KIND):
        same = entry.get("source") == source and entry.get("table") == table
        if same and sorted(entry.get("key_hashes") or []) == hashes:
            last[entry["erasure_id"]] = entry.get("status", "")
    return bool(last) and list(last.values())[-1] in ("started", "interrupted")
