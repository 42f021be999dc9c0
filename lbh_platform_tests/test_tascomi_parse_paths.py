"""The fast parse (one pass of Arrow's JSON reader over many blocks) and the fast recast
give exactly what the reference implementations give: speed never changes a value."""

import json
import random
from datetime import date, datetime

import pyarrow as pa
import pytest

from lbh_platform.common import json_columns
from lbh_platform.common import recast as recasting
from lbh_platform.common.json_columns import parse_responses
from lbh_platform.common.recast import recast
from lbh_platform.tascomi.client import Page
from lbh_platform.tascomi.transforms import raw_response_table


def record(i: int) -> dict:
    r: dict = {"id": str(i), "last_updated": f"2024-01-0{1 + i % 8} 10:00:0{i % 10}"}
    r.update({f"w{k}": f"{'é' * (k % 3)}v{i}-{k}" if (i + k) % 4 else None for k in range(30)})
    if i > 600 and i % 3 == 0:  # keys first seen far past the schema sample
        r["late_timestamp_like"] = "2024-01-01 00:00:00"
    if i > 700 and i % 5 == 0:
        r["late_number"] = i
    if i % 11 == 0:
        r["nested"] = {"a": [1, "é", None], "b": {"c": i}}
    if i % 13 == 0:
        r.update(flag=bool(i % 2), count=i, none=None)
    return r


def reference(raw: pa.Table) -> dict[str, list]:
    """Per record ``json.loads`` (the module's reference path), first occurrences only."""
    texts = list(dict.fromkeys(raw["things"].to_pylist()))
    return {k: v.to_pylist() for k, v in json_columns._python_string_columns(texts).items()}


@pytest.fixture()
def small_blocks(monkeypatch):
    # ~40 records per JSON block and a 2-record schema sample: many blocks, late keys.
    monkeypatch.setattr(json_columns, "JSON_BLOCK_BYTES", 40_000)
    monkeypatch.setattr(json_columns, "SCHEMA_SAMPLE_BYTES", 1_000)


def test_fast_parse_over_many_blocks_equals_the_reference(small_blocks):
    records = [record(i) for i in range(1200)]
    records += [records[3], records[900]]  # repeated byte for byte
    pages = [Page(1, "u1", 200, records[:700]), Page(2, "u2", 200, records[700:])]
    raw, _ = raw_response_table("things", pages, date(2024, 3, 1), datetime(2024, 3, 1, 3))
    result = parse_responses(raw, "things")
    assert result.exact_duplicates_dropped == 2
    expected = reference(raw)
    got = result.table
    assert got.column_names[: len(expected)] == list(expected)  # first-seen key order
    for name, values in expected.items():
        assert got.schema.field(name).type == pa.string(), name
        assert got[name].to_pylist() == values, name
    assert got["late_timestamp_like"].to_pylist()[603] == "2024-01-01 00:00:00"
    assert got["nested"].to_pylist()[0] == json.dumps(records[0]["nested"], separators=(",", ":"))


def test_a_key_changing_json_type_falls_back_to_the_reference(small_blocks):
    records = [{"id": str(i), "v": i if i % 2 else str(i)} for i in range(200)]
    raw, _ = raw_response_table("things", [Page(1, "u", 200, records)], date(2024, 3, 1))
    assert parse_responses(raw, "things").table["v"].to_pylist() == [str(i) for i in range(200)]


def test_parallel_recast_equals_one_column_at_a_time(monkeypatch):
    rnd = random.Random(7)
    pieces = ["", " 7 ", "+3", "-2147483649", "9223372036854775808", "1.5", "1e3", "x", "t",
              "NO", "2024-02-29", "2023-02-29 10:00:00", "2024-01-02T03:04:05.5", "0000-00-00",
              None]  # fmt: skip
    kinds = ["integer", "long", "float", "boolean", "timestamp", "date"]
    table = pa.table(
        {f"c{i}": pa.array([rnd.choice(pieces) for _ in range(3000)]) for i in range(24)}
    )
    types = {f"c{i}": kinds[i % len(kinds)] for i in range(24)}
    monkeypatch.setattr(recasting, "PARALLEL_RECAST_VALUES", 0)
    parallel = recast(table, types)
    monkeypatch.setattr(recasting, "PARALLEL_RECAST_VALUES", 10**12)
    serial = recast(table, types)
    assert parallel.cast_failures == serial.cast_failures and parallel.cast_failures
    assert parallel.table.equals(serial.table)


def uniform_record(i: int) -> dict:
    """Every key in every record, as the Tascomi API serves them (numbers, flags and nested
    values too, so the inferred columns are read by the runs as well)."""
    r: dict = {"id": str(i), "last_updated": f"2024-01-0{1 + i % 8} 10:00:0{i % 10}"}
    r.update({f"w{k}": f"{'é' * (k % 3)}v{i}-{k}" if (i + k) % 4 else None for k in range(30)})
    r.update(count=i, ratio=i / 8, flag=bool(i % 2), nested={"a": [i, i + 1], "b": "é"}, blank="")
    return r


def parsed_both_ways(raw: pa.Table, monkeypatch) -> tuple[pa.Table, pa.Table]:
    """``parse_responses`` as is, and with the back-to-back runs turned off (the texts
    joined into JSON lines first, the earlier path)."""
    fast = parse_responses(raw, "things").table
    with monkeypatch.context() as patch:
        patch.setattr(json_columns, "_arrow_parse_runs", lambda texts: None)
        joined = parse_responses(raw, "things").table
    return fast, joined


def test_runs_of_back_to_back_records_equal_the_joined_lines(small_blocks, monkeypatch):
    records = [uniform_record(i) for i in range(1200)]
    records += [records[5]]  # repeated byte for byte
    raw, _ = raw_response_table("things", [Page(1, "u", 200, records)], date(2024, 3, 1))
    texts = raw["things"].combine_chunks()
    assert len(json_columns._record_runs(texts)) > 10  # many runs, read in parallel
    assert json_columns._arrow_parse_runs(texts) is not None  # the runs path is taken
    fast, joined = parsed_both_ways(raw, monkeypatch)
    assert fast.equals(joined)
    assert fast.column_names == joined.column_names
    expected = reference(raw)
    for name, values in expected.items():
        assert fast[name].to_pylist() == values, name


def test_runs_decline_keys_seen_late_or_changing_type(small_blocks):
    late = [record(i) for i in range(1200)]  # keys first seen past the first runs
    changing = [{"id": str(i), "v": i if i % 2 else str(i)} for i in range(200)]
    for records in (late, changing):
        raw, _ = raw_response_table("things", [Page(1, "u", 200, records)], date(2024, 3, 1))
        assert json_columns._arrow_parse_runs(raw["things"].combine_chunks()) is None


@pytest.mark.parametrize(
    "texts",
    [
        [' {"a":"1"}', '{"a":"2"}'],  # not starting with "{"
        ['{"a":"1"}{"a":"3"}', '{"a":"2"}'],  # two objects in one text
        ['{"a":"1"}', "{}", '{"a":"2"}\n'],
        ['{"a":"1"}', '{"a":}'],  # not JSON
    ],
)
def test_texts_other_than_one_object_each_parse_as_before(texts, monkeypatch):
    raw = pa.table(
        {"things": pa.array(texts), "import_api_status_code": pa.array([200] * len(texts))}
    )
    outcomes = []
    for runs in (json_columns._arrow_parse_runs, lambda texts: None):
        with monkeypatch.context() as patch:
            patch.setattr(json_columns, "_arrow_parse_runs", runs)
            try:
                outcomes.append(parse_responses(raw, "things").table.to_pydict())
            except ValueError as error:  # json.loads of the reference path
                outcomes.append(repr(error))
    assert outcomes[0] == outcomes[1]
