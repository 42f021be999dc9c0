"""The four Tascomi stages as plain functions: read upstream partitions, transform, publish.

Each returns a report whose ``metadata`` the Dagster assets attach to the materialisation.
Partition bookkeeping (which import window, which snapshot to build on) is decided here
from what is actually published in the lake, so a missed day, a gap or a re-run all
resolve the same way whether run by Dagster, a test or a script.
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common import lineage
from lbh_platform.common.errors import DataError
from lbh_platform.common.http import ApiError
from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.common.quality import RuleOutcome
from lbh_platform.common.recast import keys_lost_in_cast
from lbh_platform.common.stage_report import StageReport
from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.engines.base import Engine
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable
from lbh_platform.tascomi.erased import drop_erased_records
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.page_records import reencoded_texts
from lbh_platform.tascomi.record_checks import check_pages
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform.tascomi.transforms import (
    PageLike,
    raw_response_table,
    updated_outliers,
)

log = logging.getLogger(__name__)
from lbh_platform.tascomi.quality import CAST_FAILURES_KEY  # noqa: E402  (one name, two users)

# Raw partitions note how their record texts were made: as the API sent them (``AS_SENT``);
# partitions without the note hold them re-encoded (``json.dumps``), as before.
RECORD_TEXTS_KEY = "lbh.record_texts"
AS_SENT = "as_sent"
MISSING_COLUMNS_KEY = "lbh.catalogue_columns_missing"
# Ids of an increment that its cast would not keep as themselves: {"type", "count", "sample"}.
KEYS_LOST_KEY = "lbh.ids_lost_in_cast"
SAMPLE = 20
MAX_WINDOW_DAYS = 60
DEFAULT_ENGINE: Engine = ArrowEngine()  # longer gaps are refetched with one unfiltered (full) load


def partition_value(day: date) -> str:
    return yyyymmdd(day)


def day_of(value: str) -> date:
    return datetime.strptime(value, "%Y%m%d").date()


def cast_failures(lake: Lake, table: str, value: str) -> dict[str, int]:
    """Per-column cast failures recorded with an increment partition."""
    notes = tascomi_table(lake, "increment", table).file_metadata(value)
    return json.loads(notes.get(CAST_FAILURES_KEY, "{}"))


# --------------------------------------------------------------------------- api_response


@dataclass(frozen=True)
class ImportWindow:
    """Which ``last_updated`` days to ask for; ``days is None`` means a full load."""

    days: list[date] | None
    previous_import: str | None

    def describe(self) -> str:
        if self.days is None:
            return (
                "full load (no earlier import)"
                if self.previous_import is None
                else (
                    f"full load (gap since {self.previous_import} exceeds {MAX_WINDOW_DAYS} days)"
                )
            )
        if not self.days:
            return "nothing to ask for"
        return f"last_updated {self.days[0]} .. {self.days[-1]} ({len(self.days)} days)"


def import_window(published: Sequence[str], day: date) -> ImportWindow:
    """Records updated from the previous import date up to ``day`` itself, inclusive.

    ``day`` is asked for so far (what changed between midnight and the run), because the API
    serves only a record's newest version: a record edited after midnight is on no earlier
    day. The previous import date is asked for again, for what changed after that run.
    """
    target = partition_value(day)
    earlier = [p for p in published if p < target]
    if not earlier:
        return ImportWindow(None, None)
    previous = day_of(earlier[-1])
    span = (day - previous).days
    if span > MAX_WINDOW_DAYS:
        return ImportWindow(None, earlier[-1])
    return ImportWindow([previous + timedelta(days=i) for i in range(span + 1)], earlier[-1])


def drop_already_taken(
    raw: pa.Table, column: str, previous: pa.Table | None, *, previous_reencoded: bool = False
) -> tuple[pa.Table, int]:
    """Drop records the previous import already holds, byte for byte.

    Two consecutive windows share one day (the previous import date), so a version taken by
    the previous run would otherwise be counted again. Identity is the record's whole JSON
    text, not (id, last_updated): a record changed without a new ``last_updated`` is kept.
    A partition written before texts were kept as the API sent them (``previous_reencoded``)
    holds them re-encoded by ``json.dumps``: the new texts are compared in that form, so the
    first import after the change counts no version twice.
    """
    if previous is None or raw.num_rows == 0 or previous.num_rows == 0:
        return raw, 0
    texts = raw[column].combine_chunks()
    probe = reencoded_texts(texts) if previous_reencoded else texts
    # Match the (small) new texts against the previous column, never the other way round:
    # after a full load the previous partition is the whole table.
    held = previous[column].combine_chunks()
    taken = held.filter(pc.is_in(held, value_set=probe))
    if len(taken) == 0:
        return raw, 0
    keep = pc.invert(pc.is_in(probe, value_set=taken))
    kept = raw.filter(keep)
    return kept, raw.num_rows - kept.num_rows


def texts_as_sent(target: PartitionedTable, value: str) -> bool:
    """Whether raw partition ``value`` holds the texts as the API sent them (marked so since
    the client kept them; earlier partitions hold them re-encoded)."""
    return target.file_metadata(value).get(RECORD_TEXTS_KEY) == AS_SENT


class Fetch(Protocol):
    """The API's pages of ``resource`` last updated on a day (None: all of it);
    ``held_records`` (the table's size at its last snapshot) bounds what a count may claim."""

    def __call__(
        self, resource: str, last_updated: date | None, held_records: int | None = None
    ) -> Sequence[PageLike]: ...


def held_records(lake: Lake, table: str, day: date) -> int | None:
    """Rows of the newest snapshot before ``day`` (None: no snapshot yet), read from its footer:
    what the API's announced count is judged against."""
    snapshots = tascomi_table(lake, "snapshot", table)
    base = snapshots.latest_before(partition_value(day))
    if base is None:
        return None
    with snapshots.open_parquet(base) as parquet:
        return parquet.metadata.num_rows


def ingest(
    lake: Lake, table: TascomiTable, day: date, fetch: Fetch, imported_at: datetime | None = None
) -> StageReport:
    """Fetch the import window from the API and publish it as one raw partition.

    The partition holds every record version first seen by this import: last updated from
    the previous import date up to the run (a full load when there is none), minus versions
    the previous import already holds. Re-running it against the same API state gives the
    same rows. A record served twice (edited while paging, or moved to a later day of the
    window while it was read) is kept once, at its newest version. Nothing is written unless
    every page arrived and every record has its id: a failure raises (naming table, partition
    and page) and leaves any earlier version of the partition as it was.
    """
    target = tascomi_table(lake, "api_response", table.name)
    window = import_window(target.partitions(), day)
    log.info("tascomi %s %s: %s", table.name, day, window.describe())
    answers: list[Sequence[PageLike]] = []
    requested = [None] if window.days is None else window.days
    held = held_records(lake, table.name, day)
    for asked in requested:
        try:
            got = fetch(table.name, asked, held_records=held)
        except ApiError as exc:  # the client names resource and page; add the partition
            raise type(exc)(
                f"tascomi {table.name} partition {partition_value(day)}: {exc}",
                describe=exc.describe,
                status=exc.status,
                url=exc.url,
            ) from exc
        answers.append(got)
        log.info(
            "tascomi %s %s: %s -> %d pages, %d records",
            table.name,
            day,
            asked or "all",
            len(got),
            sum(len(p.records) for p in got),
        )
    pages = [page for answer in answers for page in answer]
    checked = check_pages(pages, table.name, table.id_column, partition_value(day))
    if checked.superseded:
        log.warning(
            "tascomi %s %s: %d older version(s) dropped, a newer one came on another page: %s",
            table.name,
            day,
            checked.superseded,
            "; ".join(checked.examples),
        )
    imported_at = imported_at or datetime.now(UTC)
    raw, held_back = raw_response_table(table.name, checked.pages, day, imported_at)
    outliers = updated_outliers(checked.pages, imported_at)
    if outliers.unreadable or outliers.in_the_future:
        log.warning(
            "tascomi %s %s: taken with this import although last_updated is unreadable (%d) or "
            "after the run (%d): %s",
            table.name,
            day,
            outliers.unreadable,
            outliers.in_the_future,
            "; ".join(outliers.examples),
        )
    previous = target.read(window.previous_import, [table.name]) if window.previous_import else None
    reencoded = previous is not None and not texts_as_sent(target, window.previous_import or "")
    raw, already_taken = drop_already_taken(raw, table.name, previous, previous_reencoded=reencoded)
    raw, erased = drop_erased_records(lake, table.name, raw)
    written = target.write(
        partition_value(day), raw.replace_schema_metadata({RECORD_TEXTS_KEY: AS_SENT})
    )
    return StageReport(
        "api_response",
        partition_value(day),
        raw.num_rows,
        {
            "window": window.describe(),
            "previous_import_date": window.previous_import or "none",
            "pages": len(pages),
            "records_updated_after_import_date": held_back,
            "records_with_unreadable_last_updated": outliers.unreadable,
            "records_updated_after_the_run": outliers.in_the_future,
            "records_already_taken_by_previous_import": already_taken,
            "superseded_versions_dropped": checked.superseded,
            "erased_records_left_out": erased.rows,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


# --------------------------------------------------------------------------- parsed


def _require(lake: Lake, stage: str, table: str, value: str) -> PartitionedTable:
    source = tascomi_table(lake, stage, table)
    source.require(value, f"tascomi {table} partition {value}", f"upstream {stage}")
    return source


def parse(
    lake: Lake, table: TascomiTable, day: date, engine: Engine = DEFAULT_ENGINE
) -> StageReport:
    value = partition_value(day)
    raw = engine.read(_require(lake, "api_response", table.name, value), [value])
    try:
        result = engine.parse(raw, table.name)
    except (ValueError, pa.ArrowException) as exc:
        raise DataError(f"tascomi {table.name} partition {value}: cannot parse: {exc}") from exc
    written = engine.write(tascomi_table(lake, "parsed", table.name), value, result.frame)
    return StageReport(
        "parsed",
        value,
        written.rows,
        {
            "raw_rows": result.rows_in,
            "non_200_rows_dropped": result.non_200_rows,
            "exact_duplicate_records_dropped": result.exact_duplicates_dropped,
            "columns": len(engine.columns(result.frame)),
            "engine": engine.name,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


# --------------------------------------------------------------------------- increment


def refine(
    lake: Lake,
    table: TascomiTable,
    day: date,
    column_types: dict[str, str],
    engine: Engine = DEFAULT_ENGINE,
) -> StageReport:
    value = partition_value(day)
    parsed = engine.read(_require(lake, "parsed", table.name, value), [value])
    types = column_types if table.recast else {}
    lost = ids_lost_in_cast(lake, table, value, types.get(table.id_column))
    result = engine.recast(parsed, types)
    # The counts travel with the data, so checks read them per partition in any run.
    notes = {
        CAST_FAILURES_KEY: json.dumps(result.cast_failures),
        MISSING_COLUMNS_KEY: json.dumps(result.missing_columns),
        KEYS_LOST_KEY: json.dumps(lost),
    }
    written = engine.write(tascomi_table(lake, "increment", table.name), value, result.frame, notes)
    columns = engine.columns(parsed)
    untyped = [c for c in columns if c not in types]
    return StageReport(
        "increment",
        value,
        written.rows,
        {
            "ids_lost_in_cast": lost["count"],
            "ids_lost_in_cast_sample": lost["sample"],
            "cast_failures_total": sum(result.cast_failures.values()),
            "cast_failures_by_column": result.cast_failures,
            "catalogue_columns_missing": result.missing_columns,
            "typed_columns": len([c for c in types if c in columns]),
            "untyped_columns": len(untyped),
            "recast": table.recast,
            "engine": engine.name,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


def ids_lost_in_cast(
    lake: Lake, table: TascomiTable, value: str, id_type: str | None
) -> dict[str, object]:
    """Which of parsed partition ``value``'s ids the catalogue's cast of the id column would
    merge or null (``{"type", "count", "sample"}``): such an increment must not be applied."""
    if id_type is None:
        return {"type": "string", "count": 0, "sample": []}
    ids = tascomi_table(lake, "parsed", table.name).read(value, columns=[table.id_column])
    column = table.id_column
    lost = keys_lost_in_cast(ids[column], id_type) if column in ids.column_names else []
    return {"type": id_type, "count": len(lost), "sample": lost[:SAMPLE]}


def lost_ids_outcome(lake: Lake, table: TascomiTable, value: str) -> RuleOutcome:
    """The increment's ids all survived the cast as themselves (none merged, none nulled)."""
    notes = tascomi_table(lake, "increment", table.name).file_metadata(value)
    lost = json.loads(notes.get(KEYS_LOST_KEY, '{"count": 0, "sample": []}'))
    if not lost["count"]:
        return RuleOutcome(True, f"every {table.id_column} kept as itself", {"ids_lost": 0})
    return RuleOutcome(
        False,
        f"{lost['count']} {table.id_column} values would not survive the cast to "
        f"{lost['type']} (they would merge with another id or become null), e.g. "
        f"{lost['sample'][:5]}",
        {"ids_lost": lost["count"], "ids_lost_sample": lost["sample"]},
    )


# --------------------------------------------------------------------------- snapshot


IMPORT_STAGES = ("api_response", "parsed", "increment")


def snapshot_inputs(lake: Lake, table: str) -> lineage.Inputs:
    """Every import of ``table`` through the stages to its increment, and its snapshots, as
    published now (one listing per stage)."""
    snapshots = tascomi_table(lake, "snapshot", table)
    return lineage.Inputs(
        [
            lineage.Stage(stage, tascomi_table(lake, stage, table).written())
            for stage in IMPORT_STAGES
        ],
        snapshots.written(),
        recorded_base=lambda value: snapshots.file_metadata(value).get(lineage.BASE_KEY) or None,
    )


def snapshot(
    lake: Lake, table: TascomiTable, day: date, engine: Engine = DEFAULT_ENGINE
) -> StageReport:
    """Newest earlier snapshot + every import since it, applied by id.

    Refuses (publishes nothing) when an import since the base has no current increment or
    the base no longer matches its own inputs: that snapshot would be silently wrong.
    """
    value = partition_value(day)
    snapshots = tascomi_table(lake, "snapshot", table.name)
    increments = tascomi_table(lake, "increment", table.name)
    increments.require(value, f"tascomi {table.name} partition {value}", "increment")
    plan = lineage.plan(snapshot_inputs(lake, table.name), value)
    if not plan.ok:
        raise DataError(
            lineage.refusal(
                plan, f"tascomi {table.name} snapshot {value}", f"every stage of {table.name}"
            )
        )
    _refuse_lost_ids(lake, table, value, plan.applied)
    applied = engine.read(increments, plan.applied)
    try:
        result = engine.write_snapshot(
            snapshots, plan.base, applied, table.id_column, value, lineage.notes(plan)
        )
    except DataError as exc:
        raise DataError(f"tascomi {table.name} snapshot {value}: {exc}") from exc
    written = result.written
    return StageReport(
        "snapshot",
        value,
        written.rows,
        {
            "base_snapshot_date": plan.base or "none (first snapshot)",
            "increments_applied": plan.applied,
            "increment_rows": result.increment_rows,
            "rows_replaced": result.replaced_rows,
            "rows_inserted": result.inserted_rows,
            "rows_without_id_skipped": result.rows_without_id,
            "engine": engine.name,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


def _refuse_lost_ids(lake: Lake, table: TascomiTable, value: str, applied: list[str]) -> None:
    for imported in applied:
        outcome = lost_ids_outcome(lake, table, imported)
        if not outcome.passed:
            raise DataError(
                f"tascomi {table.name} snapshot {value} is not published: import {imported}: "
                f"{outcome.description}. Either the source corrects those ids, or keep the "
                f"table's {table.id_column} as text (remove it from the table's typed columns "
                "in the column-type catalogue) and backfill the table's whole history as one "
                "range."
            )


def inputs_outcome(lake: Lake, table: TascomiTable, value: str) -> RuleOutcome:
    """Snapshot ``value`` applied every import since its base, each as it is now."""
    footer = tascomi_table(lake, "snapshot", table.name).file_metadata(value)
    return lineage.proof(
        snapshot_inputs(lake, table.name), value, footer, f"every stage of {table.name}"
    )
