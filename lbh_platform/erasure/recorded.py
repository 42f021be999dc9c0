"""What the audit log says about erased keys: which are erased (for the ingest), and whether
an erasure of some keys was left unfinished (for resuming it)."""

from datetime import datetime

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure.audit import AuditLog
from lbh_platform.erasure.keys import ErasedKeys, KeySet, salt_fingerprint

AUDIT_KIND = "erasure"


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


def unfinished(audit: AuditLog, source: str, table: str, keys: KeySet, salt: str) -> bool:
    """Whether the newest erasure of these keys from this table never completed."""
    hashes = keys.hashes(salt)
    last: dict[str, str] = {}
    for entry in audit.entries(AUDIT_KIND):
        same = entry.get("source") == source and entry.get("table") == table
        if same and sorted(entry.get("key_hashes") or []) == hashes:
            last[entry["erasure_id"]] = entry.get("status", "")
    return bool(last) and list(last.values())[-1] in ("started", "interrupted")
