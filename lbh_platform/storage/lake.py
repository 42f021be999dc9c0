"""The data lake's zones, where each pipeline keeps each stage (the original's layout), and
what each stage is called in the catalogues.

Catalogue names (``<env>`` is ``LBH_ENVIRONMENT``, ``stg`` or ``prod``):

- tascomi ``api_response`` / ``parsed``: ``dataplatform-<env>-tascomi-raw-zone``, tables
  ``api_response_<t>`` / ``<t>``;
- tascomi ``increment`` / ``snapshot``: ``dataplatform-<env>-tascomi-refined-zone``, tables
  ``increment_<t>`` / ``<t>``;
- alloy ``api_response``: ``dataplatform-<env>-env-services-raw-zone``, tables
  ``alloy_api_response_<d>_<t>``;
- alloy ``snapshot``: ``dataplatform-<env>-env-services-refined-zone``, tables
  ``alloy_snapshot_<d>_<t>``.

Alloy names carry the dataset ``<d>`` and the output table ``<t>`` (the root table is named
after the dataset, e.g. ``alloy_snapshot_graffiti_graffiti``; a joined design
``alloy_snapshot_graffiti_task_statuses_1``), so every table of every dataset is distinct and
sorts by dataset. Other pipelines pass ``database`` / ``catalog_table`` to :meth:`Lake.table`.
"""

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow.fs as pafs

from lbh_platform.catalog.base import Catalog, database_name, table_name
from lbh_platform.storage.partitioned_table import (
    CatalogIdentity,
    PartitionedTable,
    filesystem_for,
)

if TYPE_CHECKING:
    from lbh_platform.settings import Settings

TASCOMI_LOCATIONS: dict[str, tuple[str, str, str]] = {
    # stage: (zone, prefix, partition column)
    "api_response": ("raw", "planning/tascomi/api-responses", "import_date"),
    "parsed": ("raw", "planning/tascomi/parsed", "import_date"),
    "increment": ("refined", "planning/tascomi/increment", "import_date"),
    "snapshot": ("refined", "planning/tascomi/snapshot", "snapshot_date"),
}
ALLOY_LOCATIONS: dict[str, tuple[str, str, str]] = {
    "api_response": ("raw", "env-services/alloy/api-responses", "import_date"),
    "snapshot": ("refined", "env-services/alloy/snapshots", "snapshot_date"),
}
# stage: (department in the database name, table-name prefix)
TASCOMI_CATALOG: dict[str, tuple[str, str]] = {
    "api_response": ("tascomi", "api_response"),
    "parsed": ("tascomi", ""),
    "increment": ("tascomi", "increment"),
    "snapshot": ("tascomi", ""),
}
ALLOY_CATALOG: dict[str, tuple[str, str]] = {
    "api_response": ("env-services", "alloy_api_response"),
    "snapshot": ("env-services", "alloy_snapshot"),
}


class Lake:
    """Zones by name (``raw``, ``refined``...), each a local folder or an ``s3://`` URI.

    ``catalogs`` are told about every partition published through a table that has a
    catalogue identity (all Tascomi and Alloy stages have one); ``environment`` names the
    databases.
    """

    def __init__(
        self,
        zones: Mapping[str, str],
        *,
        environment: str = "stg",
        catalogs: Sequence[Catalog] = (),
        aws_region: str | None = None,
    ):
        self.zones = {name: root.rstrip("/") for name, root in zones.items()}
        self.environment = environment
        self.catalogs = tuple(catalogs)
        self.aws_region = aws_region

    def __repr__(self) -> str:
        return f"Lake({self.zones}, environment={self.environment!r}, catalogs={self.catalogs})"

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Lake":
        """The lake as configured: zones, environment and the catalogues switched on."""
        return cls(
            settings.zones,
            environment=settings.environment,
            catalogs=catalogs_for(
                glue_catalog=settings.glue_catalog,
                duckdb_path=settings.duckdb_path if settings.duckdb_catalog else None,
                aws_region=settings.aws_region,
            ),
            aws_region=settings.aws_region,
        )

    @cached_property
    def _filesystems(self) -> dict[str, tuple[pafs.FileSystem, str]]:
        return {name: filesystem_for(root, self.aws_region) for name, root in self.zones.items()}

    def database(self, department: str, zone: str) -> str:
        """The catalogue database for a department's zone, e.g. ``("housing", "refined")`` ->
        ``dataplatform-stg-housing-refined-zone``."""
        return database_name(self.environment, department, zone)

    def table(
        self,
        zone: str,
        prefix: str,
        name: str,
        partition_column: str,
        *,
        database: str | None = None,
        catalog_table: str | None = None,
    ) -> PartitionedTable:
        """A table at ``<zone>/<prefix>/<name>``; with ``database`` it registers each publish
        as ``database.catalog_table`` (default: ``name`` made a valid table name)."""
        if zone not in self.zones:
            raise KeyError(f"unknown zone {zone!r}; the lake has {sorted(self.zones)}")
        if catalog_table is not None and database is None:
            raise ValueError("catalog_table needs a database")
        fs, base = self._filesystems[zone]
        identity = (
            CatalogIdentity(database, catalog_table or table_name(name))
            if database is not None
            else None
        )
        return PartitionedTable(
            fs,
            f"{base}/{prefix}/{name}",
            partition_column,
            f"{self.zones[zone]}/{prefix}/{name}",
            catalog=identity,
            catalogs=self.catalogs,
        )

    def tascomi(self, stage: str, table: str) -> PartitionedTable:
        zone, prefix, column = TASCOMI_LOCATIONS[stage]
        department, name_prefix = TASCOMI_CATALOG[stage]
        return self.table(
            zone,
            prefix,
            table,
            column,
            database=self.database(department, zone),
            catalog_table=table_name(name_prefix, table),
        )

    def alloy(self, stage: str, dataset: str, table: str) -> PartitionedTable:
        zone, prefix, column = ALLOY_LOCATIONS[stage]
        department, name_prefix = ALLOY_CATALOG[stage]
        return self.table(
            zone,
            f"{prefix}/{dataset}",
            table,
            column,
            database=self.database(department, zone),
            catalog_table=table_name(name_prefix, dataset, table),
        )


def catalogs_for(
    *, glue_catalog: bool, duckdb_path: str | None, aws_region: str | None = None
) -> list[Catalog]:
    """The catalogues to keep current: Glue when switched on, DuckDB when given a file."""
    from lbh_platform.catalog.duckdb_catalog import DuckDBCatalog
    from lbh_platform.catalog.glue import GlueCatalog

    catalogs: list[Catalog] = []
    if glue_catalog:
        catalogs.append(GlueCatalog(region=aws_region))
    if duckdb_path:
        catalogs.append(DuckDBCatalog(duckdb_path))
    return catalogs
