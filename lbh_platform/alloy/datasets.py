"""The Alloy dataset list: one AQS export request per file in ``config/alloy/``.

Adding a dataset is adding one JSON file; everything downstream is generated from the
`AlloyDataset` entries, so every mistake is caught here with a message naming file and fix.
"""

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lbh_platform.alloy.transforms import clean_column_name
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.config import CONFIG_DIR
from lbh_platform.erasure.personal import PersonalData, parse_personal_tables

__all__ = ["DEFAULT_DATASETS_DIR", "AlloyDataset", "join_path", "load_datasets", "parse_dataset"]

Mode = Literal["incremental", "full"]
HeaderType = Literal["Name", "Code"]
DEFAULT_DATASETS_DIR = CONFIG_DIR / "alloy"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
_FIELDS = {
    "name",
    "mode",
    "aqs",
    "fileName",
    "exportHeaderType",
    "parameterValues",
    "join_designs",
    "renames",
    "personal_data",
    "discriminator",
}


@dataclass(frozen=True)
class AlloyDataset:
    """One Alloy export and how the pipeline treats it.

    ``query`` is the AQS document ``{"aqs": {...}}`` as sent; ``joined_designs`` are the output
    table names of the joined designs (``task_statuses_1``...), in the zip's order, and
    ``join_design_names`` maps each join path to the design display name they come from.
    """

    name: str
    mode: Mode
    query: dict[str, Any]
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    root_design: str = ""
    joined_designs: list[str] = field(default_factory=list)
    join_design_names: dict[str, str] = field(default_factory=dict)
    file_name: str = ""
    header_type: HeaderType = "Name"
    parameter_values: list[Any] = field(default_factory=list)
    source: Path | None = None
    personal_data: dict[str, PersonalData] = field(default_factory=dict)

    def personal(self, table: str, stage: str = "snapshot") -> PersonalData:
        """One output table's declared personal columns (empty when none). They name the
        columns after ``renames`` (the snapshot's); the ``api_response`` stage holds them
        under their names before the renames."""
        declared = self.personal_data.get(table, PersonalData())
        if stage == "api_response":
            renames = self.renames.get(table, {})
            return declared.renamed({new: old for old, new in renames.items()})
        return declared

    @property
    def tables(self) -> list[str]:
        """Every output table: the root (named after the dataset) then the joined designs."""
        return [self.name, *self.joined_designs]

    @property
    def join_attributes(self) -> list[str]:
        return list(self.query["aqs"].get("properties", {}).get("joinAttributes", []))


def join_path(join_attribute: str) -> str:
    """The path a join attribute hangs off: everything before its last ``.attribute``."""
    return join_attribute.rsplit(".", 1)[0]


def _join_paths(join_attributes: list[str]) -> list[str]:
    """Distinct join paths in first-appearance order: the order Alloy numbers the CSVs in."""
    return list(dict.fromkeys(join_path(a) for a in join_attributes))


def parse_dataset(document: object, source: Path) -> AlloyDataset:
    """Validate one dataset document; every error names the file and what to change."""
    where = str(source)
    if not isinstance(document, dict):
        raise ConfigurationError(f"{where}: expected a JSON object with name, mode and aqs")
    unknown = set(document) - _FIELDS
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}"
        )
    name = document.get("name")
    if name is None:
        raise ConfigurationError(f'{where}: missing "name"; add "name": "{source.stem}"')
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"{where}: name {name!r} is unsafe; use lower-case letters, digits and _ "
            "(it becomes a table name and a storage path)"
        )
    mode = document.get("mode")
    if mode not in ("incremental", "full"):
        raise ConfigurationError(
            f'{where} ({name}): "mode" must be "incremental" or "full", got {mode!r}'
        )
    discriminator = document.get("discriminator", "CsvExportWebRequestModel")
    if discriminator != "CsvExportWebRequestModel":
        raise ConfigurationError(
            f'{where} ({name}): "discriminator" must be "CsvExportWebRequestModel" or absent'
        )

    aqs = document.get("aqs")
    properties = aqs.get("properties") if isinstance(aqs, dict) else None
    if (
        not isinstance(aqs, dict)
        or not isinstance(aqs.get("type"), str)
        or not isinstance(properties, dict)
    ):
        raise ConfigurationError(
            f'{where} ({name}): "aqs" must be an object with "type" and "properties"'
        )
    root_design = properties.get("dodiCode")
    if not isinstance(root_design, str) or not root_design.startswith("designs_"):
        raise ConfigurationError(
            f"{where} ({name}): aqs.properties.dodiCode must be a design code like "
            f'"designs_graffiti_5d76...", got {root_design!r}'
        )
    for key in ("attributes", "joinAttributes", "collectionCode"):
        value = properties.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigurationError(
                f"{where} ({name}): aqs.properties.{key} must be a list of strings"
            )
    if not properties.get("attributes"):
        raise ConfigurationError(f"{where} ({name}): aqs.properties.attributes is empty")
    children = aqs.get("children", [])
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        raise ConfigurationError(f"{where} ({name}): aqs.children must be a list of filter objects")

    file_name = document.get("fileName", f"{name}.csv")
    if (
        not isinstance(file_name, str)
        or not file_name.lower().endswith(".csv")
        or "/" in file_name
        or "\\" in file_name
        or file_name.startswith(".")
    ):
        raise ConfigurationError(
            f'{where} ({name}): "fileName" must be a plain file name ending in .csv, '
            f"got {file_name!r}"
        )
    header_type = document.get("exportHeaderType", "Name")
    if header_type not in ("Name", "Code"):
        raise ConfigurationError(
            f'{where} ({name}): "exportHeaderType" must be "Name" or "Code", got {header_type!r}'
        )
    parameter_values = document.get("parameterValues", [])
    if not isinstance(parameter_values, list):
        raise ConfigurationError(f'{where} ({name}): "parameterValues" must be a list')

    paths = _join_paths(properties.get("joinAttributes", []))
    design_names = document.get("join_designs", {})
    if not isinstance(design_names, dict) or not all(
        isinstance(v, str) and v.strip() for v in design_names.values()
    ):
        raise ConfigurationError(
            f'{where} ({name}): "join_designs" must map join paths to design display names'
        )
    missing = [p for p in paths if p not in design_names]
    if missing:
        raise ConfigurationError(
            f'{where} ({name}): "join_designs" has no design name for join path(s) {missing}; '
            'add e.g. "root.attributes_tasksStatus": "Task Statuses" (Alloy names the CSV after it)'
        )
    extra = sorted(set(design_names) - set(paths))
    if extra:
        raise ConfigurationError(
            f'{where} ({name}): "join_designs" names path(s) {extra} that no joinAttributes '
            "entry uses; remove them or fix the path"
        )
    joined = [clean_column_name(f"{design_names[p]}_{n}") for n, p in enumerate(paths, start=1)]
    tables = [name, *joined]
    if len(set(tables)) != len(tables):
        raise ConfigurationError(f"{where} ({name}): output table names collide: {tables}")

    renames = document.get("renames", {})
    if not isinstance(renames, dict):
        raise ConfigurationError(
            f'{where} ({name}): "renames" must look like {{"<table>": {{"old": "new"}}}}'
        )
    for table, mapping in renames.items():
        if table not in tables:
            raise ConfigurationError(
                f'{where} ({name}): "renames" refers to table {table!r}; this dataset\'s '
                f"tables are {tables}"
            )
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _COLUMN.match(v)
            for k, v in mapping.items()
        ):
            raise ConfigurationError(
                f'{where} ({name}): renames["{table}"] must map column names to lower-case '
                "snake_case names"
            )

    personal = parse_personal_tables(document.get("personal_data"), f"{where} ({name})")
    unknown = sorted(set(personal) - set(tables))
    if unknown:
        raise ConfigurationError(
            f'{where} ({name}): "personal_data" refers to table(s) {unknown}; this dataset\'s '
            f"tables are {tables}"
        )

    return AlloyDataset(
        name=name,
        mode=mode,
        query={"aqs": copy.deepcopy(aqs)},
        renames={t: dict(m) for t, m in renames.items()},
        root_design=root_design,
        joined_designs=joined,
        join_design_names={p: design_names[p] for p in paths},
        file_name=file_name,
        header_type=header_type,
        parameter_values=copy.deepcopy(parameter_values),
        source=source,
        personal_data={t: p for t, p in personal.items() if p},
    )


def load_datasets(folder: Path | str = DEFAULT_DATASETS_DIR) -> list[AlloyDataset]:
    """Read and validate every ``*.json`` in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigurationError(f"Alloy dataset folder not found: {folder}")
    datasets: list[AlloyDataset] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from exc
        dataset = parse_dataset(document, path)
        if dataset.name in seen:
            raise ConfigurationError(
                f"{path}: dataset {dataset.name!r} is already defined in {seen[dataset.name]}; "
                "give one of them another name"
            )
        seen[dataset.name] = path
        datasets.append(dataset)
    return sorted(datasets, key=lambda d: d.name)
