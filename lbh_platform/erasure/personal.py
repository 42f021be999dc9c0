"""Personal-data declarations: which columns (and nested fields) of a table hold personal data.

Each source declares them in its own configuration, per table, as a list of field paths
(:mod:`lbh_platform.erasure.paths`)::

    personal_data:            # a Tascomi table entry, an event-stream entity...
      - applicant_name
      - household_members[].full_name
      - household_members[].date_of_birth

or, for a source with several tables per entry (an Alloy dataset), a mapping of table name to
such a list. A path naming a whole column marks the column personal; a nested path marks only
that field. :func:`column_facts` gives, per column, its type and whether it holds personal data
(the ``pii`` tag of an asset's column schema, the Glue column comment), and
:mod:`lbh_platform.erasure.masked` builds the masked views from the same declaration.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from lbh_platform.catalog.hive_types import hive_type
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure.paths import FieldPath, Step, parse_path

PII_TAG = "pii"


@dataclass(frozen=True)
class PersonalData:
    """One table's declared personal fields."""

    paths: tuple[FieldPath, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.paths)

    @property
    def columns(self) -> list[str]:
        """Columns holding personal data (whole, or in a nested field), in declared order."""
        return list(dict.fromkeys(p.column for p in self.paths))

    def whole(self, column: str) -> bool:
        return any(p.column == column and len(p.steps) == 1 for p in self.paths)

    def nested(self, column: str) -> list[FieldPath]:
        return [p for p in self.paths if p.column == column and len(p.steps) > 1]

    def with_columns(self, *columns: str) -> "PersonalData":
        """This declaration plus whole ``columns`` (e.g. a stage's raw record text)."""
        added = [parse_path(c, "personal column") for c in columns if not self.whole(c)]
        return PersonalData(self.paths + tuple(dict.fromkeys(added)))

    def renamed(self, renames: Mapping[str, str]) -> "PersonalData":
        """The same fields under other column names (``{old: new}``; others kept)."""
        return PersonalData(
            tuple(
                FieldPath((Step(renames.get(p.column, p.column), p.steps[0].each), *p.steps[1:]))
                for p in self.paths
            )
        )

    def check(self, schema: pa.Schema, where: str) -> None:
        """Every declared path exists in ``schema``; else an error naming table and path."""
        for path in self.paths:
            problem = _resolve(schema, path)
            if problem:
                raise ConfigurationError(f"{where}: personal_data {str(path)!r}: {problem}")


def parse_personal_data(value: object, where: str) -> PersonalData:
    """A table's declaration: a list of field paths (absent or empty: none declared)."""
    if value is None:
        return PersonalData()
    if not isinstance(value, list):
        raise ConfigurationError(
            f"{where}: personal_data must be a list of column names or field paths "
            f"(column, column.field, column[].field), got {type(value).__name__}"
        )
    paths = [parse_path(item, f"{where}: personal_data") for item in value]
    seen: set[str] = set()
    for path in paths:
        if str(path) in seen:
            raise ConfigurationError(f"{where}: personal_data lists {str(path)!r} twice")
        seen.add(str(path))
    return PersonalData(tuple(paths))


def parse_personal_tables(value: object, where: str) -> dict[str, PersonalData]:
    """A declaration per table (``{table: [paths]}``), for a source entry with several."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{where}: personal_data must map each table to a list of field paths"
        )
    return {
        str(table): parse_personal_data(paths, f"{where} table {table}")
        for table, paths in value.items()
    }


def _resolve(schema: pa.Schema, path: FieldPath) -> str | None:
    index = schema.get_field_index(path.column)
    if index < 0:
        return f"no column {path.column!r} (columns: {', '.join(schema.names[:20])})"
    data_type = schema.field(index).type
    walked: list[Step] = []
    for step in path.steps:
        if walked:
            if not pa.types.is_struct(data_type):
                return f"{'.'.join(map(str, walked))} is a {data_type}, not a struct"
            found = data_type.get_field_index(step.name)
            if found < 0:
                names = [data_type.field(i).name for i in range(data_type.num_fields)]
                return f"no field {step.name!r} in {'.'.join(map(str, walked))} ({names})"
            data_type = data_type.field(found).type
        if step.each:
            if not (pa.types.is_list(data_type) or pa.types.is_large_list(data_type)):
                return f"{step.name} is a {data_type}, not a list"
            data_type = data_type.value_type
        walked.append(step)
    return None


@dataclass(frozen=True)
class ColumnFacts:
    """What an analyst is shown about a column before querying it."""

    name: str
    type: str  # the Hive/Glue type
    pii: bool
    personal_fields: tuple[str, ...] = ()  # nested paths, when only parts are personal

    @property
    def comment(self) -> str:
        """The Glue column comment ("" for a column without personal data)."""
        if not self.pii:
            return ""
        if self.personal_fields:
            return f"personal data in {', '.join(self.personal_fields)}"
        return "personal data"


def column_facts(schema: pa.Schema, personal: PersonalData) -> list[ColumnFacts]:
    """Each column's type and personal-data flag, in the schema's order."""
    return [column_fact(field.name, hive_type(field.type), personal) for field in schema]


def column_fact(name: str, type_name: str, personal: PersonalData) -> ColumnFacts:
    """One column's facts, by its name (a whole personal column lists no nested field)."""
    whole = personal.whole(name)
    nested = () if whole else tuple(str(p) for p in personal.nested(name))
    return ColumnFacts(name, type_name, whole or bool(nested), nested)
