"""The fast parse (one pass of Arrow's JSON reader over many blocks) and the fast recast
give exactly what the reference implementations give: speed never changes a value."""

import json
import random
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa
import pytest

from lbh_platform.common import json_columns
from lbh_platform.common import recast as recasting
from lbh_platform.common.json_columns import parse_responses
from lbh_platform.common.recast import recast
from lbh_platform.tascomi.transforms import raw_response_table


@dataclass
class Page:
    number: int
    url: str
    status: int
    records: list


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
