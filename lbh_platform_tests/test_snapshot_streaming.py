"""The Arrow engine's streamed snapshot (previous snapshot read and written batch by batch)
publishes exactly what the in-memory apply followed by a write publishes: same rows in the
same order, same schema, same counts; and it publishes atomically."""

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from lbh_platform.common.errors import DataError
from lbh_platform.engines import arrow_snapshot
from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.storage import parquet_encoding
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable
from lbh_platform.tascomi.locations import tascomi_table

BASE, DAY = "20240101", "20240102"


def increment(ids, value, **extra) -> pa.Table:
    n = len(ids)
    columns = {
        "id": pa.array(ids, pa.int32()),
        "last_updated": pa.array([datetime(2024, 1, 1, 10, i % 60) for i in range(n)]),
        "value": pa.array([f"{value}{i}" for i in ids], pa.string()),
        "import_date": pa.array([DAY] * n),
    }
    columns.update(extra)
    return pa.table(columns)


@pytest.fixture()
def tables(tmp_path) -> dict[str, PartitionedTable]:
    lakes = {k: Lake({"refined": str(tmp_path / k)}) for k in ("streamed", "in_memory")}
    return {k: tascomi_table(lake, "snapshot", "things") for k, lake in lakes.items()}


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(arrow_snapshot, "BATCH_VALUES", 1)  # 1,000-row batches
    monkeypatch.setattr(arrow_snapshot, "MIN_BATCH_ROWS", 1000)


def both(tables, base: pa.Table | None, increments: pa.Table):
    """Publish the base in both tables, then the day: streamed, and in memory + write."""
    engine = ArrowEngine()
    for target in tables.values():
        if base is not None:
            target.write(BASE, base)
    streamed = engine.write_snapshot(
        tables["streamed"], BASE if base is not None else None, increments, "id", DAY
    )
    previous = engine.read(tables["in_memory"], [BASE]) if base is not None else None
    applied = engine.apply_increment(previous, increments, "id", DAY)
    written = engine.write(tables["in_memory"], DAY, applied.frame)
    counts = (
        applied.base_rows,
        applied.increment_rows,
        applied.replaced_rows,
        applied.inserted_rows,
        applied.rows_without_id,
    )
    got = (
        streamed.base_rows,
        streamed.increment_rows,
        streamed.replaced_rows,
        streamed.inserted_rows,
        streamed.rows_without_id,
    )
    assert got == counts
    assert streamed.written.rows == written.rows
    left, right = tables["streamed"].read(DAY), tables["in_memory"].read(DAY)
    assert left.schema == right.schema
    assert left.to_pylist() == right.to_pylist()  # order too
    return streamed


def snapshot_of(n: int, **extra) -> pa.Table:
    base = increment(list(range(1, n + 1)), "old-", **extra)
    return ArrowEngine().apply_increment(None, base, "id", BASE).frame


def test_streamed_equals_in_memory_over_many_batches(tables):
    # Replaced rows at batch edges and side by side, new ids, a repeat, a row without id.
    ids = [1, 5, 6, 700, 1000, 1001, 1500, 2999, 3000, 4000, 4001, 1500, None]
    streamed = both(tables, snapshot_of(3000), increment(ids, "new-"))
    assert (streamed.replaced_rows, streamed.inserted_rows, streamed.rows_without_id) == (9, 2, 1)


@pytest.mark.parametrize("sliced_up_to", [0, 10_000], ids=["filtered", "sliced"])
def test_many_replaced_rows_in_a_batch_filtered_or_sliced_alike(tables, monkeypatch, sliced_up_to):
    # Hundreds of rows replaced in each 1,000-row batch (runs, neighbours, batch edges).
    monkeypatch.setattr(arrow_snapshot, "MAX_SLICED_DROPS", sliced_up_to)
    ids = [i for i in range(1, 3001) if i % 3 == 0 or 990 <= i <= 1010] + [5000, None]
    streamed = both(tables, snapshot_of(3000), increment(ids, "new-"))
    assert streamed.replaced_rows == len(ids) - 2
    assert (streamed.inserted_rows, streamed.rows_without_id) == (1, 1)


def test_mostly_distinct_columns_are_written_without_a_dictionary(tables, monkeypatch):
    # Every row group starts a new dictionary: a column of distinct values gains nothing from
    # one, a column of a few repeated values does. Rows stay exactly as in memory.
    monkeypatch.setattr(parquet_encoding, "MIN_SAMPLE_ROWS", 100)
    status = pa.array([("open", "closed", None)[i % 3] for i in range(3000)])
    both(tables, snapshot_of(3000, status=status), increment([7, 3001], "new-", status=status[:2]))
    with tables["streamed"].open_parquet(DAY) as parquet:
        assert parquet.metadata.num_row_groups == 3
        groups = [parquet.metadata.row_group(i) for i in range(3)]
        names = parquet.schema_arrow.names
        dictionary = {
            name: [g.column(names.index(name)).has_dictionary_page for g in groups]
            for name in ("id", "value", "status", "snapshot_year")
        }
    assert dictionary == {
        "id": [False] * 3,
        "value": [False] * 3,
        "status": [True] * 3,
        "snapshot_year": [True] * 3,
    }


def test_too_few_rows_to_judge_keep_every_dictionary():
    few = pa.table({"id": list(range(100)), "status": ["open"] * 100})
    assert parquet_encoding.plain_columns(few) == set()
    many = pa.table({"id": list(range(2000)), "status": ["open", "closed"] * 1000})
    assert parquet_encoding.plain_columns(many) == {"id"}
    assert parquet_encoding.dictionary_columns(many.schema, many) == ["status"]
    assert parquet_encoding.dictionary_columns(many.schema, None) == ["id", "status"]


def test_columns_arrow_cannot_count_keep_their_dictionary(tables, monkeypatch):
    # Null, nested and dictionary-encoded columns have no distinct count in Arrow: they keep
    # the writer's default (a schema with nested columns keeps it for every column).
    monkeypatch.setattr(parquet_encoding, "MIN_SAMPLE_ROWS", 100)
    n = 3000
    odd = {
        "nothing": pa.nulls(n),
        "listed": pa.array([[i] for i in range(n)]),
        "nested": pa.array([{"a": i} for i in range(n)]),
        "coded": pa.array([str(i) for i in range(n)]).dictionary_encode(),
    }
    assert parquet_encoding.plain_columns(pa.table(odd)) == set()
    flat = pa.table({"id": list(range(2000)), "nothing": pa.nulls(2000)})
    assert parquet_encoding.dictionary_columns(flat.schema, flat) == ["nothing"]
    assert parquet_encoding.dictionary_columns(pa.table(odd).schema, pa.table(odd)) is True
    streamed = both(tables, snapshot_of(n, **odd), increment([5, 3001], "new-"))
    assert (streamed.replaced_rows, streamed.inserted_rows) == (1, 1)


def test_new_columns_and_promoted_types_unify_as_in_memory(tables):
    base = snapshot_of(2500, maybe=pa.nulls(2500), narrow=pa.array(range(2500), pa.int32()))
    n = 3
    extra = {
        "maybe": pa.array(["now a string"] * n),
        "narrow": pa.array([1, 2, 3], pa.int64()),
        "added": pa.array(["x"] * n),
    }
    both(tables, base, increment([1, 2, 9000], "new-", **extra))


def test_empty_increment_carries_the_previous_snapshot_forward(tables):
    both(tables, snapshot_of(1500), pa.table({}))
    both(tables, snapshot_of(1500), increment([], "new-"))


def test_first_snapshot_and_empty_previous_snapshot(tables):
    both(tables, None, increment([1, 2, 3], "new-"))
    both(tables, snapshot_of(0), increment([1, 2], "new-"))


def test_id_cast_to_the_snapshot_type_and_incompatible_ids_are_clear_errors(tables):
    base = snapshot_of(10)
    both(tables, base, increment([1, 99], "n").set_column(0, "id", pa.array([1, 99], pa.int64())))
    for ids, message in ((["not-a-number"], "id column 'id'"), (["1"], "column types differ")):
        bad = increment([1], "n").set_column(0, "id", pa.array(ids))
        with pytest.raises(DataError, match=message):
            ArrowEngine().write_snapshot(tables["streamed"], BASE, bad, "id", "20240103")
        with pytest.raises(DataError, match=message):  # the same as in memory
            ArrowEngine().apply_increment(
                ArrowEngine().read(tables["streamed"], [BASE]), bad, "id", "20240103"
            )
    assert not tables["streamed"].exists("20240103")


def test_a_failure_mid_stream_publishes_nothing_and_keeps_the_old_partition(tables, monkeypatch):
    target = tables["streamed"]
    target.write(BASE, snapshot_of(3000))
    ArrowEngine().write_snapshot(target, BASE, increment([1], "first-"), "id", DAY)
    before = target.read(DAY)
    calls = {"n": 0}
    real = arrow_snapshot._finish

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(arrow_snapshot, "_finish", failing)
    with pytest.raises(OSError, match="disk full"):
        ArrowEngine().write_snapshot(target, BASE, increment([2], "second-"), "id", DAY)
    assert target.read(DAY).equals(before)
    assert not [p for p in Path(target.base).rglob("*") if p.name.startswith("_tmp-")]


def test_a_stream_given_no_rows_publishes_the_schema_alone(tables):
    # The Parquet writer opens at the first rows; with none, the file still holds the schema.
    schema = pa.schema([("id", pa.int32()), ("value", pa.string())])
    with tables["streamed"].stream(DAY, schema) as sink:
        sink.write(pa.table({"id": pa.array([], pa.int32()), "value": pa.array([], pa.string())}))
    assert sink.result is not None and sink.result.rows == 0
    with tables["streamed"].open_parquet(DAY) as parquet:
        assert parquet.metadata.num_rows == 0
        assert parquet.schema_arrow.remove_metadata() == schema
