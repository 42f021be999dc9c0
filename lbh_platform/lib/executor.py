"""How a run executes its steps: ``LBH_STEP_PROCESSES`` (default 1, all steps in the run's
own process).

Dagster's default executor starts a process per step, and each one imports Dagster and loads
these definitions again (2.0 s of overhead a step in `make bench`, against 46 ms in the run's
process) before doing a few tens of milliseconds of work: a daily Tascomi run of 148 steps
spent minutes starting processes.
Our steps are small and wait mostly on HTTP and Parquet I/O (which release the interpreter
lock), so one process runs them at Dagster's lowest per-step cost. A failed step still fails
alone (its downstream steps are skipped, the others run), and a run worker that dies is
caught by run monitoring and retried as before.

Where a deployment wants steps side by side (large backfills of many tables in one run), set
``LBH_STEP_PROCESSES=N``: at most N steps at once, each forked from a server that has already
loaded the definitions (``forkserver`` with ``preload_modules``), not started from scratch.
"""

from collections.abc import Mapping

import dagster as dg

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError

STEP_PROCESSES = "LBH_STEP_PROCESSES"
PRELOADED = ["lbh_platform.definitions"]


def step_processes(environ: Mapping[str, str] | None = None) -> int:
    env = registry.environ(environ)
    text = env.get(STEP_PROCESSES, "1").strip() or "1"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(
            f"{STEP_PROCESSES} must be a whole number >= 1 (1: every step in the run's own "
            f"process), got {text!r}"
        )
    return value


def build_executor(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """Every job's executor (set once on the merged Definitions)."""
    processes = step_processes(environ)
    if processes == 1:
        return dg.in_process_executor
    return dg.multiprocess_executor.configured(
        {
            "max_concurrent": processes,
            "start_method": {"forkserver": {"preload_modules": PRELOADED}},
        },
        name=f"multiprocess_{processes}",
    )
