"""``make bench``: every stage against its physical floor and its alternatives, in one run.

Usage: ``python bench/run.py [--quick] [--only CASES] [--skip VARIANTS] [--output FILE]``.

Every figure that matters is a ratio of two things measured side by side in this run (on a
shared 2-core machine absolute times are noise). Prints a table with the targets and
PASS/MISS per target, and writes ``bench/results.json`` (``--quick``: about 10x smaller
inputs, written to ``bench/results-quick.json``).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import machine_info  # noqa: E402

CASES = (
    "snapshot",
    "parse",
    "ingestion",
    "orchestration",
    "backfill",
    "history",
    "history_versions",
    "erasure",
)
OPTIONAL_VARIANTS = ("spark", "duckdb", "pandas")
DAILY_TASCOMI_JOB = "tascomi_daily_pipeline"  # the job the orchestration case runs daily


@dataclass
class Context:
    """What every case gets: size switch, scratch space, a logger and skipped variants."""

    quick: bool
    scratch: Path
    skip: set[str] = field(default_factory=set)

    def log(self, message: str) -> None:
        print(message, flush=True)


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    goal: str
    status: str  # PASS, MISS or ERROR


def _load() -> tuple[float, ...]:
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def _ok(entry: Any) -> bool:
    return isinstance(entry, dict) and bool(entry.get("ok"))


def _run_row(label: str, run: dict[str, Any]) -> list[str]:
    """A run's row: wall time, then its steps' time and Dagster's overhead per step."""
    share = run["overhead_seconds"] / run["wall_seconds"]
    return [
        label,
        _fmt_s(run["wall_seconds"]),
        f"transform {_fmt_s(run['step_seconds'])} in {run['steps']} steps, "
        f"Dagster overhead {_fmt_s(run['overhead_seconds'])} ({share:.0%}, "
        f"{run['overhead_seconds'] / max(run['steps'], 1) * 1000:.0f} ms/step)"
        + ("" if run["success"] else " FAILED"),
    ]


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.2f}s" if seconds < 100 else f"{seconds:.0f}s"


# --------------------------------------------------------------------------- targets


def targets(results: dict[str, Any]) -> list[Target]:
    """Every stated target, judged from this run's measurements."""
    out: list[Target] = []

    def add(name: str, goal: str, measure: Callable[[], tuple[str, bool]]) -> None:
        try:
            measured, passed = measure()
        except (KeyError, TypeError, ZeroDivisionError) as exc:
            out.append(Target(name, f"not measured ({type(exc).__name__}: {exc})", goal, "ERROR"))
            return
        out.append(Target(name, measured, goal, "PASS" if passed else "MISS"))

    snapshot = results.get("snapshot", {})
    for table in ("long", "wide"):
        if table not in snapshot:
            continue
        variants = snapshot[table]["variants"]

        def need(name: str, variants: dict[str, Any] = variants) -> dict[str, Any]:
            entry = variants[name]
            if not _ok(entry):
                raise KeyError(f"{name} failed: {entry.get('error')}")
            return entry

        def vs_floor(need: Callable[[str], dict[str, Any]] = need) -> tuple[str, bool]:
            ratio = need("engine")["seconds"] / need("floor")["seconds"]
            return f"{ratio:.2f}x floor", ratio <= 1.3

        def memory(need: Callable[[str], dict[str, Any]] = need) -> tuple[str, bool]:
            engine, floor = need("engine")["peak_mb"], need("floor")["peak_mb"]
            ratio = engine / floor
            return f"{ratio:.2f}x floor's peak ({engine:.0f} vs {floor:.0f} MB)", ratio <= 1.2

        def vs_duckdb(need: Callable[[str], dict[str, Any]] = need) -> tuple[str, bool]:
            ratio = need("engine")["seconds"] / need("duckdb")["seconds"]
            return f"{ratio:.2f}x DuckDB's time", ratio < 1.0

        def vs_spark(need: Callable[[str], dict[str, Any]] = need) -> tuple[str, bool]:
            ratio = need("spark")["seconds"] / need("engine")["seconds"]
            start = need("spark").get("session_start_seconds", 0.0)
            with_start = (need("spark")["seconds"] + start) / need("engine")["seconds"]
            return (
                f"{ratio:.1f}x faster ({with_start:.1f}x with Spark start-up)",
                ratio >= 5.0,
            )

        add(f"snapshot {table}: project vs floor", "<= 1.3x floor", vs_floor)
        add(f"snapshot {table}: project vs DuckDB SQL", "faster (< 1.0x)", vs_duckdb)
        add(f"snapshot {table}: peak memory vs floor", "<= 1.2x floor's peak", memory)
        add(f"snapshot {table}: project vs Spark local", ">= 5x faster", vs_spark)

    parse = results.get("parse")
    if parse:

        def parse_ratio() -> tuple[str, bool]:
            if not _ok(parse["project"]) or not _ok(parse["floor"]):
                raise KeyError("parse failed")
            ratio = parse["project"]["seconds"] / parse["floor"]["seconds"]
            return f"{ratio:.2f}x floor", ratio <= 2.0

        add("parse + recast (wide) vs pyarrow JSON", "<= 2x floor", parse_ratio)

    ingestion = results.get("ingestion")
    if ingestion:
        for table in ("appeals", "applications"):

            def fraction(table: str = table) -> tuple[str, bool]:
                entry = ingestion[table]
                if not _ok(entry):
                    raise KeyError(entry.get("error"))
                share = entry["fraction_of_bound"]
                return (
                    f"{share:.0%} ({entry['pages_per_second']:.1f} of "
                    f"{entry['bound_pages_per_second']:.0f} pages/s)",
                    share >= 0.8,
                )

            add(f"ingestion {table} pages vs latency bound", ">= 80% of bound", fraction)

    orchestration = results.get("orchestration")
    if orchestration:

        def load() -> tuple[str, bool]:
            entry = orchestration["load"]
            if not _ok(entry):
                raise KeyError(entry.get("error"))
            return (
                f"{entry['seconds']:.2f}s (dagster import {entry['import_dagster_seconds']:.2f}s)",
                entry["seconds"] < 3.0,
            )

        add("definitions load (import + resolve)", "< 3 s", load)

        def overhead() -> tuple[str, bool]:
            entry = orchestration["daily"]
            if not _ok(entry):
                raise KeyError(entry.get("error"))
            day = max(entry["runs"])  # the ordinary daily increment, not the full load
            run = entry["runs"][day][DAILY_TASCOMI_JOB]
            steps = max(run["steps"], 1)
            per_step = run["overhead_seconds"] / steps
            share = run["overhead_seconds"] / run["step_seconds"]
            return (
                f"{per_step * 1000:.0f} ms/step = {share:.0%} of step time "
                f"({run['overhead_seconds']:.1f}s over {run['steps']} steps)",
                share < 1 / 3,
            )

        add("daily run: Dagster overhead per step", "< 1/3 of step time", overhead)

    history = results.get("history")
    if history:

        def per_day() -> tuple[str, bool]:
            if not _ok(history) or not history.get("success"):
                raise KeyError(history.get("error") or f"failed steps {history['failed_steps']}")
            ratio = history["per_day_vs_floor"]
            return (
                f"{history['seconds_per_day']:.2f}s/day = {ratio:.2f}x floor "
                f"({history['floor']['seconds']:.2f}s); {history['full_history_days']:,} days "
                f"~{history['full_history_hours']:.1f} h",
                ratio <= 1.5,
            )

        add(f"history: {history.get('days')} days as one ranged run", "<= 1.5x floor/day", per_day)
    versions = results.get("history_versions")
    if versions:
        from bench.cases.history_versions import targets as version_targets

        for name, goal, measure in version_targets(versions):
            add(name, goal, measure)

    erasure = results.get("erasure")
    if erasure:

        def erasure_ratio() -> tuple[str, bool]:
            if not _ok(erasure):
                raise KeyError(erasure.get("error"))
            return (
                f"{erasure['ratio']:.2f}x ({erasure['project']['seconds']:.2f}s vs "
                f"{erasure['floor']['seconds']:.2f}s)",
                erasure["ratio"] <= 2.0,
            )

        add(
            f"erase one key, {erasure.get('days')} retained days vs rewriting them",
            "<= 2x rewrite",
            erasure_ratio,
        )
    return out


# --------------------------------------------------------------------------- report


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    """The human-readable tables (also what the README quotes)."""
    parts: list[str] = []
    meta = results["meta"]
    machine = meta["machine"]
    parts.append(
        f"lbh_platform benchmarks ({'quick' if meta['quick'] else 'full'}) on "
        f"{machine['cores']} cores, {machine['memory_gb']} GB; load average "
        f"{meta['load_average_start'][0]:.1f} at start, {meta['load_average_end'][0]:.1f} at "
        f"end; total {meta['duration_seconds'] / 60:.1f} min"
    )
    snapshot = results.get("snapshot", {})
    for table, entry in snapshot.items():
        data = entry["data"]
        variants = entry["variants"]
        floor = variants.get("floor", {})
        engine = variants.get("engine", {})
        rows = []
        from bench.cases.snapshot import LABELS, VARIANTS

        for name in VARIANTS:
            v = variants.get(name, {})
            if not _ok(v):
                error = (v.get("error") or "")[:110]
                rows.append([LABELS[name], "ERROR", "", "", "", "", "", error])
                continue
            note = ""
            if name == "engine" and "phases" in v:
                note = ", ".join(f"{k} {s:.2f}" for k, s in v["phases"].items())
            if name == "spark":
                note = f"+{v.get('session_start_seconds', 0):.0f}s session start; driver+JVM"
            if name == "duckdb":
                note = f"{v.get('threads')} threads"
            if not v.get("rows_ok", True):
                note += f" ROWS {v.get('rows_out')} != {data['expected_rows_out']}"
            rows.append(
                [
                    LABELS[name],
                    _fmt_s(v["seconds"]),
                    _fmt_s(v["median_seconds"]),
                    str(v["runs"]),
                    f"{v['peak_mb']:.0f}",
                    f"{v['seconds'] / floor['seconds']:.2f}" if _ok(floor) else "",
                    f"{v['seconds'] / engine['seconds']:.2f}" if _ok(engine) else "",
                    note,
                ]
            )
        parts.append(
            f"\nSnapshot, {table}: {data['rows']:,} rows x {data['columns']} columns + increment "
            f"of {data['increment_rows']:,} rows ({data['updated_ids']:,} updates, "
            f"{data['new_ids']:,} new ids, {data['ids_with_an_older_version_too']:,} ids also "
            f"with an older version); time = best of the runs"
        )
        parts.append(
            _table(
                ["variant", "best", "median", "runs", "peak MB", "x floor", "x project", "notes"],
                rows,
            )
        )
    parse = results.get("parse")
    if parse:
        parts.append(
            f"\nParse + recast, wide: {parse['records']:,} records x {parse['fields']} fields "
            f"({parse['json_bytes'] / 1e6:.0f} MB JSON), {parse['typed_columns']} typed columns"
        )
        rows = []
        floor = parse.get("floor", {})
        for name, label in (
            ("floor", "floor: pyarrow.json.read_json"),
            ("project", "project: parse_responses + recast"),
            ("one_block", "diagnostic: read_json, one block"),
        ):
            v = parse.get(name, {})
            if not _ok(v):
                rows.append([label, "ERROR", "", "", "", "", "", (v.get("error") or "")[:110]])
                continue
            phases = v.get("phases", {})
            note = ", ".join(f"{k} {s:.2f}s" for k, s in phases.items())
            if v.get("parse_steps"):
                steps = ", ".join(f"{k} {s:.2f}" for k, s in v["parse_steps"].items())
                note += f" (parse steps: {steps})"
            rows.append(
                [
                    label,
                    _fmt_s(v["seconds"]),
                    _fmt_s(v["median_seconds"]),
                    str(v["runs"]),
                    f"{v['records_per_second']:,.0f}",
                    f"{v['peak_mb']:.0f}",
                    f"{v['seconds'] / floor['seconds']:.2f}" if _ok(floor) else "",
                    note,
                ]
            )
        headers = ["variant", "best", "median", "runs", "records/s", "peak MB", "x floor", "notes"]
        parts.append(_table(headers, rows))
    ingestion = results.get("ingestion")
    if ingestion:
        parts.append(
            "\nIngestion: TascomiClient.fetch over loopback HTTP, "
            f"{ingestion['latency_seconds'] * 1000:.0f} ms latency per request, "
            f"{ingestion['max_pages_in_flight']} pages in flight"
        )
        rows = []
        for table in ("appeals", "applications"):
            v = ingestion.get(table, {})
            if not _ok(v):
                rows.append([table, "ERROR", "", "", "", (v.get("error") or "")[:110]])
                continue
            rows.append(
                [
                    table,
                    f"{v['pages']} x {v['page_kb']:.0f} KB",
                    f"{v['pages_per_second']:.1f}",
                    f"{v['bound_pages_per_second']:.0f} (ideal {v['ideal_pages_per_second']:.1f})",
                    f"{v['fraction_of_bound']:.0%}",
                    f"best of 3 warm fetches {_fmt_s(v['seconds'])}, median "
                    f"{_fmt_s(v['median_seconds'])}"
                    + (
                        f"; client CPU {v['client_cpu_ms_per_page']:.1f} ms/page, raw stage "
                        f"{v['raw_stage_ms_per_page']:.1f} ms/page"
                        if "raw_stage_ms_per_page" in v
                        else ""
                    ),
                ]
            )
        parts.append(
            _table(["table", "pages", "pages/s", "bound pages/s", "of bound", "notes"], rows)
        )
    orchestration = results.get("orchestration")
    if orchestration:
        parts.append("\nOrchestration")
        rows = []
        load = orchestration.get("load", {})
        if _ok(load):
            rows.append(
                [
                    "load definitions (fresh process)",
                    _fmt_s(load["seconds"]),
                    f"import dagster {_fmt_s(load['import_dagster_seconds'])}, "
                    f"import lbh_platform.definitions {_fmt_s(load['import_definitions_seconds'])}"
                    f", resolve repository+jobs {_fmt_s(load['resolve_repository_seconds'])}; "
                    f"{load['assets']} assets, {load['asset_checks']} checks; process wall "
                    f"{_fmt_s(load['process_wall_seconds'])}",
                ]
            )
        else:
            rows.append(["load definitions", "ERROR", (load.get("error") or "")[:110]])
        daily = orchestration.get("daily", {})
        if _ok(daily):
            for day, jobs in daily["runs"].items():
                label = "first day (full load)" if day == min(daily["runs"]) else "daily run"
                for name, run in jobs.items():
                    rows.append(_run_row(f"{label}: {name}", run))
        else:
            rows.append(["daily run", "ERROR", (daily.get("error") or "")[:110]])
        launched = orchestration.get("launched", {})
        labels = {
            "jobs_executor": "as launched, the jobs' executor (steps in the run process)",
            "process_per_step": "as launched, Dagster's default (a process per step)",
        }
        if _ok(launched):
            for name, label in labels.items():
                tables = len(launched["tables"])
                rows.append(
                    _run_row(f"{label}: {DAILY_TASCOMI_JOB}, {tables} tables", launched[name])
                )
        elif launched:
            rows.append(["daily run as launched", "ERROR", (launched.get("error") or "")[:110]])
        parts.append(_table(["measure", "wall", "split"], rows))
    backfill = results.get("backfill")
    if backfill:
        parts.append("\nBackfill")
        if _ok(backfill):
            ranged, singles = backfill["ranged"], backfill["single_runs"]
            parts.append(
                _table(
                    ["measure", "wall", "notes"],
                    [
                        [
                            f"{backfill['days']}-day snapshot backfill, one ranged run",
                            _fmt_s(ranged["wall_seconds"]),
                            f"steps {_fmt_s(ranged['step_seconds'])}"
                            + ("" if ranged["success"] else " FAILED"),
                        ],
                        [
                            f"{backfill['days']} single-day runs",
                            _fmt_s(singles["wall_seconds"]),
                            f"steps {_fmt_s(singles['step_seconds'])}; ranged run is "
                            f"{singles['wall_seconds'] / ranged['wall_seconds']:.2f}x faster"
                            + ("" if singles["success"] else " FAILED"),
                        ],
                    ],
                )
            )
        else:
            parts.append(f"  ERROR {backfill.get('error')}")
    history = results.get("history")
    if history:
        parts.append("\nHistory at scale")
        if _ok(history):
            floor = history["floor"]
            parts.append(
                _table(
                    ["measure", "wall", "notes"],
                    [
                        [
                            f"{history['days']} days of {history['table']} as one ranged run",
                            _fmt_s(history["wall_seconds"]),
                            f"{history['rows_first_day']:,} rows x {history['columns']} columns "
                            f"(+{history['changed_rows_per_day']} changed a day, "
                            f"{history['snapshot_rows_last_day']:,} rows at the end); steps "
                            f"{_fmt_s(history['step_seconds'])}"
                            + ("" if history["success"] else " FAILED"),
                        ],
                        [
                            "per day vs floor (read + write one day's snapshot)",
                            f"{history['seconds_per_day']:.2f}s",
                            f"floor {floor['seconds']:.2f}s (read {floor['read']:.2f}s, write "
                            f"{floor['write']:.2f}s): {history['per_day_vs_floor']:.2f}x",
                        ],
                        [
                            f"full history since 2021-10-01 ({history['full_history_days']:,} "
                            "days), extrapolated",
                            f"{history['full_history_hours']:.1f} h",
                            "at this table size, one ranged run",
                        ],
                    ],
                )
            )
        else:
            parts.append(f"  ERROR {history.get('error')}")
    versions = results.get("history_versions")
    if versions:
        from bench.cases.history_versions import report as version_report

        parts.append(version_report(versions, _table))
    erasure = results.get("erasure")
    if erasure:
        parts.append("\nErasure")
        if _ok(erasure):
            rows = [
                [
                    label,
                    _fmt_s(erasure[name]["seconds"]),
                    _fmt_s(erasure[name]["median_seconds"]),
                    str(erasure[name]["runs"]),
                    f"{erasure[name]['seconds'] / erasure['floor']['seconds']:.2f}",
                ]
                for name, label in (
                    ("floor", "floor: read, drop the key, write each partition"),
                    ("project", "project: erase (find, rewrite, verify, audit)"),
                )
            ]
            parts.append(
                f"one key in each of {erasure['days']} snapshots of {erasure['rows']:,} rows x "
                f"{erasure['columns']} columns ({erasure['table_bytes'] / 1e6:.0f} MB)"
            )
            parts.append(_table(["variant", "best", "median", "runs", "x floor"], rows))
        else:
            parts.append(f"  ERROR {erasure.get('error')}")
    parts.append("\nTargets")
    parts.append(
        _table(
            ["target", "goal", "measured", "result"],
            [[t.name, t.goal, t.measured, t.status] for t in results.get("targets_evaluated", [])],
        )
    )
    return "\n".join(parts)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about 10x smaller inputs")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {CASES}")
    parser.add_argument(
        "--skip", default="", help=f"comma-separated snapshot variants to skip: {OPTIONAL_VARIANTS}"
    )
    parser.add_argument("--output", type=Path, default=None, help="results file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    chosen = [c.strip() for c in args.only.split(",") if c.strip()] or list(CASES)
    unknown = set(chosen) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}; choose from {CASES}")
    output = args.output or ROOT / "bench" / (
        "results-quick.json" if args.quick else "results.json"
    )
    scratch = Path(tempfile.mkdtemp(prefix="lbh-bench-"))
    ctx = Context(args.quick, scratch, {s.strip() for s in args.skip.split(",") if s.strip()})
    started = time.monotonic()
    load_start = _load()
    results: dict[str, Any] = {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "cases": chosen,
            "machine": machine_info(),
            "load_average_start": load_start,
        }
    }
    print(
        f"lbh_platform bench ({'quick' if args.quick else 'full'}): {', '.join(chosen)}; "
        f"scratch {scratch}; load average {load_start[0]:.1f}",
        flush=True,
    )
    try:
        for name in chosen:
            ctx.log(f"\n== {name}")
            case_started = time.monotonic()
            module = __import__(f"bench.cases.{name}", fromlist=["run"])
            try:
                results[name] = module.run(ctx)
            except Exception as exc:  # noqa: BLE001 - one broken case must not lose the rest
                import traceback

                traceback.print_exc()
                results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            ctx.log(f"   ({name} took {time.monotonic() - case_started:.0f}s)")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    results["meta"]["duration_seconds"] = time.monotonic() - started
    results["meta"]["load_average_end"] = _load()
    evaluated = targets(results)
    results["targets"] = [t.__dict__ for t in evaluated]
    text = report({**results, "targets_evaluated": evaluated})
    print("\n" + text)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
