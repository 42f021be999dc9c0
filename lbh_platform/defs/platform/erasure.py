"""Erasure as a Dagster job: the erase command's work (find, rewrite, verify, audit) on a
source's table, started from the UI or the API. A dry run unless ``apply``. The keys come
from a file the run worker reads (``keys_file``), never from the run config: a run's config
is stored and shown in the UI, and the values being erased must not be. See
docs/PERSONAL_DATA.md."""

import dagster as dg

from lbh_platform.cli import erase
from lbh_platform.lib.resources import LakeResource

JOB = "lbh_erasure"


class ErasureConfig(dg.Config):
    source: str  # tascomi, alloy or event_streams
    table: str  # a Tascomi table, an Alloy dataset or an event-streamed entity
    keys_file: str  # a file the run worker reads, one key per line
    column: str | None = None  # where the key is: a field path (default: the table's id)
    apply: bool = False  # False: list the partitions that hold the keys, change nothing
    reference: str | None = None  # a ticket reference (never the values)
    allow_unsound: bool = False  # erase even where a partition is older than its inputs


@dg.op(name="erase_keys")
def erase_keys(context: dg.OpExecutionContext, config: ErasureConfig, lake: LakeResource) -> None:
    argv = [config.source, config.table, "--keys-file", config.keys_file]
    argv += ["--who", "dagster", "--run-id", context.run_id]
    if config.column:
        argv += ["--column", config.column]
    if config.reference:
        argv += ["--reference", config.reference]
    if config.apply:
        argv.append("--apply")
    if config.allow_unsound:
        argv.append("--allow-unsound")
    errors: list[str] = []
    code = erase.run(argv, lake=lake.lake(), say=context.log.info, complain=errors.append)
    if code != 0:
        raise dg.Failure(
            description=" ".join(errors) or "erasure failed",
            metadata={"source": config.source, "table": config.table, "apply": config.apply},
        )


def build_erasure() -> dg.Definitions:
    """The job (made here, not at import, so the folder's one load finds it once). Not
    scheduled: an erasure answers a request."""

    @dg.job(
        name=JOB,
        description="Erase keys (from a keys file) from every stage and the history of a "
        "table, verified and audited (a dry run unless apply).",
        tags={"dagster/max_retries": "0"},
    )
    def erasure_job() -> None:
        erase_keys()

    return dg.Definitions(jobs=[erasure_job])
