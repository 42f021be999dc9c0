"""What a catalogue is told after every published partition, and the names it uses.

The storage layer calls every configured catalogue right after a partition is published, so
tables are queryable without crawlers. Names follow the original platform:
``dataplatform-<env>-<department>-<zone>-zone`` databases, lower-case ``[a-z0-9_]`` tables.
"""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pyarrow as pa

if TYPE_CHECKING:
    from lbh_platform.erasure.personal import PersonalData

ENVIRONMENTS = ("stg", "prod")
_UNSAFE = re.compile(r"[^a-z0-9_]+")
_UNSAFE_DATABASE = re.compile(r"[^a-z0-9_-]+")
MAX_NAME = 255  # Glue's limit for database and table names


class CatalogError(Exception):
    """A catalogue could not record a partition (the data itself is published)."""


@dataclass(frozen=True)
class PartitionRegistration:
    """One published partition, as a catalogue needs it.

    ``location`` is the table's root (``s3://bucket/...`` or an absolute local path);
    ``schema`` is the data file's schema, without the partition column (it lives in the path
    and is registered as a string partition key). ``personal`` is the table's declared
    personal data, when the caller knows it: Glue marks those columns, the local catalogue
    adds a ``<table>_masked`` view; ``None`` leaves both as they are.
    """

    database: str
    table: str
    location: str
    schema: pa.Schema
    partition_column: str
    partition_value: str
    personal: "PersonalData | None" = None

    @property
    def partition_location(self) -> str:
        return f"{self.location}/{self.partition_column}={self.partition_value}"


@runtime_checkable
class Catalog(Protocol):
    def register(self, registration: PartitionRegistration) -> None:
        """Create or update the database, table and partition; idempotent."""
        ...


@dataclass(frozen=True)
class PartitionRemoval:
    """One partition being removed (retention), as a catalogue needs it to forget it."""

    database: str
    table: str
    location: str
    partition_column: str
    partition_value: str

    @property
    def partition_location(self) -> str:
        return f"{self.location}/{self.partition_column}={self.partition_value}"


@runtime_checkable
class Unregistering(Protocol):
    """A catalogue that can forget a partition (every built-in one can)."""

    def unregister(self, removal: PartitionRemoval) -> None:
        """Forget the partition; idempotent (an unknown table or partition is no error)."""
        ...


def table_name(*parts: str) -> str:
    """A valid Glue/Athena table name from parts: lower-case, runs of other characters -> ``_``."""
    name = _UNSAFE.sub("_", "_".join(p for p in parts if p).lower()).strip("_")
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"cannot make a catalogue table name from {parts!r}")
    return name


def database_name(environment: str, department: str, zone: str) -> str:
    """``dataplatform-<env>-<department>-<zone>-zone``, e.g. dataplatform-stg-tascomi-raw-zone."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, got {environment!r}")
    name = f"dataplatform-{environment}-{department}-{zone}-zone".lower()
    if _UNSAFE_DATABASE.search(name) or len(name) > MAX_NAME:
        raise ValueError(f"not a valid catalogue database name: {name!r}")
    return name
