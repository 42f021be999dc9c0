"""A table's column schema as an analyst is shown it: name, type, whether it holds personal
data, and a description saying which part does.

The Dagster wiring turns each :class:`SchemaColumn` into a ``TableColumn`` of the asset's
``dagster/column_schema`` (``tags`` gives the ``pii`` tag); the Glue catalogue writes the
same description as the column's comment. Types are the Glue/Athena (Hive) types, so the UI
and Athena name a column's type alike.
"""

from dataclasses import dataclass

import pyarrow as pa

from lbh_platform.catalog.hive_types import hive_type
from lbh_platform.erasure.personal import PII_TAG, PersonalData, column_fact


@dataclass(frozen=True)
class SchemaColumn:
    name: str
    type: str
    pii: bool
    description: str

    @property
    def tags(self) -> dict[str, str]:
        """``{"pii": ""}`` for a column holding personal data (shown as a label), else none."""
        return {PII_TAG: ""} if self.pii else {}


def column_schema(
    schema: pa.Schema,
    personal: PersonalData | None = None,
    partition_column: str | None = None,
) -> list[SchemaColumn]:
    """Every column of ``schema`` in order, then ``partition_column`` (a string in the path)
    when the data file does not hold it. Declared paths the schema lacks are ignored (a
    column not yet seen); :meth:`PersonalData.check` is where they are refused."""
    personal = personal or PersonalData()
    columns = []
    for field in schema:
        try:
            type_name = hive_type(field.type)
        except TypeError:  # no Hive spelling: still shown, as Arrow names it
            type_name = str(field.type)
        fact = column_fact(field.name, type_name, personal)
        columns.append(SchemaColumn(fact.name, fact.type, fact.pii, fact.comment))
    if partition_column and partition_column not in schema.names:
        columns.append(SchemaColumn(partition_column, "string", False, "partition"))
    return columns
