"""The volume-anomaly rule: a partition's row count against the same asset's history.

The original platform's worst failures were silent (a job that ingested nothing, an increment
a tenth of its usual size). The baseline is the median row count of the newest earlier
partitions of the same day type (weekdays and weekends differ; weekly tables compare weeks),
so one odd day in the history does not move it. Pure and deterministic: the caller passes the
history (Dagster's ``dagster/row_count`` records). No Dagster here.
"""

import statistics
from collections.abc import Mapping
from datetime import date

from lbh_platform.common.monitoring_config import VolumeBand
from lbh_platform.common.quality import RuleOutcome


def day_type(day: date, weekly: bool = False) -> str:
    if weekly:
        return "week"
    return "weekend" if day.weekday() >= 5 else "weekday"


def comparable_history(
    history: Mapping[date, int], day: date, band: VolumeBand, weekly: bool = False
) -> list[int]:
    """Row counts of the ``band.window`` newest partitions before ``day`` of its day type."""
    kind = day_type(day, weekly)
    earlier = sorted((d for d in history if d < day and day_type(d, weekly) == kind), reverse=True)
    return [history[d] for d in earlier[: band.window]]


def volume_outcome(rows: int, history: list[int], band: VolumeBand) -> RuleOutcome:
    """Pass, or warn when ``rows`` is zero against a non-zero baseline or outside the band."""
    metadata: dict[str, object] = {"rows": rows, "history_partitions": len(history)}
    if len(history) < band.min_history:
        return RuleOutcome(
            True,
            f"{rows} rows; not enough history yet ({len(history)} of {band.min_history} "
            "comparable partitions)",
            metadata,
        )
    median = statistics.median(history)
    low, high = band.lower * median, band.upper * median
    metadata.update(baseline_median=float(median), band_low=float(low), band_high=float(high))
    where = f"median of the last {len(history)} comparable partitions: {median:g}"
    if rows == 0 and median > 0 and band.lower > 0:
        return RuleOutcome(False, f"0 rows where history expects some ({where})", metadata)
    if median > 0 and not low <= rows <= high:
        return RuleOutcome(False, f"{rows} rows, outside {low:g}..{high:g} ({where})", metadata)
    return RuleOutcome(True, f"{rows} rows, within {low:g}..{high:g} ({where})", metadata)
