"""History as validity ranges (issue 27): the daily update, the rebuild, "as of D", storage.

Data: an ``applications``-like wide table (750 columns, the simulator's layout, typed), a
full load on the first day, then every day a fixed number of changes (four fifths updates of
existing ids, one fifth new ids), written straight into increment partitions (vectorised,
outside the clock). Every import is its own batch (the source keeps no snapshots here).

- ``daily`` (one child per table size, 50,000 and 500,000 rows): the history built on the
  first day, then the update of each of six days of 250 changes, each a day segment (no
  compaction), against its floor: pyarrow reading the changed ids' current rows (a file of
  exactly those rows) and writing the day's versions. The same number of changes at both
  sizes: the update should cost the same. Beside it, one minor compaction (the six days) and
  one major (the base rewritten), and what the major costs per day under the default policy.
- ``rebuild`` (one child): the 1,891-day case (189 with ``--quick``), 50,000 rows on the first
  day and 0.5% changed a day: the rebuild from every increment in one pass against reading
  every increment once (pyarrow, whole files, one after the other); then five more days kept
  daily; "as of D" for random days against reading snapshot D's partition (the "as of" result
  written as the snapshot stage writes a snapshot; checked first, on ids and import dates,
  against the increments); and the history's bytes against one snapshot plus every ended
  version written as one file, beside today's 1,891 daily copies.

Child usage: ``python -m bench.cases.history_versions daily <scratch> <rows> <changes>`` or
``... rebuild <scratch> <days> <rows>``.
"""

import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.common import child_main, run_child, stopwatch
from bench.data import ID, Generator, _day_us, wide_layout

TABLE = "applications"
FIRST = date(2021, 10, 1)
NEW_SHARE = 0.2
CHUNK_DAYS = 50
SNAPSHOT_VALUES = 8_000_000  # values per row group, as the streamed snapshot writes
EXTRA_DAYS = 5  # kept daily after the rebuild


def _source(scratch: Path) -> Any:
    from lbh_platform.history.source import HistorySource, history_table
    from lbh_platform.storage.lake import Lake

    lake = Lake({"refined": str(scratch)})
    return HistorySource(
        what=f"bench {TABLE} history",
        history=history_table(lake, "refined", "history", TABLE, "bench"),
        increments=lake.table("refined", "increment", TABLE, "import_date"),
        id_column=ID,
    )


def _value(day: date) -> str:
    return day.strftime("%Y%m%d")


def write_increments(increments: Any, days: list[date], rows: int, per_day: int) -> dict:
    """Day one: ``rows`` records; each later day ``per_day`` changes. Returns what was made."""
    layout = wide_layout()
    generator = Generator(20241205)
    rng = np.random.default_rng([20241205, rows, per_day])
    day_us = 86_400 * 1_000_000
    first = generator.rows(
        layout,
        np.arange(1, rows + 1, dtype=np.int64),
        _day_us(days[0] - timedelta(days=400)) + rng.integers(0, 399 * day_us, rows),
        salt=0,
        day=days[0],
    )
    increments.write(_value(days[0]), first)
    bytes_first = first.nbytes
    del first
    new_per_day = max(1, int(per_day * NEW_SHARE))
    next_id = rows + 1
    changed: dict[str, np.ndarray] = {}
    later = days[1:]
    for start in range(0, len(later), CHUNK_DAYS):
        chunk = later[start : start + CHUNK_DAYS]
        ids, updated = [], []
        for day in chunk:
            old = rng.choice(next_id - 1, size=per_day - new_per_day, replace=False) + 1
            new = np.arange(next_id, next_id + new_per_day)
            next_id += new_per_day
            ids.append(np.concatenate([old, new]))
            changed[_value(day)] = old
            updated.append(_day_us(day - timedelta(days=1)) + rng.integers(0, day_us, per_day))
        values = generator.rows(
            layout, np.concatenate(ids), np.concatenate(updated), salt=1 + start, day=chunk[0]
        )
        for n, day in enumerate(chunk):
            increments.write(_value(day), values.slice(n * per_day, per_day))
    return {
        "final_ids": next_id - 1,
        "changed": changed,
        "new_per_day": new_per_day,
        "first_day_bytes": bytes_first,
    }


def _best(work: Any, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        with stopwatch() as clock:
            work()
        times.append(clock["seconds"])
    return min(times), statistics.median(times)


# --------------------------------------------------------------------------- daily


def _daily(scratch: Path, rows: int, per_day: int) -> dict[str, Any]:
    from lbh_platform.history import maintain
    from lbh_platform.history.segments import Policy

    source = _source(scratch)
    days = [FIRST + timedelta(days=n) for n in range(7)]
    with stopwatch() as made:
        info = write_increments(source.increments, days, rows, per_day)
    quiet = Policy(max_days=100, open_share=100.0)
    with stopwatch() as built:
        maintain.rebuild(source, upto=_value(days[0]))
    updates = []
    for day in days[1:]:
        with stopwatch() as clock:
            report = maintain.update(source, _value(day), policy=quiet)
        updates.append(clock["seconds"])
        assert report.metadata["batches_applied"] == [_value(day)], report.metadata
    # The floor: the changed ids' current rows read, the day's versions written.
    base = source.increments.read(_value(days[0]))
    last = _value(days[-1])
    current = base.filter(pc.is_in(base[ID], pa.array(info["changed"][last], pa.int32())))
    versions = source.increments.read(last)
    current_path, versions_path = scratch / "floor-current.parquet", scratch / "floor-day.parquet"
    pq.write_table(current, current_path)
    del base
    read_best, read_median = _best(lambda: pq.read_table(current_path), 5)
    write_best, write_median = _best(lambda: pq.write_table(versions, versions_path), 5)
    with stopwatch() as minor:
        maintain.compact(source, minor=True)
    with stopwatch() as major:
        maintain.compact(source)
    default = Policy()
    days_per_major = default.open_share * rows / per_day
    return {
        "rows": rows,
        "columns": len(wide_layout().columns),
        "changes_per_day": per_day,
        "generate_seconds": made["seconds"],
        "first_build_seconds": built["seconds"],
        "update_seconds": updates,
        "update_best": min(updates),
        "update_median": statistics.median(updates),
        "floor": {
            "read_current_rows": read_best,
            "write_versions": write_best,
            "seconds": read_best + write_best,
            "median_seconds": read_median + write_median,
            "current_rows": current.num_rows,
        },
        "minor_compaction_seconds": minor["seconds"],
        "major_compaction_seconds": major["seconds"],
        "major_days_apart": days_per_major,
        "major_per_day_seconds": major["seconds"] / days_per_major,
    }


# --------------------------------------------------------------------------- rebuild


def _import_truth(source: Any, values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every (id, import) pair of the increments, narrow (for checking "as of D")."""
    ids, imports = [], []
    for value in values:
        column = source.increments.read(value, columns=[ID])[ID].to_numpy()
        ids.append(column)
        imports.append(np.full(len(column), int(value), dtype=np.int64))
    return np.concatenate(ids), np.concatenate(imports)


def _expected(ids: np.ndarray, imports: np.ndarray, value: str) -> dict[int, int]:
    """Snapshot ``value``'s ids and the import each one's row came from."""
    upto = imports <= int(value)
    chosen_ids, chosen = ids[upto], imports[upto]
    order = np.lexsort((-chosen, chosen_ids))
    first = np.ones(len(order), dtype=bool)
    first[1:] = chosen_ids[order][1:] != chosen_ids[order][:-1]
    picked = order[first]
    return dict(zip(chosen_ids[picked].tolist(), chosen[picked].tolist(), strict=True))


def _written_bytes(history: Any, names: list[str]) -> int:
    return sum(
        history.fs.get_file_info(f"{history.partition_dir(n)}/part-0.parquet").size or 0
        for n in names
    )


def _as_snapshot(table: pa.Table, path: Path) -> int:
    """Write ``table`` as the snapshot stage lays a snapshot out (row groups of about
    ``SNAPSHOT_VALUES`` values, snappy); returns its bytes."""
    rows = max(1024, SNAPSHOT_VALUES // max(1, table.num_columns))
    pq.write_table(table, path, row_group_size=rows, compression="snappy")
    return path.stat().st_size


def _rebuild(scratch: Path, days_count: int, rows: int) -> dict[str, Any]:
    from lbh_platform.history import maintain
    from lbh_platform.history.columns import STORED

    source = _source(scratch)
    per_day = max(1, int(rows * 0.005))
    days = [FIRST + timedelta(days=n) for n in range(days_count + EXTRA_DAYS)]
    with stopwatch() as made:
        info = write_increments(source.increments, days, rows, per_day)
    values = [_value(d) for d in days]
    rebuilt_values = values[:days_count]

    def read_all() -> None:
        for value in rebuilt_values:
            path = f"{source.increments.partition_dir(value)}/part-0.parquet"
            pq.read_table(path)

    with stopwatch() as floor:
        read_all()
    with stopwatch() as rebuilt:
        report = maintain.rebuild(source, upto=rebuilt_values[-1])
    kept = []
    for value in values[days_count:]:
        with stopwatch() as clock:
            maintain.update(source, value)
        kept.append(clock["seconds"])
    state = maintain.state_of(source.history)
    ids, imports = _import_truth(source, values)
    rng = np.random.default_rng(1891)
    chosen = sorted({values[int(i)] for i in rng.integers(0, len(values), 5)} | {values[-1]})
    as_of = []
    snapshot_bytes_last = 0
    for value in chosen:
        got = maintain.as_of(source.history, value)
        expected = _expected(ids, imports, value)
        pairs = dict(zip(got[ID].to_pylist(), [int(v) for v in got["import_date"].to_pylist()],
                         strict=True))  # fmt: skip
        correct = pairs == expected
        path = scratch / f"snapshot-{value}.parquet"
        size = _as_snapshot(got, path)
        if value == values[-1]:
            snapshot_bytes_last = size
        del got
        read_best, read_median = _best(lambda path=path: pq.read_table(path), 3)
        run_best, run_median = _best(lambda v=value: maintain.as_of(source.history, v), 3)
        path.unlink()
        as_of.append(
            {
                "day": value,
                "rows": len(expected),
                "correct": correct,
                "as_of_seconds": run_best,
                "as_of_median": run_median,
                "snapshot_read_seconds": read_best,
                "snapshot_read_median": read_median,
                "ratio": run_best / read_best,
                "snapshot_bytes": size,
            }
        )
    history_bytes = _written_bytes(source.history, state.names())
    closed = [s.name for s in state.segments if s.kind == "closed"]
    compact_path = scratch / "all-ended-versions.parquet"
    ended_rows = 0
    writer = None
    for name in closed:
        with source.history.open_parquet(name) as parquet:
            table = parquet.read()
        ended_rows += table.num_rows
        table = table.drop_columns([c for c in STORED if c in table.column_names])
        if writer is None:
            writer = pq.ParquetWriter(compact_path, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=SNAPSHOT_VALUES // table.num_columns)
        del table
    if writer is not None:
        writer.close()
    ended_bytes = compact_path.stat().st_size if writer is not None else 0
    bytes_per_row = snapshot_bytes_last / max(1, as_of[-1]["rows"])
    live_rows = [rows + info["new_per_day"] * n for n in range(len(values))]
    return {
        "days": days_count,
        "rows_first_day": rows,
        "columns": len(wide_layout().columns),
        "changes_per_day": per_day,
        "generate_seconds": made["seconds"],
        "increment_files": len(rebuilt_values),
        "floor_read_all_seconds": floor["seconds"],
        "rebuild_seconds": rebuilt["seconds"],
        "rebuild_vs_floor": rebuilt["seconds"] / floor["seconds"],
        "rebuild_versions": report.rows,
        "kept_daily_seconds": kept,
        "segments": {k: len(state.of_kind(k)) for k in ("closed", "base", "recent", "day")},
        "as_of": as_of,
        "as_of_all_correct": all(a["correct"] for a in as_of),
        "as_of_ratio_median": statistics.median(a["ratio"] for a in as_of),
        "as_of_ratio_max": max(a["ratio"] for a in as_of),
        "history_bytes": history_bytes,
        "history_rows": sum(s.rows for s in state.segments),
        "snapshot_bytes": snapshot_bytes_last,
        "ended_versions": ended_rows,
        "ended_versions_bytes": ended_bytes,
        "storage_ratio": history_bytes / (snapshot_bytes_last + ended_bytes),
        "daily_copies_bytes_estimate": bytes_per_row * sum(live_rows),
    }


def _child(argv: list[str]) -> dict[str, Any]:
    part, scratch = argv[0], Path(argv[1])
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if part == "daily":
        result = _daily(scratch, int(argv[2]), int(argv[3]))
    elif part == "rebuild":
        result = _rebuild(scratch, int(argv[2]), int(argv[3]))
    else:
        raise SystemExit(f"unknown part {part!r}")
    return {**result, "child_seconds": time.perf_counter() - started}


def run(ctx: Any) -> dict[str, Any]:
    sizes = (5_000, 50_000) if ctx.quick else (50_000, 500_000)
    days = 189 if ctx.quick else 1891
    out: dict[str, Any] = {"ok": True, "daily": {}}
    for rows in sizes:
        scratch = ctx.scratch / f"history-versions-daily-{rows}"
        result = run_child(
            "bench.cases.history_versions", "daily", str(scratch), str(rows), "250", timeout=3600
        )
        shutil.rmtree(scratch, ignore_errors=True)
        if not result.ok:
            ctx.log(f"  daily {rows:,}: ERROR {result.error}")
            out["daily"][str(rows)] = {"ok": False, "error": result.error}
            continue
        data = result.data
        ctx.log(
            f"  daily update at {rows:,} rows, {data['changes_per_day']} changes: median "
            f"{data['update_median']:.3f}s vs floor {data['floor']['median_seconds']:.3f}s; "
            f"minor {data['minor_compaction_seconds']:.2f}s, major "
            f"{data['major_compaction_seconds']:.2f}s"
        )
        out["daily"][str(rows)] = {"ok": True, **data, "peak_mb": result.max_rss_mb}
    scratch = ctx.scratch / "history-versions-rebuild"
    result = run_child(
        "bench.cases.history_versions", "rebuild", str(scratch), str(days), "50000", timeout=7200
    )
    shutil.rmtree(scratch, ignore_errors=True)
    if not result.ok:
        ctx.log(f"  rebuild: ERROR {result.error}")
        out["rebuild"] = {"ok": False, "error": result.error}
        return out
    data = result.data
    ctx.log(
        f"  rebuild of {data['days']:,} days: {data['rebuild_seconds']:.1f}s vs reading every "
        f"increment {data['floor_read_all_seconds']:.1f}s ({data['rebuild_vs_floor']:.2f}x); "
        f"as of D median {data['as_of_ratio_median']:.2f}x snapshot read; storage "
        f"{data['storage_ratio']:.2f}x"
    )
    out["rebuild"] = {"ok": True, **data, "peak_mb": result.max_rss_mb}
    return out


# --------------------------------------------------------------------------- targets, report

Measure = Callable[[], tuple[str, bool]]


def _ok(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or not entry.get("ok"):
        raise KeyError(entry.get("error") if isinstance(entry, dict) else "not run")
    return entry


def targets(results: dict[str, Any]) -> list[tuple[str, str, Measure]]:
    """The issue's goals for the history, each judged from this run (``bench/run.py``)."""
    out: list[tuple[str, str, Measure]] = []
    daily = results.get("daily", {})
    sizes = sorted(daily, key=int)
    for size in sizes:

        def vs_floor(size: str = size) -> tuple[str, bool]:
            entry = _ok(daily[size])
            ratio = entry["update_median"] / entry["floor"]["median_seconds"]
            return (
                f"{ratio:.2f}x floor ({entry['update_median'] * 1000:.0f} vs "
                f"{entry['floor']['median_seconds'] * 1000:.0f} ms, medians)",
                ratio <= 2.0,
            )

        out.append((f"history versions: daily update, {int(size):,} rows", "<= 2x floor", vs_floor))
    if len(sizes) >= 2:

        def flat() -> tuple[str, bool]:
            small, large = _ok(daily[sizes[0]]), _ok(daily[sizes[-1]])
            ratio = large["update_median"] / small["update_median"]
            return f"{ratio:.2f}x ({int(sizes[0]):,} -> {int(sizes[-1]):,} rows)", ratio <= 1.25

        out.append(("history versions: daily update flat in table size", "<= 1.25x", flat))
    rebuild = results.get("rebuild")
    if rebuild:

        def vs_reading() -> tuple[str, bool]:
            entry = _ok(rebuild)
            ratio = entry["rebuild_vs_floor"]
            return (
                f"{ratio:.2f}x ({entry['rebuild_seconds']:.1f}s vs "
                f"{entry['floor_read_all_seconds']:.1f}s reading {entry['increment_files']:,} "
                "increments)",
                ratio <= 1.5,
            )

        def seconds() -> tuple[str, bool]:
            entry = _ok(rebuild)
            return f"{entry['rebuild_seconds']:.1f}s", entry["rebuild_seconds"] <= 60.0

        def as_of() -> tuple[str, bool]:
            entry = _ok(rebuild)
            correct = entry["as_of_all_correct"]
            return (
                f"median {entry['as_of_ratio_median']:.2f}x, max {entry['as_of_ratio_max']:.2f}x "
                f"over {len(entry['as_of'])} days" + ("" if correct else "; ROWS WRONG"),
                correct and entry["as_of_ratio_median"] <= 2.0,
            )

        def storage() -> tuple[str, bool]:
            entry = _ok(rebuild)
            return (
                f"{entry['storage_ratio']:.2f}x ({entry['history_bytes'] / 1e6:.0f} MB vs "
                f"{(entry['snapshot_bytes'] + entry['ended_versions_bytes']) / 1e6:.0f} MB; "
                f"daily copies ~{entry['daily_copies_bytes_estimate'] / 1e9:.0f} GB)",
                entry["storage_ratio"] <= 1.3,
            )

        days = rebuild.get("days", "?")
        out.append((f"history versions: rebuild, {days} days", "<= 1.5x reading all", vs_reading))
        out.append((f"history versions: rebuild, {days} days", "<= 60 s", seconds))
        out.append(("history versions: as of a random D", "<= 2x reading snapshot D", as_of))
        out.append(("history versions: storage", "<= 1.3x snapshot + versions", storage))
    return out


def report(results: dict[str, Any], table: Callable[[list[str], list[list[str]]], str]) -> str:
    """The case's section of the printed report."""
    rows: list[list[str]] = []
    for size, entry in sorted(results.get("daily", {}).items(), key=lambda kv: int(kv[0])):
        if not entry.get("ok"):
            rows.append([f"daily update, {int(size):,} rows", "ERROR", str(entry.get("error"))])
            continue
        floor = entry["floor"]
        rows.append(
            [
                f"daily update, {int(size):,} rows x {entry['columns']}",
                f"{entry['update_median']:.3f}s",
                f"median of {len(entry['update_seconds'])} days of {entry['changes_per_day']} "
                f"changes; floor {floor['median_seconds']:.3f}s (read {floor['current_rows']} "
                f"current rows {floor['read_current_rows']:.3f}s, write the day "
                f"{floor['write_versions']:.3f}s); minor compaction "
                f"{entry['minor_compaction_seconds']:.2f}s, major "
                f"{entry['major_compaction_seconds']:.2f}s = "
                f"{entry['major_per_day_seconds'] * 1000:.0f} ms/day at the default policy",
            ]
        )
    rebuild = results.get("rebuild")
    if rebuild and rebuild.get("ok"):
        rows.append(
            [
                f"rebuild, {rebuild['days']:,} days",
                f"{rebuild['rebuild_seconds']:.1f}s",
                f"{rebuild['rebuild_versions']:,} versions from {rebuild['increment_files']:,} "
                f"increments ({rebuild['rows_first_day']:,} rows on the first day, "
                f"{rebuild['changes_per_day']} changes a day); reading them "
                f"{rebuild['floor_read_all_seconds']:.1f}s; segments {rebuild['segments']}",
            ]
        )
        for entry in rebuild["as_of"]:
            rows.append(
                [
                    f"as of {entry['day']}",
                    f"{entry['as_of_seconds']:.3f}s",
                    f"{entry['rows']:,} rows; reading snapshot {entry['day']} "
                    f"{entry['snapshot_read_seconds']:.3f}s: {entry['ratio']:.2f}x"
                    + ("" if entry["correct"] else " WRONG ROWS"),
                ]
            )
        rows.append(
            [
                "storage",
                f"{rebuild['history_bytes'] / 1e6:.0f} MB",
                f"one snapshot {rebuild['snapshot_bytes'] / 1e6:.0f} MB + "
                f"{rebuild['ended_versions']:,} ended versions "
                f"{rebuild['ended_versions_bytes'] / 1e6:.0f} MB; today's daily copies of "
                f"{rebuild['days'] + EXTRA_DAYS:,} days ~"
                f"{rebuild['daily_copies_bytes_estimate'] / 1e9:.0f} GB",
            ]
        )
    elif rebuild:
        rows.append(["rebuild", "ERROR", str(rebuild.get("error"))])
    return "\nHistory as validity ranges (history_versions)\n" + table(
        ["measure", "time", "notes"], rows
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child_main(_child)
