"""Partition definitions: the partition key is the import date (a 03:00 run on D targets D)."""

import dagster as dg

TIMEZONE = "Europe/London"
FIRST_IMPORT_DATE = "2021-10-01"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=FIRST_IMPORT_DATE, end_offset=1, timezone=TIMEZONE
)
# Weekly partitions start on Sunday, so the Sunday 03:00 run targets that Sunday's key.
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date="2021-10-03", end_offset=1, timezone=TIMEZONE
)


def partitions_for(cadence: str) -> dg.TimeWindowPartitionsDefinition:
    return weekly_partitions if cadence == "weekly" else daily_partitions
