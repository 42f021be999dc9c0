"""Catalogues that the storage layer keeps current on every publish: Glue and local DuckDB."""

from lbh_platform.catalog.base import (
    Catalog,
    CatalogError,
    PartitionRegistration,
    PartitionRemoval,
    Unregistering,
    database_name,
    table_name,
)
from lbh_platform.catalog.duckdb_catalog import DuckDBCatalog, default_duckdb_path
from lbh_platform.catalog.glue import GlueCatalog

__all__ = [
    "Catalog",
    "CatalogError",
    "DuckDBCatalog",
    "GlueCatalog",
    "PartitionRegistration",
    "PartitionRemoval",
    "Unregistering",
    "database_name",
    "default_duckdb_path",
    "table_name",
]
