"""Every source's ``history`` asset: its description and its check. The check (the history
holds snapshot D as the snapshot and its inputs are now) reads footers and listings only, so
it costs nothing like the table's size."""

from collections.abc import Callable
from typing import Any

from lbh_platform.common.quality import RuleOutcome
from lbh_platform.lib.spec import Asset, Check
from lbh_platform.storage.lake import Lake

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


def holds_snapshot(what: str, value: str, reason: str | None) -> RuleOutcome:
    if reason is None:
        return RuleOutcome(True, f"{what} holds snapshot {value} as its inputs are now")
    return RuleOutcome(False, f"{what} {value}: {reason}", {"reason": reason})


def history_asset(
    what: str,
    key: str,
    inputs: str,
    location: str,
    behind: Callable[[Lake, str], str | None],
    **extra: Any,
) -> Asset:
    """The ``history`` asset of a table: ``what`` names it ("tascomi applications"), ``key``
    its record key, ``inputs`` what it is kept from; ``behind(lake, D)`` says why it does not
    hold snapshot D, or None. It follows its snapshot by automation."""
    check = Check(
        CHECK,
        CHECK_DESCRIPTION,
        lambda lake, value: holds_snapshot(f"{what} history", value, behind(lake, value)),
    )
    return Asset(
        "history",
        DESCRIPTION.format(what=what, key=key, inputs=inputs),
        location,
        checks=(check,),
        eager=True,
        **extra,
    )
