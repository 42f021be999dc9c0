"""Retention as a Dagster job: a dry run by default (the plan in the run's log), applied by
its weekly schedule, which runs by itself in production and waits for a click in the
embedded default."""

import dagster as dg

from lbh_platform.defs.platform.retention import JOB, build_retention
from lbh_platform.lib.resources import LakeResource


def test_the_job_dry_runs_by_default_and_logs_the_plan(tmp_path):
    lake = LakeResource(raw_zone=str(tmp_path / "raw"), refined_zone=str(tmp_path / "refined"))
    defs = dg.Definitions.merge(build_retention(), dg.Definitions(resources={"lake": lake}))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(JOB).execute_in_process(instance=instance)
        logs = [
            e.message
            for e in instance.all_logs(result.run_id)
            if e.message and "snapshot partition(s)" in e.message
        ]
    assert result.success
    assert logs == ["0 snapshot partition(s) would be removed; --apply removes them"]


def test_the_weekly_schedule_applies_and_starts_by_deployment(monkeypatch):
    monkeypatch.setenv("LBH_DEPLOYMENT", "embedded")
    [schedule] = build_retention().schedules
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance)
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.run_config["ops"]["remove_expired_snapshots"]["config"] == {"apply": True}
    monkeypatch.setenv("LBH_DEPLOYMENT", "production")
    [schedule] = build_retention().schedules
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
