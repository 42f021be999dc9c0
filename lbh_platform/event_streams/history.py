"""Where an event-streamed entity's history lives: ``<refined prefix>/history/<table>`` in
the refined zone, registered as ``<name>_history``; its snapshots' changes beside it (not
catalogued). The snapshots are the states the events went through, re-syncs included, so
the history follows them rather than the events."""

from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.history.from_snapshots import SnapshotHistory
from lbh_platform.history.source import history_table
from lbh_platform.storage.lake import Lake


def catalog_name(stream: EventStream) -> str:
    return f"{stream.name}_history"


def describe_history_location(stream: EventStream) -> str:
    return f"refined zone: {stream.refined_prefix}/history/{stream.table}/segment=<segment>"


def history_of(lake: Lake, stream: EventStream) -> SnapshotHistory:
    def inputs(kind: str):  # noqa: ANN202 - a PartitionedTable
        prefix = f"{stream.refined_prefix}/history-{kind}"
        return lake.table("refined", prefix, stream.table, "snapshot_date")

    return SnapshotHistory(
        what=f"{stream.label} history",
        snapshots=stage_table(lake, stream, "snapshot"),
        changes=inputs("changes"),
        deleted=inputs("deleted"),
        history=history_table(
            lake,
            "refined",
            f"{stream.refined_prefix}/history",
            stream.table,
            lake.database(stream.department, "refined"),
            catalog_table=catalog_name(stream),
        ),
        keys=(stream.key,),
    )
