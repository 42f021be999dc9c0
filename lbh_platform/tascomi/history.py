"""Where a Tascomi table's history lives: beside its increments and snapshots in the refined
zone, registered as ``history_<table>`` in the Tascomi refined database."""

from lbh_platform.history.source import HistorySource, history_table
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table

PREFIX = "planning/tascomi/history"


def describe_history_location(table: str) -> str:
    return f"refined zone: {PREFIX}/{table}/segment=<segment>"


def history_source(lake: Lake, table: str, id_column: str = "id") -> HistorySource:
    """A Tascomi table's history, built from its increments in its snapshots' batches."""
    return HistorySource(
        what=f"tascomi {table} history",
        history=history_table(lake, "refined", PREFIX, table, lake.database("tascomi", "refined")),
        increments=tascomi_table(lake, "increment", table),
        id_column=id_column,
        snapshots=tascomi_table(lake, "snapshot", table),
    )
