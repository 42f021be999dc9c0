"""The executor every job gets: steps in the run's own process by default (no per-step
process start), or up to ``LBH_STEP_PROCESSES`` forked step processes."""

import os
from collections.abc import Callable

import dagster as dg
import pytest

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.lib.executor import build_executor, step_processes


@dg.op
def first() -> int:
    return 1


@dg.op
def second(value: int) -> int:
    return value + 1


@dg.job
def two_steps():
    second(first())


# Module level, so ``reconstructable`` can rebuild them (in step processes too).
def default_job() -> dg.JobDefinition:
    return two_steps.with_executor_def(build_executor({}))


def two_process_job() -> dg.JobDefinition:
    return two_steps.with_executor_def(build_executor({"LBH_STEP_PROCESSES": "2"}))


def _step_pids(job: Callable[[], dg.JobDefinition]) -> set[int]:
    with dg.instance_for_test() as instance:
        result = dg.execute_job(dg.reconstructable(job), instance=instance)
        assert result.success
        starts = [e for e in result.all_events if e.event_type_value == "STEP_START"]
        assert len(starts) == 2
        return {e.pid for e in starts}


def test_steps_run_in_the_run_process_by_default():
    assert build_executor({}) is dg.in_process_executor
    assert _step_pids(default_job) == {os.getpid()}


def test_step_processes_fork_from_a_preloaded_server():
    pids = _step_pids(two_process_job)
    assert os.getpid() not in pids and len(pids) == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_step_process_count_names_the_setting(value):
    with pytest.raises(ConfigurationError, match="LBH_STEP_PROCESSES must be a whole number"):
        step_processes({"LBH_STEP_PROCESSES": value})
