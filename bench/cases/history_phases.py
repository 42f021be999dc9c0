"""Per-phase breakdown of the history case's ranged run (bench only).

Wraps the functions a snapshot day calls with timers, in the measured child only, so the
per-day time splits into: partition listings, reading the increment, waiting for the previous
snapshot's batches (read ahead in a thread: the wait is what the read adds), writing batches,
publishing, the rest of the apply (ids, filter, conform), the ``id_unique`` check's rule, and
what Dagster adds around the stage (the step time less the stages). The wrappers cost
microseconds per call; the totals are per run.
"""

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

PHASES = (
    "list_partitions",
    "read_increment",
    "read_previous_wait",
    "write_batches",
    "publish",
    "apply_other",
    "check_rule",
)


class Phases:
    """Seconds per phase, accumulated by wrapped functions; ``days`` per stage call."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.days: list[float] = []
        self._restore: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - started
                self.calls[phase] += 1

        self._restore.append((owner, name, original))
        setattr(owner, name, timed)

    def install(self) -> None:
        from lbh_platform.engines import arrow_engine, arrow_snapshot
        from lbh_platform.storage import partitioned_table as pt
        from lbh_platform.tascomi import quality, stages

        self._wrap(pt.PartitionedTable, "partitions", "list_partitions")
        self._wrap(arrow_engine.ArrowEngine, "read", "read_increment")
        self._wrap(pt.PartitionWriter, "write", "write_batches")
        self._wrap(pt.PartitionedTable, "_publish", "publish")
        self._wrap(pt.PartitionedTable, "_register", "publish")
        self._wrap(arrow_snapshot, "write_snapshot", "write_snapshot_total")
        self._wrap(quality, "uniqueness", "check_rule")
        stage = stages.snapshot

        def timed_stage(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return stage(*args, **kwargs)
            finally:
                self.days.append(time.perf_counter() - started)

        self._restore.append((stages, "snapshot", stage))
        stages.snapshot = timed_stage
        prefetched = arrow_snapshot._prefetched

        def timed_prefetched(*args: Any) -> Iterator[Any]:
            inner = prefetched(*args)
            while True:
                started = time.perf_counter()
                batch = next(inner, None)
                self.seconds["read_previous_wait"] += time.perf_counter() - started
                if batch is None:
                    return
                yield batch

        self._restore.append((arrow_snapshot, "_prefetched", prefetched))
        arrow_snapshot._prefetched = timed_prefetched

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()

    def report(self, snapshot_step: float, check_step: float) -> dict[str, Any]:
        """Seconds per day by phase (the check's phases from its own step)."""
        days = max(1, len(self.days))
        s = self.seconds
        apply_other = (
            s["write_snapshot_total"] - s["read_previous_wait"] - s["write_batches"] - s["publish"]
        )
        stage_other = sum(self.days) - s["write_snapshot_total"] - s["read_increment"]
        per_day = {
            "list_partitions": s["list_partitions"] / days,
            "read_increment": s["read_increment"] / days,
            "read_previous_wait": s["read_previous_wait"] / days,
            "write_batches": s["write_batches"] / days,
            "publish": s["publish"] / days,
            "apply_other": apply_other / days,
            "stage_other_incl_listing": stage_other / days,
            "dagster_in_snapshot_step": (snapshot_step - sum(self.days)) / days,
            "check_rule": s["check_rule"] / days,
            "check_step": check_step / days,
        }
        n = len(self.days)
        tenth = max(1, n // 10)
        return {
            "per_day_seconds": per_day,
            "stage_first_tenth_mean": sum(self.days[:tenth]) / tenth if n else 0.0,
            "stage_last_tenth_mean": sum(self.days[-tenth:]) / tenth if n else 0.0,
            "calls": dict(self.calls),
            "stage_seconds_by_day": [round(d, 3) for d in self.days],
        }


def step_seconds(result: Any, matches: Callable[[str], bool]) -> float:
    """Summed STEP_SUCCESS duration of the steps whose key ``matches``."""
    total = 0.0
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS" and matches(event.step_key or ""):
            total += event.event_specific_data.duration_ms / 1000
    return total
