"""Where each stage of an event-streamed entity lives in the lake, and its catalogue names.

Tables go through :meth:`Lake.table` (atomic partition writes, catalogue registration):

- ``initial_state``: ``$LBH_RAW_ZONE/<raw_prefix>/<table>/import_date=...``;
- ``events``, ``events_quarantine``: ``$LBH_REFINED_ZONE/<refined_prefix>/<stage>/<table>/
  import_date=...``;
- ``snapshot``, ``deletions``: the same with ``snapshot_date=...``.

Each is registered in ``dataplatform-<env>-<department>-<zone>-zone`` under the entry's
catalogue name for the stage (Tenure: ``tenure_information``, ``tenure_events``,
``tenure_events_quarantine``, ``tenure_information``, ``tenure_deletions``).
"""

from lbh_platform.event_streams.spec import STAGES, EventStream
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable

# stage: (zone, partition column)
STAGE_LAYOUT: dict[str, tuple[str, str]] = {
    "initial_state": ("raw", "import_date"),
    "events": ("refined", "import_date"),
    "events_quarantine": ("refined", "import_date"),
    "snapshot": ("refined", "snapshot_date"),
    "deletions": ("refined", "snapshot_date"),
}


def stage_table(lake: Lake, stream: EventStream, stage: str) -> PartitionedTable:
    """The partitioned table of one stage of ``stream``."""
    if stage not in STAGE_LAYOUT:
        raise KeyError(f"unknown {stream.label} stage {stage!r}; stages are {list(STAGES)}")
    zone, column = STAGE_LAYOUT[stage]
    prefix = stream.raw_prefix if stage == "initial_state" else f"{stream.refined_prefix}/{stage}"
    return lake.table(
        zone,
        prefix,
        stream.table,
        column,
        database=lake.database(stream.department, zone),
        catalog_table=stream.catalog_name(stage),
    )


def describe_location(stream: EventStream, stage: str) -> str:
    """Where a stage's partitions live, for the UI (no lake needed)."""
    zone, column = STAGE_LAYOUT[stage]
    prefix = stream.raw_prefix if stage == "initial_state" else f"{stream.refined_prefix}/{stage}"
    return f"{zone} zone: {prefix}/{stream.table}/{column}=YYYYMMDD"
