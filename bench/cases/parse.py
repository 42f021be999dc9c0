"""Parse and recast: raw JSON text of the wide (``applications``-like) table to typed columns.

- ``project``: ``json_columns.parse_responses`` (raw rows -> one string column per key) then
  ``recast.recast`` with the catalogue's ``applications`` type map (475 typed columns).
- ``floor``: ``pyarrow.json.read_json`` of the same JSON lines, with its default options and
  with 16 MiB blocks (the default 1 MiB block holds only ~35 of these 28 KB records); the
  faster of the two is the floor.
- ``one_block``: diagnostic, ``read_json`` over a single block (one thread; the project reads
  16 MiB blocks in parallel with an explicit all-string schema).

Child usage: ``python -m bench.cases.parse <variant> <dir>``; ``<dir>`` holds ``lines.jsonl``
and ``raw.parquet``. Input is loaded before the clock starts.
"""

import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import best_of, child_main, run_child, stopwatch
from bench.data import DAY, json_lines, raw_partition, wide_layout, wide_types

RESOURCE = "applications"
BIG_BLOCK = 16 << 20


# Steps inside ``parse_responses`` timed for the breakdown, nested: the string columns include
# the runs' parse (which includes cutting the runs and the schema sample's ``json_lines``) and
# the fallbacks (``_arrow_parse`` on the joined texts, the per-record reference).
PARSE_STEPS = (
    "_first_occurrences",
    "_records_to_string_columns",
    "_arrow_parse_runs",
    "_record_runs",
    "_json_lines",
    "_arrow_parse",
    "_python_string_columns",
)


def _timed_steps(module: Any, names: tuple[str, ...]) -> dict[str, float]:
    """Wrap these functions of ``module`` to add up their seconds in the returned dict (only
    the ones called appear); the rest of the parse is reported as ``other``."""
    seconds: dict[str, float] = {}

    def timed(name: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    for name in names:
        setattr(module, name, timed(name.lstrip("_"), getattr(module, name)))
    return seconds


def _child(argv: list[str]) -> dict[str, Any]:
    variant, folder = argv
    if variant == "project":
        import pyarrow.parquet as pq

        from lbh_platform.common import json_columns
        from lbh_platform.common import recast as recasting

        raw = pq.read_table(f"{folder}/raw.parquet")
        types = wide_types()
        steps = _timed_steps(json_columns, PARSE_STEPS)
        with stopwatch() as parse:
            parsed = json_columns.parse_responses(raw, RESOURCE)
        steps["other"] = (
            parse["seconds"]
            - steps.get("first_occurrences", 0.0)
            - steps.get("records_to_string_columns", 0.0)
        )
        with stopwatch() as recast:
            cast = recasting.recast(parsed.table, types)
        return {
            "seconds": parse["seconds"] + recast["seconds"],
            "phases": {"parse": parse["seconds"], "recast": recast["seconds"]},
            "parse_steps": steps,
            "rows": cast.table.num_rows,
            "columns": cast.table.num_columns,
            "cast_failures": sum(cast.cast_failures.values()),
        }
    import pyarrow.json as pa_json

    payload = Path(f"{folder}/lines.jsonl").read_bytes()
    if variant == "one_block":
        options = pa_json.ReadOptions(block_size=max(1 << 20, len(payload) + 1))
        with stopwatch() as once:
            table = pa_json.read_json(io.BytesIO(payload), read_options=options)
        return {"seconds": once["seconds"], "rows": table.num_rows}
    if variant == "floor":
        with stopwatch() as default:
            table = pa_json.read_json(io.BytesIO(payload))
        del table
        options = pa_json.ReadOptions(block_size=BIG_BLOCK)
        with stopwatch() as big:
            table = pa_json.read_json(io.BytesIO(payload), read_options=options)
        return {
            "seconds": min(default["seconds"], big["seconds"]),
            "phases": {"default_options": default["seconds"], "16MiB_blocks": big["seconds"]},
            "rows": table.num_rows,
            "columns": table.num_columns,
        }
    raise ValueError(f"unknown variant {variant!r}")


def run(ctx: Any) -> dict[str, Any]:
    """Write the JSON once, then the variants interleaved: floor five times, project three,
    the one-block diagnostic twice."""
    import pyarrow.parquet as pq

    rows = 2_000 if ctx.quick else 20_000
    folder = ctx.scratch / "parse"
    folder.mkdir(parents=True, exist_ok=True)
    layout = wide_layout()
    with stopwatch() as made:
        texts = json_lines(layout, rows, seed=20240312)
        with open(folder / "lines.jsonl", "wb") as sink:
            for start in range(0, rows, 1000):
                if start:
                    sink.write(b"\n")
                sink.write("\n".join(texts.slice(start, 1000).to_pylist()).encode())
        pq.write_table(raw_partition(texts, RESOURCE, DAY), folder / "raw.parquet")
    size = (folder / "lines.jsonl").stat().st_size
    ctx.log(
        f"  {rows:,} records x {layout.width} fields, {size / 1e6:.0f} MB of JSON "
        f"({size / rows / 1000:.1f} KB per record), generated in {made['seconds']:.1f}s"
    )
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "project": [], "one_block": []}
    errors: dict[str, str] = {}
    schedule = [("floor", "project", "one_block")] * 2 + [("floor", "project")] + [("floor",)] * 2
    for attempt, variants in enumerate(schedule):
        for variant in variants:
            result = run_child("bench.cases.parse", variant, str(folder), timeout=600)
            if not result.ok:
                errors[variant] = result.error or "failed"
                ctx.log(f"    {variant}: ERROR {result.error}")
                continue
            runs[variant].append({**result.data, "peak_mb": result.max_rss_mb})
            ctx.log(
                f"    {variant:9} run {attempt + 1}: {result.data['seconds']:.2f}s, "
                f"peak {result.max_rss_mb:.0f} MB"
            )
    shutil.rmtree(folder, ignore_errors=True)
    summary: dict[str, Any] = {
        "records": rows,
        "fields": layout.width,
        "typed_columns": len(wide_types()),
        "json_bytes": size,
    }
    for variant, good in runs.items():
        if not good:
            summary[variant] = {"ok": False, "error": errors.get(variant, "no run")}
            continue
        entry = {**best_of(good), "ok": True}
        entry["records_per_second"] = rows / entry["seconds"]
        summary[variant] = entry
    return summary


if __name__ == "__main__":
    child_main(_child)
