"""Where each Alloy stage lives and what it is called in the catalogues:
``dataplatform-<env>-env-services-raw-zone`` (``alloy_api_response_<d>_<t>``) and
``dataplatform-<env>-env-services-refined-zone`` (``alloy_snapshot_<d>_<t>``). Names carry the
dataset and the output table (the root table is named after the dataset), so every table of
every dataset is distinct and sorts by dataset."""

from lbh_platform.catalog.base import table_name
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable

# stage: (zone, prefix, partition column, catalogue table-name prefix)
LOCATIONS: dict[str, tuple[str, str, str, str]] = {
    "api_response": (
        "raw",
        "env-services/alloy/api-responses",
        "import_date",
        "alloy_api_response",
    ),
    "snapshot": ("refined", "env-services/alloy/snapshots", "snapshot_date", "alloy_snapshot"),
}


def alloy_table(lake: Lake, stage: str, dataset: str, table: str) -> PartitionedTable:
    zone, prefix, column, name_prefix = LOCATIONS[stage]
    return lake.table(
        zone,
        f"{prefix}/{dataset}",
        table,
        column,
        database=lake.database("env-services", zone),
        catalog_table=catalog_name(stage, dataset, table),
    )


def catalog_name(stage: str, dataset: str, table: str) -> str:
    return table_name(LOCATIONS[stage][3], dataset, table)


def describe_location(stage: str, dataset: str, table: str) -> str:
    zone, prefix, column, _ = LOCATIONS[stage]
    return f"{zone} zone: {prefix}/{dataset}/{table}/{column}=YYYYMMDD"
