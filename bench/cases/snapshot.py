"""Snapshot: apply a day's increment to the previous snapshot, five ways, each in its own
process, on a long table and an ``applications``-like wide one.

- ``floor``: pyarrow reads the previous snapshot and writes it back, nothing else.
- ``engine``: the project's path, as the snapshot stage runs it: ``ArrowEngine.read`` of the
  increment, then ``ArrowEngine.write_snapshot`` (the previous snapshot streamed batch by
  batch through the id filter into the new partition, published atomically).
- ``spark``: the same path with ``SparkEngine`` on ``local_spark_session()``.
- ``duckdb``: the same dedupe + anti-join + union in one SQL statement, parquet to parquet.
- ``pandas``: naive concat + sort + drop_duplicates.

Floor and project run five times each, interleaved, DuckDB five times, pandas once, Spark
twice on the long table and once on the wide one; a time is the best of its runs (medians
are in the results), memory the largest peak. Time covers the work only (not interpreter
start-up, imports or Spark's session start, which is reported apart).

Child usage: ``python -m bench.cases.snapshot <variant> <root> <table> <output dir>``.
"""

import os
import shutil
from pathlib import Path
from typing import Any

from bench.common import best_of, child_main, run_child, stopwatch, tree_peak_mb
from bench.data import (
    BASE_DAY,
    DAY,
    ID,
    LAST_UPDATED,
    SnapshotCase,
    long_layout,
    snapshot_tables,
    wide_layout,
    write_snapshot_case,
)

SNAPSHOT_EXTRA = ("snapshot_year", "snapshot_month", "snapshot_day")
VARIANTS = ("floor", "engine", "duckdb", "pandas", "spark")
LABELS = {
    "floor": "floor: pyarrow read + write",
    "engine": "project: ArrowEngine",
    "duckdb": "DuckDB SQL",
    "pandas": "pandas concat+sort+drop_duplicates",
    "spark": "SparkEngine, local[2]",
}


def _value(day: Any) -> str:
    return day.strftime("%Y%m%d")


def _base_file(root: str, table: str) -> str:
    return f"{root}/snapshot/{table}/snapshot_date={_value(BASE_DAY)}/part-0.parquet"


def _increment_file(root: str, table: str) -> str:
    return f"{root}/increment/{table}/import_date={_value(DAY)}/part-0.parquet"


def _rows_in(path: str) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


# --------------------------------------------------------------------------- children


def _floor(root: str, table: str, out: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    target = f"{out}/part-0.parquet"
    with stopwatch() as read:
        frame = pq.read_table(_base_file(root, table))
    with stopwatch() as write:
        pq.write_table(frame, target, compression="snappy")
    return {
        "seconds": read["seconds"] + write["seconds"],
        "phases": {"read": read["seconds"], "write": write["seconds"]},
        "rows_out": _rows_in(target),
    }


def _engine(root: str, table: str, out: str, spark: bool) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    session = None
    if spark:
        from lbh_platform.engines.spark_engine import SparkEngine
        from lbh_platform.engines.spark_session import local_spark_session

        with stopwatch() as start:
            session = local_spark_session("lbh_bench")
            engine: Any = SparkEngine(session)
        extra["session_start_seconds"] = start["seconds"]
    else:
        from lbh_platform.engines import ArrowEngine

        engine = ArrowEngine()
    snapshots, increments = snapshot_tables(root, table)
    value = _value(DAY)
    # What the snapshot stage does: read the increments, then the engine's fused apply and
    # write from the previous snapshot's partition (streamed by the Arrow engine). The new
    # partition is published beside the previous one and removed afterwards.
    with stopwatch() as total:
        with stopwatch() as read:
            applied = engine.read(increments, [value])
        with stopwatch() as apply_write:
            result = engine.write_snapshot(snapshots, _value(BASE_DAY), applied, ID, value)
    snapshots.delete(value)
    if session is not None:
        extra["peak_mb"] = tree_peak_mb(os.getpid())  # this process plus the JVM
        session.stop()
    return {
        "seconds": total["seconds"],
        "phases": {"read increment": read["seconds"], "apply + write": apply_write["seconds"]},
        "rows_out": result.written.rows,
        "replaced": result.replaced_rows,
        "inserted": result.inserted_rows,
        **extra,
    }


def _duckdb(root: str, table: str, out: str) -> dict[str, Any]:
    import duckdb

    target = f"{out}/part-0.parquet"
    day = _value(DAY)
    increments = f"{root}/increment/{table}/*/part-0.parquet"
    sql = f"""
    COPY (
      WITH inc AS (
        SELECT * FROM read_parquet('{increments}', hive_partitioning = true,
                                   hive_types = {{'import_date': VARCHAR}})
        WHERE {ID} IS NOT NULL
        QUALIFY row_number() OVER (
          PARTITION BY {ID}
          ORDER BY {LAST_UPDATED} DESC NULLS LAST, import_date DESC NULLS LAST) = 1
      ),
      kept AS (
        SELECT * EXCLUDE ({", ".join(SNAPSHOT_EXTRA)})
        FROM read_parquet('{_base_file(root, table)}') AS b
        ANTI JOIN inc USING ({ID})
      )
      SELECT *, '{day[:4]}' AS snapshot_year, '{day[4:6]}' AS snapshot_month,
             '{day[6:]}' AS snapshot_day
      FROM (SELECT * FROM kept UNION ALL BY NAME SELECT * FROM inc)
    ) TO '{target}' (FORMAT parquet, COMPRESSION snappy)
    """
    connection = duckdb.connect()
    with stopwatch() as total:
        connection.execute(sql)
    threads = connection.execute("SELECT current_setting('threads')").fetchone()
    return {
        "seconds": total["seconds"],
        "rows_out": _rows_in(target),
        "threads": threads[0] if threads else None,
    }


def _pandas(root: str, table: str, out: str) -> dict[str, Any]:
    import pandas as pd

    target = f"{out}/part-0.parquet"
    day = _value(DAY)
    with stopwatch() as total:
        base = pd.read_parquet(_base_file(root, table)).drop(columns=list(SNAPSHOT_EXTRA))
        increment = pd.read_parquet(_increment_file(root, table))
        increment["import_date"] = day
        merged = pd.concat([base, increment], ignore_index=True)
        merged = merged.sort_values([ID, LAST_UPDATED, "import_date"], kind="stable")
        merged = merged.drop_duplicates(ID, keep="last")
        merged["snapshot_year"], merged["snapshot_month"] = day[:4], day[4:6]
        merged["snapshot_day"] = day[6:]
        merged.to_parquet(target, compression="snappy", index=False)
    return {"seconds": total["seconds"], "rows_out": _rows_in(target)}


def _child(argv: list[str]) -> dict[str, Any]:
    variant, root, table, out = argv
    Path(out).mkdir(parents=True, exist_ok=True)
    if variant == "floor":
        return _floor(root, table, out)
    if variant in ("engine", "spark"):
        return _engine(root, table, out, spark=variant == "spark")
    if variant == "duckdb":
        return _duckdb(root, table, out)
    if variant == "pandas":
        return _pandas(root, table, out)
    raise ValueError(f"unknown variant {variant!r}")


# --------------------------------------------------------------------------- parent


def _measure(
    case: SnapshotCase, variant: str, repeats: int, scratch: Path, log: Any
) -> dict[str, Any]:
    """Run a variant ``repeats`` times (fresh process each): best time, largest peak memory."""
    runs: list[dict[str, Any]] = []
    for attempt in range(repeats):
        out = scratch / f"{case.table}-{variant}-{attempt}"
        result = run_child(
            "bench.cases.snapshot",
            variant,
            case.root,
            case.table,
            str(out),
            timeout=900,
        )
        shutil.rmtree(out, ignore_errors=True)
        if not result.ok:
            log(f"    {case.table} {variant:7} run {attempt + 1}: ERROR {result.error}")
            return {"ok": False, "error": result.error}
        peak = result.data.get("peak_mb") or result.max_rss_mb  # Spark: driver + JVM
        log(
            f"    {case.table} {variant:7} run {attempt + 1}: {result.data['seconds']:.2f}s, "
            f"peak {peak:.0f} MB"
        )
        # The floor rewrites the previous snapshot; every other variant builds the new one.
        expected = case.base_rows if variant == "floor" else case.expected_rows
        runs.append(
            {**result.data, "peak_mb": peak, "rows_ok": result.data.get("rows_out") == expected}
        )
    return _merge(runs)


def run(ctx: Any) -> dict[str, Any]:
    """Generate both tables, then measure every variant on each."""
    rows = {"long": 100_000 if ctx.quick else 1_000_000, "wide": 10_000 if ctx.quick else 100_000}
    # Spark twice on the long table, where its margin is the closest call.
    repeats = {"floor": 5, "engine": 5, "duckdb": 5, "pandas": 1}
    spark_runs = {"long": 1 if ctx.quick else 2, "wide": 1}
    results: dict[str, Any] = {}
    for table, layout in (("long", long_layout()), ("wide", wide_layout())):
        root = ctx.scratch / "snapshot" / table
        with stopwatch() as made:
            case = write_snapshot_case(str(root), layout, rows[table], seed=20240312)
        ctx.log(
            f"  {table}: {case.base_rows:,} rows x {case.columns} columns, increment "
            f"{case.increment_rows:,} rows ({case.updated_ids:,} updated ids, {case.new_ids:,} "
            f"new, {case.repeated_ids:,} also with an older version), generated in "
            f"{made['seconds']:.1f}s"
        )
        measured: dict[str, Any] = {}
        # Floor and engine interleaved, so drift on a shared machine hits both alike.
        pairs: dict[str, list[dict[str, Any]]] = {"floor": [], "engine": []}
        for _ in range(repeats["floor"]):
            for variant, runs in pairs.items():
                runs.append(_measure(case, variant, 1, ctx.scratch / "out", ctx.log))
        for variant, runs in pairs.items():
            failed = [r for r in runs if not r.get("ok")]
            measured[variant] = failed[0] if failed else _merge(runs)
        for variant in ("duckdb", "pandas", "spark"):
            if variant in ctx.skip:
                measured[variant] = {"ok": False, "error": "skipped (--skip)"}
                continue
            times = spark_runs[table] if variant == "spark" else repeats[variant]
            measured[variant] = _measure(case, variant, times, ctx.scratch / "out", ctx.log)
        results[table] = {
            "data": {
                "rows": case.base_rows,
                "columns": case.columns,
                "increment_rows": case.increment_rows,
                "updated_ids": case.updated_ids,
                "new_ids": case.new_ids,
                "ids_with_an_older_version_too": case.repeated_ids,
                "expected_rows_out": case.expected_rows,
                "previous_snapshot_bytes": case.base_bytes,
                "increment_bytes": case.increment_bytes,
            },
            "variants": measured,
        }
        shutil.rmtree(root, ignore_errors=True)
    return results


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs of one variant -> one summary (best time, largest peak, rows right in all)."""
    good = [r for r in runs if r.get("ok", True)]
    if not good:
        return runs[-1]
    return {**best_of(good), "ok": True, "rows_ok": all(r["rows_ok"] for r in good)}


if __name__ == "__main__":
    child_main(_child)
