"""What every source's ``history`` asset says of itself, and its check: the history holds
snapshot D as the snapshot and its inputs are now (read from footers and listings only, so
the check costs nothing like the table's size)."""

from lbh_platform.common.quality import RuleOutcome

DESCRIPTION = (
    "Every version of each {what} record by {key}, with `valid_from`, `valid_to` (null while "
    'current), `is_deleted`, and its import columns, kept from the {inputs}. "As of D" (SQL: '
    "`<table>_as_of(DATE 'YYYY-MM-DD')`) is snapshot D, including days whose snapshot "
    "retention removed. Partition D: the history brought up to snapshot D."
)
CHECK = "holds_snapshot"
CHECK_DESCRIPTION = (
    "The history holds every batch up to this snapshot, each as its inputs are now (a "
    "snapshot or input re-written since is a failure: materialise the history again)."
)


def describe(what: str, key: str, inputs: str) -> str:
    return DESCRIPTION.format(what=what, key=key, inputs=inputs)


def holds_snapshot(what: str, value: str, reason: str | None) -> RuleOutcome:
    if reason is None:
        return RuleOutcome(True, f"{what} holds snapshot {value} as its inputs are now")
    return RuleOutcome(False, f"{what} {value}: {reason}", {"reason": reason})
