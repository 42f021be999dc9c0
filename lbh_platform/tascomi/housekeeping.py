"""Tascomi's housekeeping: each table's snapshots for retention, and its stages (the history
last) for erasure, by a top-level field of the record (its id)."""

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure import Locator, TableTarget
from lbh_platform.erasure.paths import parse_path
from lbh_platform.erasure.targets import Target
from lbh_platform.retention import lineage_guard
from lbh_platform.retention.tables import SnapshotTable
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.history import history_source
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import TascomiTable

SOURCE = "tascomi"


def snapshot_tables(lake: Lake, tables: list[TascomiTable]) -> list[SnapshotTable]:
    return [
        SnapshotTable(
            SOURCE,
            t.name,
            tascomi_table(lake, "snapshot", t.name),
            lambda t=t: tascomi_table(lake, "increment", t.name).partitions(),
            lambda t=t: lineage_guard(stages.snapshot_inputs(lake, t.name)),
        )
        for t in tables
    ]


def tascomi_targets(lake: Lake, table: str, path: str = "id") -> list[Target]:
    """A Tascomi table's stages and its history, by a top-level field of the record."""
    located = parse_path(path, f"tascomi {table} --column")
    if len(located.steps) != 1 or located.steps[0].each:
        raise ConfigurationError(
            f"tascomi {table}: erase by a top-level field of the record (such as id); the "
            f"parsed stages hold nested fields as JSON text, so {path!r} cannot be located"
        )
    column = Locator(located)
    return [
        TableTarget(
            "api_response", tascomi_table(lake, "api_response", table), Locator(located, table)
        ),
        TableTarget("parsed", tascomi_table(lake, "parsed", table), column, ("api_response",)),
        TableTarget("increment", tascomi_table(lake, "increment", table), column, ("parsed",)),
        TableTarget(
            "snapshot",
            tascomi_table(lake, "snapshot", table),
            column,
            ("increment",),
            cumulative=True,
        ),
        # Its segments are rewritten where they hold the key; the next history run sees the
        # increments re-written and rebuilds from them (without the key).
        TableTarget("history", history_source(lake, table).history, column),
    ]
