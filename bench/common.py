"""Shared plumbing: children measured in their own process, peak memory, machine facts.

A variant runs as ``python -m <module> <args>`` in a fresh process; it prints one JSON line
(its own timings, measured around the work only, not interpreter start-up or imports) as
the last line of stdout, with its own peak resident memory: the high-water mark (``VmHWM``)
of itself and its live descendants (a JVM). Not ``ru_maxrss`` from ``wait4``: Linux carries
a process's peak across ``exec``, so a child forked from this parent would report at least the
parent's resident memory at the fork (the generated data), whatever the child itself used.
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class ChildResult:
    """What one measured child reported, plus its peak memory and exit status."""

    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    max_rss_mb: float | None = None
    wall_seconds: float = 0.0
    error: str | None = None


def run_child(
    module: str, *args: str, timeout: float = 900.0, env: dict | None = None
) -> ChildResult:
    """Run ``python -m module args`` from the repository root; parse its last JSON line."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [PYTHON, "-m", module, *args],
            cwd=ROOT,
            stdout=out,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    rss_mb = usage.ru_maxrss / 1024  # Linux reports KiB; includes the parent's at the fork
    data: dict[str, Any] = {}
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            break
    if data.get("peak_mb"):
        rss_mb = float(data["peak_mb"])  # the child's own (see the module docstring)
    if proc.returncode != 0 or "error" in data:
        message = data.get("error") or _tail(stderr) or f"exit status {proc.returncode}"
        if proc.returncode and proc.returncode < 0:
            message = f"killed by signal {-proc.returncode} (timeout {timeout:.0f}s?) {message}"
        return ChildResult(False, data, rss_mb, wall, message)
    return ChildResult(True, data, rss_mb, wall)


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[-800:]


def emit(payload: dict[str, Any]) -> None:
    """A child's report: one JSON line on stdout, with its peak memory unless it gave one."""
    if "peak_mb" not in payload:
        payload = {**payload, "peak_mb": tree_peak_mb(os.getpid())}
    sys.stdout.write("\n" + json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def child_main(work: Callable[[list[str]], dict[str, Any]]) -> None:
    """Run ``work(argv)`` and emit its result, or the error as a result (never a traceback
    alone, so the parent can record what went wrong and continue)."""
    try:
        result = work(sys.argv[1:])
    except Exception as exc:  # noqa: BLE001 - the parent records any failure and continues
        import traceback

        traceback.print_exc()
        emit({"error": f"{type(exc).__name__}: {str(exc).strip()[:600]}"})
        raise SystemExit(1) from exc
    emit(result)


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """``with stopwatch() as t: ...``; then ``t["seconds"]``."""
    holder: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder["seconds"] = time.perf_counter() - started


def tree_peak_mb(pid: int) -> float:
    """Sum of peak resident memory (VmHWM) of a live process and its descendants."""
    total = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                stack.extend(int(c) for c in task.read_text().split())
            except OSError:
                continue
    return total


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run (its phases and details too), with the median and every time beside it.

    On a shared machine noise only ever adds time, so the best of N runs is the estimate of
    what the work itself costs; every figure and ratio in the report uses it.
    """
    best = min(runs, key=lambda r: r["seconds"])
    seconds = [r["seconds"] for r in runs]
    summary = {**best, "runs": len(runs), "median_seconds": median(seconds), "all_seconds": seconds}
    peaks = [r["peak_mb"] for r in runs if r.get("peak_mb") is not None]
    if peaks:
        summary["peak_mb"] = max(peaks)
    return summary


def machine_info() -> dict[str, Any]:
    """Cores, memory and versions of everything measured."""
    import importlib.metadata as md

    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    java = None
    try:
        probe = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        java = (probe.stderr or probe.stdout).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gb": memory_gb,
        "cpu": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "java": java,
        "versions": {
            name: version(name)
            for name in (
                "lbh_platform",
                "dagster",
                "pyarrow",
                "pandas",
                "numpy",
                "duckdb",
                "pyspark",
                "requests",
            )
        },
    }
