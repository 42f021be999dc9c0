"""The embedded default's run launcher: Dagster's ``DefaultRunLauncher``, plus a worker health
check for run monitoring.

A run started from the command line (``dagster asset materialize``, ``dagster job
execute``, ``make run``) executes in that command's own process, which no launcher or code
server watches: killed (``kill -9``, the OOM killer, a closed terminal), its run would stay
``STARTED``, and its failure alert would never fire. On the embedded instance every process
shares one machine, so the daemon's run monitoring can ask whether the process that started
the run (the pid of its ``RUN_START`` event) is still there, and fail the run when it is
not. A run not yet started, or whose process cannot be seen, counts as running: run
monitoring's maximum runtime still ends it. Production (``deploy/dagster.yaml``, several
hosts) keeps Dagster's own launcher.
"""

import os
from pathlib import Path

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie (dead, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: there, but not ours to signal
    stat = Path(f"/proc/{pid}/stat")
    try:
        # "pid (name) state ...": the state follows the last ')'.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux), or the process left meanwhile: next poll


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose runs' processes run monitoring can check (one host).

    Configure in ``dagster.yaml``::

        run_launcher:
          module: lbh_platform.deploy.local_run_launcher
          class: LocalRunLauncher
    """

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        started = self._instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1, ascending=False
        ).records
        event = started[0].event_log_entry.dagster_event if started else None
        pid = event.pid if event is not None else None
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run has no process yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} is running")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's process (pid {pid}) is gone: it was killed or exited without "
            "recording the run's end",
        )
