"""Alloy transforms (CSV cleaning, snapshots, renames) and dataset configuration loading."""

import json

import pyarrow as pa
import pytest

from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.alloy.transforms import (
    apply_renames,
    clean_column_name,
    csv_to_table,
    full_snapshot,
    upsert_snapshot,
)
from lbh_platform.common.errors import ConfigurationError, DataError


def strings(**columns):
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


# --------------------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Item ID", "item_id"),
        ("Area Cleared (m2)", "area_cleared_m2"),
        ("Root.Status.Task Statuses.Status", "root_status_task_statuses_status"),
        ("attributes_defectsStatus", "attributes_defectsstatus"),
        ("Description ", "description"),
        ("  Leading", "_leading"),
        ("IEG4 Form Reference!!", "ieg4_form_reference"),
    ],
)
def test_clean_column_name(raw, clean):
    assert clean_column_name(raw) == clean


def test_csv_to_table_nulls_strings_and_blank_rows():
    text = (
        "\ufeffItem ID,Area Cleared (m2),Raised Time,Notes\r\n"
        "a1,12,2023-01-02T10:00:00.000Z,nan\r\n"
        ",nan,NaT,\r\n"
        'a2,,NaT,"multi\nline, quoted"\r\n'
        "\r\n"
        "a3,007\r\n"
    )
    table = csv_to_table(text)
    assert table.column_names == ["item_id", "area_cleared_m2", "raised_time", "notes"]
    assert all(pa.types.is_string(t) for t in table.schema.types)
    assert table.to_pylist() == [
        {
            "item_id": "a1",
            "area_cleared_m2": "12",
            "raised_time": "2023-01-02T10:00:00.000Z",
            "notes": None,
        },
        {
            "item_id": "a2",
            "area_cleared_m2": None,
            "raised_time": None,
            "notes": "multi\nline, quoted",
        },
        {"item_id": "a3", "area_cleared_m2": "007", "raised_time": None, "notes": None},
    ]  # the all-null and empty lines are gone; "007" stays a string


def test_csv_to_table_duplicate_and_blank_headers():
    table = csv_to_table("Item ID,Description,Status,Description,\nx,a,b,c,d\n")
    assert table.column_names == ["item_id", "description1", "status", "description3", "column4"]
    assert csv_to_table("").num_columns == 0
    assert csv_to_table("Item ID,Title\n").num_rows == 0
    with pytest.raises(DataError, match="row 2 has 3 fields"):
        csv_to_table("a,b\n1,2,3\n")


# --------------------------------------------------------------------------- snapshots


def test_upsert_latest_import_wins():
    base = strings(item_id=["1", "2", "3"], title=["one", "two", "three"])
    day = strings(
        item_id=["2", "4", "2", None],
        title=["two (old import)", "four", "two (new import)", "orphan"],
        import_date=["20240101", "20240102", "20240102", "20240102"],
        status=["x", "y", "z", "w"],
    )
    merged, counts = upsert_snapshot(base, day)
    rows = {r["item_id"]: r for r in merged.to_pylist()}
    assert set(rows) == {"1", "2", "3", "4"}
    assert rows["2"]["title"] == "two (new import)"
    assert rows["1"] == {"item_id": "1", "title": "one", "import_date": None, "status": None}
    assert counts == {
        "base_rows": 3,
        "day_rows": 4,
        "replaced": 1,
        "inserted": 1,
        "rows_without_id": 1,
        "duplicate_ids": 0,
        "rows": 4,
    }


def test_upsert_first_import_and_empty_day():
    day = strings(item_id=["1"], title=["one"])
    merged, counts = upsert_snapshot(None, day)
    assert merged.to_pylist() == [{"item_id": "1", "title": "one"}]
    assert counts["inserted"] == 1 and counts["base_rows"] == 0
    again, counts = upsert_snapshot(merged, day.slice(0, 0))
    assert again.to_pylist() == merged.to_pylist() and counts["replaced"] == 0
    with pytest.raises(DataError, match="no id column 'item_id'"):
        upsert_snapshot(merged, strings(other=["x"]))


def test_upsert_joined_rows_replace_all_rows_of_a_root_item():
    base = strings(primary_item=["r1", "r1", "r2"], item_id=["t1", "t2", "t3"])
    day = strings(primary_item=["r1"], item_id=["t9"])
    merged, counts = upsert_snapshot(base, day, "primary_item", one_row_per_id=False)
    assert sorted(merged["item_id"].to_pylist()) == ["t3", "t9"]
    assert counts["replaced"] == 2 and counts["inserted"] == 0


def test_full_export_reports_deletions():
    base = strings(item_id=["1", "2", "3"], title=["one", "two", "three"])
    export = strings(item_id=["1", "3", "5", "5"], title=["one", "three!", "five", "five"])
    snapshot, deletions, counts = full_snapshot(base, export)
    assert sorted(snapshot["item_id"].to_pylist()) == ["1", "3", "5"]
    assert deletions == ["2"]
    assert counts["deleted"] == 1 and counts["inserted"] == 1 and counts["rows"] == 3
    first, none_deleted, _ = full_snapshot(None, export)
    assert first.num_rows == 3 and none_deleted == []


# --------------------------------------------------------------------------- renames


def test_renames_missing_keys_and_absent_columns_are_no_ops():
    table = strings(item_id=["t"], predecessor_item=["r"], status=["Open"])
    assert apply_renames(table, None) is table
    assert apply_renames(table, {}) is table
    renamed = apply_renames(
        table,
        {"item_id": "status_id", "predecessor_item": "item_id", "not_there": "whatever"},
    )
    assert renamed.column_names == ["status_id", "item_id", "status"]  # a swap works
    assert renamed.to_pylist() == [{"status_id": "t", "item_id": "r", "status": "Open"}]
    with pytest.raises(DataError, match=r"duplicate column\(s\) \['status'\]"):
        apply_renames(table, {"item_id": "status"})


# --------------------------------------------------------------------------- datasets


def test_shipped_datasets_load():
    datasets = {d.name: d for d in load_datasets()}
    assert {"fly_tip_jobs", "graffiti", "waste_service_defect"} <= set(datasets)
    fly = datasets["fly_tip_jobs"]
    assert fly.mode == "incremental" and fly.header_type == "Name"
    assert fly.root_design == "designs_dumpCollection_5d774e80fe2ad80a285bae48"
    assert fly.joined_designs == [
        "task_statuses_1",
        "teams_2",
        "load_quantity_3",
        "waste_type_dump_4",
        "land_type_5",
    ]
    assert set(fly.query) == {"aqs"} and fly.file_name == "Dump Collection.csv"
    wsd = datasets["waste_service_defect"]
    assert wsd.mode == "full" and wsd.header_type == "Code"
    assert wsd.joined_designs[4] == "dw_service_type_5"  # nested join numbered in order
    for dataset in datasets.values():
        assert set(dataset.renames) <= set(dataset.tables)


def write(folder, name, document):
    path = folder / f"{name}.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def valid(name="graffiti"):
    return {
        "name": name,
        "mode": "full",
        "aqs": {
            "type": "Join",
            "properties": {
                "dodiCode": "designs_graffiti_5d76650afe2ad80cdc58a241",
                "attributes": ["attributes_itemsTitle", "attributes_tasksStatus"],
                "joinAttributes": ["root.attributes_tasksStatus.attributes_taskStatusesStatus"],
            },
            "children": [],
        },
        "join_designs": {"root.attributes_tasksStatus": "Task Statuses"},
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"name": "graffiti", ', r"broken\.json is not valid JSON \(line 1"),
        ({k: v for k, v in valid().items() if k != "name"}, r'missing "name"; add "name"'),
        (valid() | {"mode": "daily"}, r'"mode" must be "incremental" or "full"'),
        (valid("../etc"), r"name '\.\./etc' is unsafe"),
        (valid("Graffiti Jobs"), "is unsafe; use lower-case"),
        (valid() | {"join_designs": {}}, r"no design name for join path\(s\)"),
        (valid() | {"renames": {"teams_2": {"a": "b"}}}, r"refers to table 'teams_2'"),
        (valid() | {"renames": {"graffiti": {"a": "B C"}}}, "lower-case snake_case"),
        (valid() | {"fileName": "../x.csv"}, "plain file name ending in .csv"),
        (valid() | {"exportHeaderType": "Label"}, '"Name" or "Code"'),
        (valid() | {"cadence": "daily"}, r"unknown field\(s\) \['cadence'\]"),
    ],
)
def test_dataset_validation_names_file_and_fix(tmp_path, document, message):
    path = write(tmp_path, "broken", document)
    with pytest.raises(ConfigurationError, match=message) as error:
        load_datasets(tmp_path)
    assert str(path) in str(error.value)


def test_duplicate_dataset_names(tmp_path):
    write(tmp_path, "a", valid("graffiti"))
    write(tmp_path, "b", valid("graffiti"))
    with pytest.raises(ConfigurationError, match=r"'graffiti' is already defined in .*a\.json"):
        load_datasets(tmp_path)
    with pytest.raises(ConfigurationError, match="folder not found"):
        load_datasets(tmp_path / "missing")
