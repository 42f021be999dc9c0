"""Applying a retention plan: each expired snapshot removed from every catalogue and the store.

Idempotent: a partition already gone is skipped (and still unregistered), so a run stopped
half-way is finished by running it again. Before anything is removed the table is listed
again and the plan refused if it would now remove the newest snapshot (a plan made before a
newer snapshot was removed, or from another table's listing). Each run that removes
anything appends a ``retention`` entry to the audit log (what, when, who, why).
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lbh_platform.common.errors import DataError
from lbh_platform.erasure.audit import AuditLog
from lbh_platform.retention.policy import RetentionPlan
from lbh_platform.storage.partitioned_table import PartitionedTable

log = logging.getLogger(__name__)
AUDIT_KIND = "retention"


@dataclass
class RetentionResult:
    table: str
    removed: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    audit_entry: str | None = None


def apply_retention(
    table: PartitionedTable,
    plan: RetentionPlan,
    *,
    name: str,
    who: str,
    run_id: str | None = None,
    audit: AuditLog | None = None,
) -> RetentionResult:
    """Remove every partition ``plan`` deletes from ``table`` (``name``: "<source>/<table>",
    for the log and the audit entry)."""
    result = RetentionResult(name)
    doomed = plan.delete
    if not doomed:
        return result
    present = table.partitions()
    if present and present[-1] in doomed:
        raise DataError(
            f"retention {name}: the plan would remove {present[-1]}, now the newest snapshot "
            f"of {table.display}; nothing removed. Plan again"
        )
    started = datetime.now(UTC).isoformat()
    try:
        for value in doomed:
            if table.remove_partition(value):
                result.removed.append(value)
                log.info("retention %s: removed %s (%s)", name, value, plan.reason(value))
            else:
                result.already_gone.append(value)
    finally:
        if audit is not None and result.removed:
            result.audit_entry = audit.append(
                AUDIT_KIND,
                {
                    "table": name,
                    "location": table.display,
                    "who": who,
                    "run_id": run_id,
                    "started_at": started,
                    "policy": plan.policy.describe(),
                    "today": plan.today.isoformat(),
                    "removed": [{"partition": v, "reason": plan.reason(v)} for v in result.removed],
                },
            )
    return result


def removed_partitions(audit: AuditLog, name: str) -> set[str]:
    """Snapshots of ``name`` ("<source>/<table>") that retention removed, from the audit log:
    what a snapshot's proof may treat as a base removed on purpose, not lost."""
    return {
        item["partition"]
        for entry in audit.entries(AUDIT_KIND)
        if entry.get("table") == name
        for item in entry.get("removed", [])
    }
