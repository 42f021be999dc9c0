"""The AWS Glue Data Catalog, kept current by the writes themselves instead of crawlers.

Each published partition creates or updates, in order: its database, its table (parquet
SerDe, columns from the data, the partition column as a string partition key) and the
partition. A column that appears adds itself to the table; columns seen before stay (older
partitions still hold them), so Athena and Spark see the union, as a crawler would.
The table is only updated when its definition actually changes, so Glue keeps no version
per write.

Columns holding personal data (when the registration carries the table's declaration) get
the comment an analyst sees in Athena (``personal data``, or which nested fields) and the
column parameter ``pii = true``; a column no longer declared loses both.

A removed partition (retention) is deleted from its table with ``BatchDeletePartition``; an
unknown table or partition is no error, so removing twice is harmless.

A failure raises :class:`CatalogError` (the data is already published; re-running the
partition re-registers it): production queries must not silently miss a partition.
"""

import logging
import threading
from typing import TYPE_CHECKING, Any

from lbh_platform.catalog.base import CatalogError, PartitionRegistration, PartitionRemoval
from lbh_platform.catalog.hive_types import hive_columns

if TYPE_CHECKING:
    from lbh_platform.erasure.personal import PersonalData

log = logging.getLogger(__name__)

PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PII_PARAMETER = "pii"
PII_COMMENT = "personal data"  # how every comment this module writes begins
MAX_COMMENT = 255  # Glue's limit for a column comment
TABLE_PARAMETERS = {
    "classification": "parquet",
    "compressionType": "snappy",
    "typeOfData": "file",
    "EXTERNAL": "TRUE",
    "lbh.registered_by": "lbh_platform",
}


def _folder(location: str) -> str:
    return location.rstrip("/") + "/"


def storage_descriptor(location: str, columns: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Columns": columns,
        "Location": _folder(location),
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "Compressed": False,
        "SerdeInfo": {
            "SerializationLibrary": PARQUET_SERDE,
            "Parameters": {"serialization.format": "1"},
        },
        "StoredAsSubDirectories": False,
    }


def merge_columns(
    existing: list[dict[str, Any]], new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Existing columns in their order (a type changed by the new data takes the new type;
    comments and parameters kept), then the new data's unseen columns."""
    latest = {c["Name"]: c["Type"] for c in new}
    merged = [{**c, "Type": latest.get(c["Name"], c["Type"])} for c in existing]
    seen = {c["Name"] for c in existing}
    merged += [dict(c) for c in new if c["Name"] not in seen]
    return merged


def mark_personal(columns: list[dict[str, Any]], personal: "PersonalData") -> list[dict[str, Any]]:
    """``columns`` with each declared personal column's ``Comment`` and ``Parameters``
    (``pii``: ``true``); an undeclared column loses a mark left by an earlier declaration
    (other comments and parameters are kept)."""
    from lbh_platform.erasure.personal import column_fact

    declared = {name.lower(): name for name in personal.columns}
    marked = []
    for column in columns:
        column = dict(column)
        parameters = {k: v for k, v in column.pop("Parameters", {}).items() if k != PII_PARAMETER}
        comment = column.pop("Comment", "")
        if comment.startswith(PII_COMMENT):
            comment = ""
        if column["Name"] in declared:
            fact = column_fact(declared[column["Name"]], column["Type"], personal)
            comment = fact.comment[:MAX_COMMENT]
            parameters[PII_PARAMETER] = "true"
        if comment:
            column["Comment"] = comment
        if parameters:
            column["Parameters"] = parameters
        marked.append(column)
    return marked


def _columns_of(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: c[k] for k in ("Name", "Type", "Comment", "Parameters") if c.get(k)}
        for c in table.get("StorageDescriptor", {}).get("Columns", [])
    ]


def _error_text(exc: Exception) -> str:
    """The service's error code and message (never request details such as headers)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


class GlueCatalog:
    """Registers partitions in Glue; ``client`` defaults to boto3's ``glue`` client with the
    platform's region and endpoint (``AWS_ENDPOINT_URL_GLUE`` / ``AWS_ENDPOINT_URL``)."""

    def __init__(self, client: Any = None, *, region: str | None = None):
        self._client = client
        self._region = region
        self._databases: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GlueCatalog(region={self._region!r})"

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from lbh_platform.storage.aws import boto3_client

                self._client = boto3_client("glue", self._region)
            return self._client

    def register(self, registration: PartitionRegistration) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        r = registration
        try:
            columns: list[dict[str, Any]] = hive_columns(
                r.schema, exclude={r.partition_column.lower()}
            )
        except TypeError as exc:
            raise CatalogError(f"Glue table {r.database}.{r.table}: {exc}") from exc
        if r.personal is not None:
            columns = mark_personal(columns, r.personal)
        try:
            self._ensure_database(r.database)
            self._ensure_table(r, columns)
            self._put_partition(r, columns)
        except (ClientError, BotoCoreError) as exc:
            raise CatalogError(
                f"Glue catalogue: could not register {r.database}.{r.table} partition "
                f"{r.partition_column}={r.partition_value} ({_error_text(exc)}). The data is "
                f"published at {r.partition_location}; re-run the partition to register it."
            ) from exc
        log.debug("glue: registered %s.%s %s", r.database, r.table, r.partition_value)

    def _ensure_database(self, database: str) -> None:
        if database in self._databases:
            return
        client = self.client
        try:
            client.create_database(
                DatabaseInput={
                    "Name": database,
                    "Description": "Registered by lbh_platform on every publish (no crawler).",
                }
            )
            log.info("glue: created database %s", database)
        except client.exceptions.AlreadyExistsException:
            pass
        self._databases.add(database)

    def table_input(
        self,
        r: PartitionRegistration,
        columns: list[dict[str, str]],
        parameters: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return {
            "Name": r.table,
            "Description": f"{r.location} (registered by lbh_platform on every publish)",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {**(parameters or {}), **TABLE_PARAMETERS},
            "PartitionKeys": [{"Name": r.partition_column.lower(), "Type": "string"}],
            "StorageDescriptor": storage_descriptor(r.location, columns),
        }

    def _ensure_table(self, r: PartitionRegistration, columns: list[dict[str, Any]]) -> None:
        """Create the table, or merge this partition's columns into it. Updates carry the
        version read, so two writers adding different columns at once cannot drop one."""
        client = self.client
        for attempt in range(1, 4):
            try:
                current = client.get_table(DatabaseName=r.database, Name=r.table)["Table"]
            except client.exceptions.EntityNotFoundException:
                try:
                    client.create_table(
                        DatabaseName=r.database, TableInput=self.table_input(r, columns)
                    )
                    log.info("glue: created table %s.%s", r.database, r.table)
                    return
                except client.exceptions.AlreadyExistsException:  # a concurrent writer won
                    continue
            merged = merge_columns(_columns_of(current), columns)
            if r.personal is not None:
                merged = mark_personal(merged, r.personal)
            wanted = self.table_input(r, merged, current.get("Parameters"))
            if not self._differs(current, wanted):
                return
            version = {"VersionId": current["VersionId"]} if current.get("VersionId") else {}
            try:
                client.update_table(DatabaseName=r.database, TableInput=wanted, **version)
            except client.exceptions.ConcurrentModificationException:
                if attempt == 3:
                    raise
                continue
            added = sorted(
                {c["Name"] for c in wanted["StorageDescriptor"]["Columns"]}
                - {c["Name"] for c in _columns_of(current)}
            )
            log.info("glue: updated table %s.%s (new columns: %s)", r.database, r.table, added)
            return

    @staticmethod
    def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
        sd, want_sd = current.get("StorageDescriptor", {}), wanted["StorageDescriptor"]
        keys = [{"Name": k["Name"], "Type": k["Type"]} for k in current.get("PartitionKeys", [])]
        return (
            _columns_of(current) != want_sd["Columns"]
            or keys != wanted["PartitionKeys"]
            or sd.get("Location") != want_sd["Location"]
            or sd.get("InputFormat") != want_sd["InputFormat"]
            or sd.get("SerdeInfo", {}).get("SerializationLibrary") != PARQUET_SERDE
            or any(current.get("Parameters", {}).get(k) != v for k, v in TABLE_PARAMETERS.items())
        )

    def _put_partition(self, r: PartitionRegistration, columns: list[dict[str, str]]) -> None:
        client = self.client
        partition = {
            "Values": [r.partition_value],
            "StorageDescriptor": storage_descriptor(r.partition_location, columns),
        }
        try:
            client.create_partition(
                DatabaseName=r.database, TableName=r.table, PartitionInput=partition
            )
        except client.exceptions.AlreadyExistsException:
            client.update_partition(
                DatabaseName=r.database,
                TableName=r.table,
                PartitionValueList=[r.partition_value],
                PartitionInput=partition,
            )

    def unregister(self, removal: PartitionRemoval) -> None:
        """Delete the partition from its table (``BatchDeletePartition``); idempotent."""
        from botocore.exceptions import BotoCoreError, ClientError

        r = removal
        client = self.client
        try:
            response = client.batch_delete_partition(
                DatabaseName=r.database,
                TableName=r.table,
                PartitionsToDelete=[{"Values": [r.partition_value]}],
            )
        except client.exceptions.EntityNotFoundException:
            return  # no such database or table: nothing registered to forget
        except (ClientError, BotoCoreError) as exc:
            raise CatalogError(
                f"Glue catalogue: could not remove {r.database}.{r.table} partition "
                f"{r.partition_column}={r.partition_value} ({_error_text(exc)}); run the "
                "removal again"
            ) from exc
        failed = [
            e.get("ErrorDetail", {})
            for e in response.get("Errors", [])
            if e.get("ErrorDetail", {}).get("ErrorCode") != "EntityNotFoundException"
        ]
        if failed:
            detail = failed[0]
            raise CatalogError(
                f"Glue catalogue: could not remove {r.database}.{r.table} partition "
                f"{r.partition_column}={r.partition_value} ({detail.get('ErrorCode', 'Error')}: "
                f"{detail.get('ErrorMessage', '')}); run the removal again"
            )
        log.debug("glue: removed %s.%s %s", r.database, r.table, r.partition_value)
