"""The data lake's zones and how a table in them is addressed: a folder or ``s3://`` prefix
per zone, a table at ``<zone>/<prefix>/<name>``, registered in the catalogues when it has a
catalogue identity. Which source keeps which stage where lives with each source
(``<source>/locations.py``); nothing here names one."""

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
    from lbh_platform.erasure.personal import PersonalData
    from lbh_platform.settings import Settings


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
        self._personal: dict[str, PersonalData] = {}

    def declare_personal(self, declared: Mapping[str, "PersonalData"]) -> None:
        """Catalogue table name -> its declared personal data: every publish of that table
        then marks its Glue columns and makes its local masked view (no source named here:
        the callers declare their own tables)."""
        self._personal.update(declared)

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
        statistics: Sequence[str] | None = None,
    ) -> PartitionedTable:
        """A table at ``<zone>/<prefix>/<name>``; with ``database`` it registers each publish
        as ``database.catalog_table`` (default: ``name`` made a valid table name);
        ``statistics`` limits the footers' min/max to those columns."""
        if zone not in self.zones:
            raise KeyError(f"unknown zone {zone!r}; the lake has {sorted(self.zones)}")
        if catalog_table is not None and database is None:
            raise ValueError("catalog_table needs a database")
        fs, base = self._filesystems[zone]
        catalog_name = catalog_table or table_name(name)
        identity = (
            CatalogIdentity(database, catalog_name, self._personal.get(catalog_name))
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
            statistics=statistics,
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
