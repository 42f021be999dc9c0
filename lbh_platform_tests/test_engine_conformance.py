"""Conformance: every transform on both engines over the same fixtures gives identical
results (same rows, same types, same counts of cast failures), through the shared layout."""

import json
from datetime import date

import pyarrow as pa
import pytest

from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.client import Page
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.transforms import raw_response_table

pytestmark = pytest.mark.spark

TYPES = {
    "id": "integer",
    "last_updated": "timestamp",
    "n_int": "integer",
    "n_long": "long",
    "n_float": "float",
    "n_double": "double",
    "flag": "boolean",
    "when": "timestamp",
    "day": "date",
    "absent_typed": "integer",
}
BAD = {
    "n_int": ["x", "1.5", "99999999999", " 7 ", "+3", "", None],
    "n_long": ["12345678901", "-2", "1e3", "abc", "", None, "99999999999999999999"],
    "n_float": ["1.5", "2", "1e3", ".5", "nan", "1,5", None],
    "n_double": ["-0.25", "3.", "E5", "", "  4.0  ", None, "1e-3"],
    "flag": ["t", "F", "yes", "NO", "maybe", "1", None],
    "when": [
        "2024-01-02 03:04:05",
        "0000-00-00 00:00:00",
        "2024-13-01 00:00:00",
        "2024-01-02",
        "2024-01-02T10:11:12.5",
        "2024-02-30 00:00:00",
        "soon",
    ],
    "day": ["2024-01-02", "2024-01-02 10:00:00", "nope", "0000-00-00", "2024-1-2", None, ""],
}


def records(day: int, count: int, extra_column: str | None = None) -> list[dict]:
    out = []
    for i in range(count):
        record = {
            "id": str(i % 5 + day),  # repeated ids across days
            "last_updated": f"2024-01-0{day} 10:00:0{i % 2}" if i % 4 else None,  # ties, nulls
            "name": f"r{i}",
            "nested": {"a": i, "b": [1, 2]} if i % 3 == 0 else None,
        }
        for column, values in BAD.items():
            record[column] = values[i % len(values)]
        for w in range(40):  # a wide record
            record[f"wide_{w}"] = f"v{i}-{w}" if (i + w) % 5 else None
        if extra_column:
            record[extra_column] = f"new-{i}"
        out.append(record)
    return out


def raw_for(day: int, extra_column: str | None = None) -> pa.Table:
    items = records(day, 14, extra_column)
    pages = [
        Page(1, "u1", 200, items[:7]),
        Page(2, "u2", 200, items[7:] + items[:1]),
        Page(3, "u3", 500, [{"id": "999"}]),
    ]
    table, _ = raw_response_table("things", pages, date(2024, 1, day + 1))
    return table


def normalise(table: pa.Table) -> tuple[list, list]:
    names = sorted(table.column_names)
    table = table.select(names)
    skip = {"import_datetime", "import_timestamp"}
    schema = [(f.name, str(f.type)) for f in table.schema]
    rows = sorted(
        json.dumps({k: v for k, v in r.items() if k not in skip}, default=str, sort_keys=True)
        for r in table.to_pylist()
    )
    return schema, rows


@pytest.fixture(scope="module")
def spark_engine():
    from lbh_platform.engines.spark_engine import SparkEngine
    from lbh_platform.engines.spark_session import local_spark_session

    spark = local_spark_session()
    yield SparkEngine(spark)


@pytest.fixture()
def lakes(tmp_path):
    return {
        name: Lake({"raw": str(tmp_path / name / "raw"), "refined": str(tmp_path / name / "ref")})
        for name in ("pandas", "spark")
    }


def run_all(engine, lake: Lake, days: list[int]) -> dict[str, dict]:
    """Drive parse, recast and snapshot for several days through ``engine``."""
    results: dict[str, dict] = {}
    for day in days:
        value = f"202401{day + 1:02d}"
        raw = tascomi_table(lake, "api_response", "things")
        raw.write(value, raw_for(day, extra_column="late_column" if day == 2 else None))
        parsed = engine.parse(engine.read(raw, [value]), "things")
        engine.write(tascomi_table(lake, "parsed", "things"), value, parsed.frame)
        recast = engine.recast(engine.read(tascomi_table(lake, "parsed", "things"), [value]), TYPES)
        engine.write(tascomi_table(lake, "increment", "things"), value, recast.frame)
        snapshots = tascomi_table(lake, "snapshot", "things")
        earlier = [p for p in snapshots.partitions() if p < value]
        base = engine.read(snapshots, earlier[-1:]) if earlier else None
        snap = engine.apply_increment(
            base, engine.read(tascomi_table(lake, "increment", "things"), [value]), "id", value
        )
        engine.write(snapshots, value, snap.frame)
        results[value] = {
            "parse": (parsed.rows_in, parsed.non_200_rows, parsed.exact_duplicates_dropped),
            "cast_failures": recast.cast_failures,
            "missing": recast.missing_columns,
            "snapshot": (
                snap.base_rows,
                snap.increment_rows,
                snap.replaced_rows,
                snap.inserted_rows,
                snap.rows_without_id,
            ),
        }
    return results


def test_both_engines_give_identical_results(spark_engine, lakes):
    days = [1, 2, 3]
    counts = {
        "pandas": run_all(ArrowEngine(), lakes["pandas"], days),
        "spark": run_all(spark_engine, lakes["spark"], days),
    }
    assert counts["pandas"] == counts["spark"]
    failures = counts["pandas"]["20240102"]["cast_failures"]
    assert set(failures) == {"n_int", "n_long", "n_float", "n_double", "flag", "when", "day"}
    assert counts["pandas"]["20240102"]["missing"] == ["absent_typed"]
    for stage in ("parsed", "increment", "snapshot"):
        for value in ("20240102", "20240103", "20240104"):
            left = tascomi_table(lakes["pandas"], stage, "things").read(value)
            right = tascomi_table(lakes["spark"], stage, "things").read(value)
            assert normalise(left) == normalise(right), (stage, value)


def test_a_snapshot_written_by_one_engine_is_the_base_for_the_other(spark_engine, lakes):
    lake = lakes["pandas"]
    run_all(ArrowEngine(), lake, [1])
    run_all(spark_engine, lake, [2])
    run_all(ArrowEngine(), lake, [3])
    mixed = tascomi_table(lake, "snapshot", "things").read("20240104")
    only = lakes["spark"]
    run_all(ArrowEngine(), only, [1, 2, 3])
    assert normalise(mixed) == normalise(tascomi_table(only, "snapshot", "things").read("20240104"))
