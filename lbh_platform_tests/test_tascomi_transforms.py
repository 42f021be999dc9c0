"""Parse, recast, dedupe and upsert on the single-machine engine."""

import json
from datetime import date, datetime

import pyarrow as pa
import pytest

from lbh_platform.common.json_columns import parse_responses
from lbh_platform.common.recast import recast
from lbh_platform.common.rows import apply_increment, dedupe_latest
from lbh_platform.tascomi.client import Page
from lbh_platform.tascomi.transforms import raw_response_table


def raw(records, resource="things", day=date(2024, 3, 10), status=200):
    table, _ = raw_response_table(
        resource, [Page(1, "http://api/things?page=1", status, records)], day
    )
    return table


def test_raw_rows_hold_json_and_import_columns_and_hold_back_later_days():
    records = [
        {"id": "1", "last_updated": "2024-03-09 23:59:59"},
        {"id": "2", "last_updated": "2024-03-10 00:00:01"},  # the import day so far: kept
        {"id": "3", "last_updated": "2024-03-11 09:00:00"},  # only a re-run of a past day
    ]
    table, held_back = raw_response_table(
        "things", [Page(3, "u", 200, records)], date(2024, 3, 10), datetime(2024, 3, 10, 3)
    )
    assert held_back == 1
    assert [json.loads(t)["id"] for t in table["things"].to_pylist()] == ["1", "2"]
    row = table.to_pylist()[0]
    assert json.loads(row["things"]) == {"id": "1", "last_updated": "2024-03-09 23:59:59"}
    assert row["page_number"] == 3
    assert (row["import_year"], row["import_month"], row["import_day"], row["import_date"]) == (
        "2024",
        "03",
        "10",
        "20240310",
    )
    assert row["import_api_status_code"] == 200


def test_parse_makes_every_key_a_string_column_nested_as_json_text():
    table = parse_responses(
        raw(
            [
                {
                    "id": 7,
                    "name": "a",
                    "flag": True,
                    "size": 1.5,
                    "tags": ["x", "y"],
                    "last_updated": "2024-03-01 10:00:00",
                },
                {"id": "8", "other": None, "extra": {"k": 1}},
            ]
        ),
        "things",
    ).table
    rows = table.to_pylist()
    assert rows[0]["id"] == "7" and rows[1]["id"] == "8"
    assert rows[0]["flag"] == "true" and rows[0]["size"] == "1.5"
    assert rows[0]["tags"] == '["x","y"]'
    assert rows[0]["last_updated"] == "2024-03-01 10:00:00"
    assert rows[1]["extra"] == '{"k":1}' and rows[0]["extra"] is None
    for name in ("id", "name", "flag", "size", "tags", "other", "extra", "last_updated"):
        assert table.schema.field(name).type == pa.string(), name
    assert "import_date" in table.column_names and "things" not in table.column_names


def test_parse_keeps_only_status_200_and_collapses_exact_duplicates():
    records = [{"id": "1", "v": "a"}, {"id": "1", "v": "a"}, {"id": "1", "v": "b"}]
    ok = raw(records)
    failed = raw([{"id": "9"}], status=500)
    result = parse_responses(pa.concat_tables([ok, failed]), "things")
    assert result.non_200_rows == 1
    assert result.exact_duplicates_dropped == 1
    assert sorted(result.table["v"].to_pylist()) == ["a", "b"]  # conflicting rows kept


def test_parse_of_an_empty_day_is_an_empty_table():
    result = parse_responses(raw([]), "things")
    assert result.table.num_rows == 0
    assert "import_date" in result.table.column_names


def strings(**columns):
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def test_recast_types_and_counts_every_bad_value():
    table = strings(
        i=["1", " 2 ", "x", None, "99999999999"],
        l=["99999999999", "-3", "1.5", "", None],
        f=["1.5", "2", "1e3", "abc", None],
        b=["t", "F", "yes", "maybe", "0"],
        ts=[
            "2024-01-02 03:04:05",
            "0000-00-00 00:00:00",
            "2024-13-01 00:00:00",
            "2024-01-02",
            None,
        ],
        d=["2024-01-02", "2024-01-02 10:00:00", "nope", None, ""],
        s=["keep", "as", "string", None, "x"],
    )
    result = recast(
        table,
        {
            "i": "integer",
            "l": "long",
            "f": "float",
            "b": "boolean",
            "ts": "timestamp",
            "d": "date",
            "gone": "integer",
        },
    )
    out = result.table
    assert out["i"].to_pylist() == [1, 2, None, None, None]
    assert out.schema.field("i").type == pa.int32()
    assert out["l"].to_pylist() == [99999999999, -3, None, None, None]
    assert out["f"].to_pylist() == [1.5, 2.0, 1000.0, None, None]
    assert out.schema.field("f").type == pa.float64()
    assert out["b"].to_pylist() == [True, False, True, None, False]
    assert out["ts"].to_pylist() == [
        datetime(2024, 1, 2, 3, 4, 5),
        None,
        None,
        datetime(2024, 1, 2),
        None,
    ]
    assert out["d"].to_pylist() == [date(2024, 1, 2), date(2024, 1, 2), None, None, None]
    assert out["s"].to_pylist() == ["keep", "as", "string", None, "x"]
    assert result.cast_failures == {"i": 2, "l": 1, "f": 1, "b": 1, "ts": 1, "d": 1}
    assert result.total_cast_failures == 7
    assert result.missing_columns == ["gone"]


def test_recast_with_no_rows_reports_no_missing_columns():
    assert recast(strings(a=[]), {"b": "integer"}).missing_columns == []


def inc(ids, updated, import_date, value):
    n = len(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int32()),
            "last_updated": pa.array(updated, pa.timestamp("us")),
            "value": pa.array(value, pa.string()),
            "import_date": pa.array([import_date] * n, pa.string()),
        }
    )


def test_dedupe_keeps_latest_update_with_ties_to_newest_import_and_null_oldest():
    t1, t2 = datetime(2024, 1, 1), datetime(2024, 1, 2)
    increments = pa.concat_tables(
        [
            inc([1, 2, 3, None], [t2, t1, None, t1], "20240102", ["1-new", "2-old", "3-null", "x"]),
            inc([1, 2, 3], [t1, t1, t1], "20240103", ["1-old", "2-tie-newer", "3-dated"]),
        ]
    )
    latest, without_id = dedupe_latest(increments, "id")
    assert without_id == 1
    assert dict(zip(latest["id"].to_pylist(), latest["value"].to_pylist(), strict=True)) == {
        1: "1-new",
        2: "2-tie-newer",
        3: "3-dated",
    }


def test_apply_increment_replaces_by_id_and_adds_new_and_new_columns():
    base = inc([1, 2], [datetime(2024, 1, 1)] * 2, "20240101", ["a", "b"])
    base = apply_increment(None, base, "id", date(2024, 1, 1)).table
    increment = inc([2, 3], [datetime(2024, 1, 2)] * 2, "20240102", ["b2", "c"]).append_column(
        "new_col", pa.array(["n", "n"])
    )
    result = apply_increment(base, increment, "id", date(2024, 1, 2))
    rows = {r["id"]: r for r in result.table.to_pylist()}
    assert {k: v["value"] for k, v in rows.items()} == {1: "a", 2: "b2", 3: "c"}
    assert rows[1]["new_col"] is None and rows[3]["new_col"] == "n"
    assert {r["snapshot_date"] for r in rows.values()} == {"20240102"}
    assert (result.replaced_rows, result.inserted_rows, result.base_rows) == (1, 1, 2)


def test_apply_increment_is_idempotent():
    base = apply_increment(
        None, inc([1], [datetime(2024, 1, 1)], "1", ["a"]), "id", date(2024, 1, 1)
    ).table
    increment = inc([1, 2], [datetime(2024, 1, 2)] * 2, "2", ["a2", "b"])
    once = apply_increment(base, increment, "id", date(2024, 1, 2)).table
    twice = apply_increment(once, increment, "id", date(2024, 1, 2)).table
    assert sorted(once.to_pylist(), key=str) == sorted(twice.to_pylist(), key=str)


def test_apply_increment_with_incompatible_id_types_is_a_clear_error():
    base = apply_increment(None, inc([1], [None], "1", ["a"]), "id", date(2024, 1, 1)).table
    bad = strings(id=["not-a-number"], import_date=["2"])
    with pytest.raises(ValueError, match="id column 'id'"):
        apply_increment(base, bad, "id", date(2024, 1, 2))
