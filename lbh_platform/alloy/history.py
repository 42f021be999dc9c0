"""Where an Alloy table's history lives: ``env-services/alloy/history/<dataset>/<table>`` in
the refined zone, registered as ``alloy_history_<dataset>_<table>``; its snapshots' changes
beside it (not catalogued: they are the history's inputs, not a table to query)."""

from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.alloy.stages import key_columns
from lbh_platform.catalog.base import table_name
from lbh_platform.common.import_columns import IMPORT_METADATA_COLUMNS
from lbh_platform.history.from_snapshots import SnapshotHistory
from lbh_platform.history.source import history_table
from lbh_platform.storage.lake import Lake

PREFIX = "env-services/alloy/history"


def catalog_name(dataset: str, table: str) -> str:
    return table_name("alloy_history", dataset, table)


def describe_history_location(dataset: str, table: str) -> str:
    return f"refined zone: {PREFIX}/{dataset}/{table}/segment=<segment>"


def history_of(lake: Lake, dataset: AlloyDataset, table: str) -> SnapshotHistory:
    """A full export re-imports every row daily: its import columns say nothing changed."""
    name = dataset.name

    def inputs(kind: str):  # noqa: ANN202 - a PartitionedTable
        return lake.table("refined", f"{PREFIX}-{kind}/{name}", table, "snapshot_date")

    return SnapshotHistory(
        what=f"alloy {name}/{table} history",
        snapshots=alloy_table(lake, "snapshot", name, table),
        changes=inputs("changes"),
        deleted=inputs("deleted"),
        history=history_table(
            lake,
            "refined",
            f"{PREFIX}/{name}",
            table,
            lake.database("env-services", "refined"),
            catalog_table=catalog_name(name, table),
        ),
        keys=tuple(key_columns(dataset, table)),
        ignore=IMPORT_METADATA_COLUMNS if dataset.mode == "full" else (),
        table=table,
    )
