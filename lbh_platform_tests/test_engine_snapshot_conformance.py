"""The snapshot stage on both engines: the Arrow engine's streamed apply-and-write and the
Spark engine's publish the same rows, types and counts, day after day, and each engine's
snapshot is the base of the other's next day."""

import json
from datetime import date, datetime

import pyarrow as pa
import pytest

from lbh_platform.engines import arrow_snapshot
from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table

pytestmark = pytest.mark.spark


def increment(day: int, ids: list[int | None], extra: str | None = None) -> pa.Table:
    n = len(ids)
    columns = {
        "id": pa.array(ids, pa.int32()),
        "last_updated": pa.array(
            [None if i % 7 == 0 else datetime(2024, 1, day, 10, i % 3) for i in range(n)],
            pa.timestamp("us"),
        ),
        "value": pa.array([f"d{day}-{i}" for i in range(n)]),
        "page_number": pa.array([1 + i % 2 for i in range(n)], pa.int32()),
    }
    if extra:
        columns[extra] = pa.array([f"{extra}-{i}" for i in range(n)])
    return pa.table(columns)


def rows_of(table: pa.Table) -> tuple[list, list]:
    schema = sorted((f.name, str(f.type)) for f in table.schema)
    body = sorted(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())
    return schema, body


@pytest.fixture(scope="module")
def spark_engine():
    from lbh_platform.engines.spark_engine import SparkEngine
    from lbh_platform.engines.spark_session import local_spark_session

    return SparkEngine(local_spark_session())


DAYS = {
    2: [1, 2, 3, 4, 5, 6, None],
    3: [2, 2, 9, 10, 1500],  # a repeated id, new ids
    4: [3, 1500, 1501],
}


def run(engines, lake: Lake) -> list[tuple]:
    """Day 1 is a 2,000-row first snapshot; then each day on the engine given for it."""
    increments = tascomi_table(lake, "increment", "things")
    snapshots = tascomi_table(lake, "snapshot", "things")
    increments.write("20240101", increment(1, list(range(1, 2001))))
    counts = []
    for day, engine in zip([1, *DAYS], engines, strict=True):
        value = date(2024, 1, day).strftime("%Y%m%d")
        if day in DAYS:
            increments.write(value, increment(day, DAYS[day], "late" if day == 3 else None))
        earlier = [p for p in snapshots.partitions() if p < value]
        result = engine.write_snapshot(
            snapshots, earlier[-1] if earlier else None, engine.read(increments, [value]), "id",
            value,
        )  # fmt: skip
        counts.append(
            (
                result.written.rows,
                result.base_rows,
                result.increment_rows,
                result.replaced_rows,
                result.inserted_rows,
                result.rows_without_id,
            )
        )
    return counts


def test_streamed_and_spark_snapshots_are_identical(spark_engine, tmp_path, monkeypatch):
    monkeypatch.setattr(arrow_snapshot, "BATCH_VALUES", 1)  # several batches
    arrow, spark = ArrowEngine(), spark_engine
    lakes = {k: Lake({"refined": str(tmp_path / k)}) for k in ("arrow", "spark", "mixed")}
    counts = {
        "arrow": run([arrow] * 4, lakes["arrow"]),
        "spark": run([spark] * 4, lakes["spark"]),
        "mixed": run([arrow, spark, arrow, spark], lakes["mixed"]),
    }
    assert counts["arrow"] == counts["spark"] == counts["mixed"]
    assert counts["arrow"][1][3:] == (6, 0, 1)  # replaced, inserted, without id
    for value in ("20240102", "20240103", "20240104"):
        tables = {
            k: tascomi_table(lake, "snapshot", "things").read(value) for k, lake in lakes.items()
        }
        assert rows_of(tables["arrow"]) == rows_of(tables["spark"]) == rows_of(tables["mixed"])
