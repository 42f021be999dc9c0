"""Snapshot retention as a Dagster job: the retention CLI's plan over every source's
snapshots, as a dry run (the default: the run's log lists what would be removed) or applied
(``apply: true``; the weekly schedule's runs). See docs/RETENTION.md."""

import dagster as dg

from lbh_platform.cli import retention
from lbh_platform.lib.automation_defaults import schedule_status
from lbh_platform.lib.partitions import TIMEZONE
from lbh_platform.lib.resources import LakeResource
from lbh_platform.lib.roles import HOUSEKEEPING

JOB = "lbh_retention"


class RetentionConfig(dg.Config):
    apply: bool = False  # False: list what would be removed, remove nothing


@dg.op(name="remove_expired_snapshots")
def remove_expired_snapshots(
    context: dg.OpExecutionContext, config: RetentionConfig, lake: LakeResource
) -> None:
    argv = ["--who", "dagster", "--run-id", context.run_id]
    if config.apply:
        argv.append("--apply")
    errors: list[str] = []
    code = retention.run(argv, lake=lake.lake(), say=context.log.info, complain=errors.append)
    if code != 0:
        raise dg.Failure(
            description=f"retention failed: {' '.join(errors)}",
            metadata={"apply": config.apply},
        )


def build_retention() -> dg.Definitions:
    """The job and its weekly schedule (made here, not at import, so the folder's one load
    finds them once)."""

    @dg.job(name=JOB, description="Remove expired snapshot partitions (a dry run unless apply).")
    def retention_job() -> None:
        remove_expired_snapshots()

    @dg.schedule(
        name="lbh_retention_weekly",
        cron_schedule="0 7 * * 0",
        execution_timezone=TIMEZONE,
        job=retention_job,
        default_status=schedule_status(HOUSEKEEPING),
        description="Sunday 07:00: expired snapshots removed by the retention policy (applied).",
    )
    def retention_weekly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(
            run_config={"ops": {"remove_expired_snapshots": {"config": {"apply": True}}}}
        )

    return dg.Definitions(jobs=[retention_job], schedules=[retention_weekly])
