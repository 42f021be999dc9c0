"""Personal-data declarations in every source's shipped configuration: they load, they name
columns the data each source produces really has (the simulators' data, as the pipelines
write it), and a mistake fails the load naming the file, table and path."""

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from lbh_platform.alloy.datasets import DEFAULT_DATASETS_DIR, load_datasets, parse_dataset
from lbh_platform.alloy.transforms import apply_renames, clean_column_name
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.config import CONFIG_DIR
from lbh_platform.event_streams.spec import load_event_streams
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE, ColumnTypeCatalogue
from lbh_platform.tascomi.tables import load_table_list
from lbh_platform_devkit.alloy.simulator.data import DatasetData
from lbh_platform_devkit.tascomi.simulator.records import SyntheticData


def strings(names: list[str]) -> pa.Schema:
    return pa.schema([(n, pa.string()) for n in names])


# --------------------------------------------------------------------------- Tascomi


def test_tascomi_catalogue_declares_personal_columns_the_api_serves():
    catalogue = ColumnTypeCatalogue.load()
    declared = catalogue.personal_tables()
    assert {"contacts", "applications"} <= set(declared)
    applications = catalogue.personal("applications").columns
    assert {"applicant_name", "agent_name", "applicant_address"} <= set(applications)
    assert catalogue.personal("contacts").columns == ["name"]
    assert not catalogue.personal("action_types")  # a lookup table holds nobody
    # The reserved key is no typed column (the recast and the simulator never see it).
    assert all("personal_data" not in catalogue.columns(t) for t in catalogue.tables())

    tables = load_table_list().tables
    data = SyntheticData(list(tables), catalogue, seed=3, scale=0.05)
    for table in declared:
        served = data.table(table)
        record = served.render(1, 0, 1_640_000_000)
        # The parsed stage: every JSON key of a record becomes a column.
        catalogue.personal(table).check(strings(list(record)), f"tascomi {table}")
        # The raw stage holds each record's JSON in a column named after the table.
        raw = catalogue.personal(table, "api_response")
        assert raw.columns == [table] and raw.whole(table)


def test_tascomi_declaration_mistakes_name_file_and_table(tmp_path):
    bad = tmp_path / "types.yaml"
    shutil.copy(DEFAULT_CATALOGUE_FILE, bad)
    text = bad.read_text()
    bad.write_text(
        text.replace(
            "\ncontacts:\n  personal_data:\n    - name\n",
            "\ncontacts:\n  personal_data:\n    - name\n    - name\n",
            1,
        )
    )
    with pytest.raises(ConfigurationError, match=r"types.yaml: table contacts.*'name' twice"):
        ColumnTypeCatalogue.load(bad)
    bad.write_text(
        text.replace(
            "\ncontacts:\n  personal_data:\n    - name\n", "\ncontacts:\n  personal_data: name\n", 1
        )
    )
    with pytest.raises(ConfigurationError, match=r"table contacts: personal_data must be a list"):
        ColumnTypeCatalogue.load(bad)


# --------------------------------------------------------------------------- Alloy


def exported(dataset, when: datetime) -> dict[str, pa.Schema]:
    """Each output table's columns as the export publishes them (cleaned CSV headers)."""
    data = DatasetData(dataset, seed=1, scale=0.2, epoch=date(2021, 9, 1))
    return {
        table: strings([clean_column_name(h) for h in header])
        for table, (header, _) in data.tables(when, dataset.header_type).items()
    }


def test_alloy_datasets_declare_columns_their_exports_have():
    datasets = load_datasets()
    declaring = [d for d in datasets if d.personal_data]
    assert [d.name for d in declaring] == ["waste_service_defect"]
    for dataset in datasets:
        schemas = exported(dataset, datetime(2021, 9, 20, tzinfo=UTC))
        for table in dataset.personal_data:
            where = f"alloy {dataset.name} {table}"
            raw = schemas[table]
            dataset.personal(table, "api_response").check(raw, where)
            renamed = apply_renames(raw.empty_table(), dataset.renames.get(table, {})).schema
            dataset.personal(table).check(renamed, where)
    defects = declaring[0].personal("waste_service_defect").columns
    assert any("customername" in c for c in defects) and any("customeremail" in c for c in defects)


def test_alloy_declarations_follow_renames_back_to_the_export():
    document = json.loads((DEFAULT_DATASETS_DIR / "graffiti.json").read_text())
    document["personal_data"] = {"graffiti": ["status_id"], "teams_3": ["team_name"]}
    dataset = parse_dataset(document, Path("graffiti.json"))
    assert dataset.personal("graffiti").columns == ["status_id"]  # the snapshot's name
    assert dataset.personal("graffiti", "api_response").columns == ["status"]  # the export's
    assert not dataset.personal("task_statuses_2")
    document["personal_data"] = {"grafiti": ["status"]}
    with pytest.raises(ConfigurationError, match=r"refers to table\(s\) \['grafiti'\]"):
        parse_dataset(document, Path("graffiti.json"))
    document["personal_data"] = ["status"]
    with pytest.raises(ConfigurationError, match="must map each table"):
        parse_dataset(document, Path("graffiti.json"))


# --------------------------------------------------------------------------- event streams


def test_event_stream_entities_declare_fields_of_their_schema():
    streams = {s.name: s for s in load_event_streams()}
    tenure = streams["tenure"]
    assert [str(p) for p in tenure.personal_data.paths] == [
        "household_members[].full_name",
        "household_members[].date_of_birth",
    ]
    details = streams["contact_details"].personal_data
    assert "contact_information.value" in [str(p) for p in details.paths]
    for stream in streams.values():
        for stage in ("initial_state", "snapshot"):
            stream.personal(stage).check(stream.schema.arrow_schema, f"{stream.name} {stage}")
        events = stream.personal("events")
        events.check(stream.event_schema, f"{stream.name} events")
        assert events.whole("user_name") and events.whole("user_email")
        assert stream.personal("events_quarantine").whole("content")


def test_event_stream_declaration_outside_the_schema_fails_the_load(tmp_path):
    config = tmp_path / "event_streams.yaml"
    shutil.copytree(CONFIG_DIR / "event_streams", tmp_path / "event_streams")
    text = (CONFIG_DIR / "event_streams.yaml").read_text()
    config.write_text(text.replace("household_members[].date_of_birth", "household_members[].dob"))
    with pytest.raises(ConfigurationError, match=r"entity 'tenure'.*'household_members\[\]\.dob'"):
        load_event_streams(config)
