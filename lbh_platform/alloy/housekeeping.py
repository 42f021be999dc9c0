"""Alloy's housekeeping: every output table's snapshots for retention, and a dataset's
exports, snapshots and histories for erasure, by the root item's id (a joined design's rows
of that item by ``primary_item``)."""

from lbh_platform.alloy import stages
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.alloy.history import history_of
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.alloy.stages import JOINED_ID, ROOT_ID
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure import Locator, TableTarget
from lbh_platform.erasure.targets import Target
from lbh_platform.retention import lineage_guard
from lbh_platform.retention.tables import SnapshotTable
from lbh_platform.storage.lake import Lake

SOURCE = "alloy"


def snapshot_tables(lake: Lake, datasets: list[AlloyDataset]) -> list[SnapshotTable]:
    return [
        SnapshotTable(
            SOURCE,
            f"{d.name}/{t}",
            alloy_table(lake, "snapshot", d.name, t),
            lambda d=d, t=t: alloy_table(lake, "api_response", d.name, t).partitions(),
            lambda d=d, t=t: lineage_guard(stages.snapshot_inputs(lake, d, t)),
        )
        for d in datasets
        for t in d.tables
    ]


def alloy_targets(
    lake: Lake, datasets: list[AlloyDataset], name: str, path: str | None = None
) -> list[Target]:
    if path is not None:
        raise ConfigurationError("alloy: erasure is by the root item's id (no --column)")
    dataset = next((d for d in datasets if d.name == name), None)
    if dataset is None:
        raise ConfigurationError(f"no Alloy dataset named {name!r}")
    return alloy_dataset_targets(lake, dataset, ROOT_ID, JOINED_ID)


def alloy_dataset_targets(
    lake: Lake, dataset: AlloyDataset, root_id: str, joined_id: str
) -> list[Target]:
    """The exports (joined tables first, as published), the snapshots, then each table's
    history and the snapshot changes it is kept from."""

    def key(table: str, renamed: bool) -> Locator:
        column = root_id if table == dataset.name else joined_id
        if renamed:
            column = dataset.renames.get(table, {}).get(column, column)
        return Locator.of(column)

    order = [*dataset.joined_designs, dataset.name]  # the export publishes the root last
    exports: list[Target] = [
        TableTarget(
            f"api_response {table}",
            alloy_table(lake, "api_response", dataset.name, table),
            key(table, False),
        )
        for table in order
    ]
    tables = [dataset.name, *dataset.joined_designs]
    snapshots: list[Target] = [
        TableTarget(
            f"snapshot {table}",
            alloy_table(lake, "snapshot", dataset.name, table),
            key(table, True),
            # A snapshot is built on the one before it and its table's exports (a joined
            # table's also on the root's): the proof wants it written after both.
            tuple(dict.fromkeys([f"api_response {table}", f"api_response {dataset.name}"])),
            cumulative=True,
        )
        for table in tables
    ]
    histories: list[Target] = []
    for table in tables:
        history = history_of(lake, dataset, table)
        located = key(table, True)
        histories += [
            TableTarget(f"history changes {table}", history.changes, located),
            TableTarget(f"history deleted {table}", history.deleted, located),
            TableTarget(f"history {table}", history.history, located),
        ]
    return exports + snapshots + histories
