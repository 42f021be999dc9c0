"""Where each Tascomi stage lives in the lake (the original's layout) and what it is called in
the catalogues: ``dataplatform-<env>-tascomi-raw-zone`` (``api_response_<t>``, ``<t>``) and
``dataplatform-<env>-tascomi-refined-zone`` (``increment_<t>``, ``<t>``)."""

from lbh_platform.catalog.base import table_name
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable

STAGES = ("api_response", "parsed", "increment", "snapshot")
# stage: (zone, prefix, partition column, catalogue table-name prefix)
LOCATIONS: dict[str, tuple[str, str, str, str]] = {
    "api_response": ("raw", "planning/tascomi/api-responses", "import_date", "api_response"),
    "parsed": ("raw", "planning/tascomi/parsed", "import_date", ""),
    "increment": ("refined", "planning/tascomi/increment", "import_date", "increment"),
    "snapshot": ("refined", "planning/tascomi/snapshot", "snapshot_date", ""),
}


def tascomi_table(lake: Lake, stage: str, table: str) -> PartitionedTable:
    zone, prefix, column, name_prefix = LOCATIONS[stage]
    return lake.table(
        zone,
        prefix,
        table,
        column,
        database=lake.database("tascomi", zone),
        catalog_table=catalog_name(stage, table),
    )


def catalog_name(stage: str, table: str) -> str:
    return table_name(LOCATIONS[stage][3], table)


def describe_location(stage: str, table: str) -> str:
    zone, prefix, column, _ = LOCATIONS[stage]
    return f"{zone} zone: {prefix}/{table}/{column}=YYYYMMDD"
