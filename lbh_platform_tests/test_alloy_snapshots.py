"""Alloy stages over hand-made exports: joined links removed upstream, columns that come and
go, an Item ID exported twice, ids that differ only as text, and CSV record counts."""

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lbh_platform.alloy import stages
from lbh_platform.alloy.client import ExportResult
from lbh_platform.alloy.datasets import AlloyDataset, parse_dataset
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.common.errors import DataError
from lbh_platform.storage.lake import Lake

DAYS = [date(2024, 3, 4) + timedelta(days=n) for n in range(4)]
ROOT_HEADER = "Item ID,Title,Last Edit Date\r\n"
CREW_HEADER = (
    "AQS Path,Primary Item,Predecessor Item,Predecessor File,Predecessor Title,"
    "Predecessor Subtitle,Item ID,Name\r\n"
)


def jobs_dataset(mode: str = "incremental") -> AlloyDataset:
    """A root design of jobs joined to the crews working on each (one row per crew)."""
    document = {
        "name": "jobs",
        "mode": mode,
        "fileName": "Jobs.csv",
        "join_designs": {"root.attributes_jobsCrews": "Crews"},
        "aqs": {
            "type": "Join",
            "properties": {
                "dodiCode": "designs_jobs_0123456789abcdef01234567",
                "attributes": ["attributes_itemsTitle", "attributes_jobsCrews"],
                "joinAttributes": ["root.attributes_jobsCrews.attributes_crewsName"],
            },
            "children": [],
        },
    }
    return parse_dataset(document, Path("jobs.json"))


def crew(job: str, crew_id: str) -> str:
    return f"root.attributes_jobsCrews,{job},{job},,{job} title,,{crew_id},Crew {crew_id}\r\n"


def job(item: str, title: str, edited: str = "2024-03-04T09:00:00.000Z") -> str:
    return f"{item},{title},{edited}\r\n"


def exporting(tables: dict[str, str], reported: int | None = None):
    """An export function (as the API resource's) that returns these CSV texts."""

    def run(dataset: AlloyDataset, since: datetime | None) -> ExportResult:
        return ExportResult(
            dataset.name, datetime.now(UTC), "task-1", dict(tables), reported, dataset.query
        )

    return run


@pytest.fixture()
def lake(tmp_path) -> Lake:
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def run_day(lake, dataset, day, tables, *, reported=None, snapshot=True):
    stages.export(lake, dataset, day, exporting(tables, reported))
    if not snapshot:
        return {}
    return {t: stages.snapshot(lake, dataset, t, day) for t in dataset.tables}


def rows(lake, dataset, table, day) -> list[dict]:
    return (
        alloy_table(lake, "snapshot", dataset.name, table).read(day.strftime("%Y%m%d")).to_pylist()
    )


def crews_of(lake, dataset, day) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in rows(lake, dataset, "crews_1", day):
        found.setdefault(row["primary_item"], set()).add(row["item_id"])
    return found


# --------------------------------------------------------------------------- removed links


def test_two_crews_then_one_then_none(lake):
    """The joined table follows the root item: links removed upstream leave the snapshot."""
    dataset = jobs_dataset()
    run_day(
        lake,
        dataset,
        DAYS[0],
        {
            "jobs": ROOT_HEADER + job("J1", "one") + job("J2", "two"),
            "crews_1": CREW_HEADER + crew("J1", "C1") + crew("J1", "C2") + crew("J2", "C3"),
        },
    )
    assert crews_of(lake, dataset, DAYS[0]) == {"J1": {"C1", "C2"}, "J2": {"C3"}}
    run_day(
        lake,
        dataset,
        DAYS[1],
        {"jobs": ROOT_HEADER + job("J1", "one edited"), "crews_1": CREW_HEADER + crew("J1", "C1")},
    )
    assert crews_of(lake, dataset, DAYS[1]) == {"J1": {"C1"}, "J2": {"C3"}}
    reports = run_day(
        lake, dataset, DAYS[2], {"jobs": ROOT_HEADER + job("J1", "no crew"), "crews_1": CREW_HEADER}
    )
    # J1 was exported with no crew at all: its last link goes; J2 was not exported: kept.
    assert crews_of(lake, dataset, DAYS[2]) == {"J2": {"C3"}}
    assert reports["crews_1"].metadata["replaced"] == 1
    assert reports["crews_1"].metadata["root_items_exported"] == 1
    root = {r["item_id"]: r["title"] for r in rows(lake, dataset, "jobs", DAYS[2])}
    assert root == {"J1": "no crew", "J2": "two"}


def test_removed_links_over_several_pending_exports(lake):
    """Snapshots that catch up over several days apply each day's links in order."""
    dataset = jobs_dataset()
    run_day(
        lake,
        dataset,
        DAYS[0],
        {
            "jobs": ROOT_HEADER + job("J1", "a") + job("J2", "b"),
            "crews_1": CREW_HEADER + crew("J1", "C1") + crew("J2", "C2"),
        },
    )
    days = {
        DAYS[1]: {
            "jobs": ROOT_HEADER + job("J1", "a2") + job("J2", "b2"),
            "crews_1": CREW_HEADER + crew("J2", "C5"),
        },
        DAYS[2]: {"jobs": ROOT_HEADER + job("J2", "b3"), "crews_1": CREW_HEADER},
        DAYS[3]: {"jobs": ROOT_HEADER + job("J1", "a3"), "crews_1": CREW_HEADER + crew("J1", "C9")},
    }
    for day, tables in days.items():
        run_day(lake, dataset, day, tables, snapshot=False)
    report = stages.snapshot(lake, dataset, "crews_1", DAYS[3])
    assert report.metadata["exports_applied"] == ["20240305", "20240306", "20240307"]
    assert crews_of(lake, dataset, DAYS[3]) == {"J1": {"C9"}}


def test_a_joined_export_without_its_root_partition_fails_naming_it(lake):
    dataset = jobs_dataset()
    run_day(
        lake,
        dataset,
        DAYS[0],
        {"jobs": ROOT_HEADER + job("J1", "a"), "crews_1": CREW_HEADER + crew("J1", "C1")},
    )
    # An export that stopped after its joined tables: the root (published last) is missing.
    crews = alloy_table(lake, "api_response", "jobs", "crews_1")
    crews.write("20240305", crews.read("20240304"))
    with pytest.raises(DataError, match=r"jobs/crews_1 snapshot 20240305.*20240305.*root"):
        stages.snapshot(lake, dataset, "crews_1", DAYS[1])
    assert alloy_table(lake, "snapshot", "jobs", "crews_1").partitions() == ["20240304"]


def test_full_mode_joined_table_is_the_export(lake):
    dataset = jobs_dataset("full")
    others = [f"J{n}" for n in range(2, 11)]
    jobs = ROOT_HEADER + job("J1", "a") + "".join(job(j, j) for j in others)
    crews = "".join(crew(j, f"C{j}") for j in others)
    run_day(
        lake, dataset, DAYS[0], {"jobs": jobs, "crews_1": CREW_HEADER + crew("J1", "C1") + crews}
    )
    run_day(lake, dataset, DAYS[1], {"jobs": jobs, "crews_1": CREW_HEADER + crews})
    assert set(crews_of(lake, dataset, DAYS[1])) == set(others)


# --------------------------------------------------------------------------- columns


def test_a_column_added_by_a_later_export_is_null_for_older_rows(lake):
    dataset = jobs_dataset()
    run_day(
        lake,
        dataset,
        DAYS[0],
        {
            "jobs": ROOT_HEADER + job("J1", "a") + job("J2", "b"),
            "crews_1": CREW_HEADER + crew("J1", "C1"),
        },
    )
    wider = "Item ID,Title,Last Edit Date,Crew Size\r\n" + "J2,b2,2024-03-05T09:00:00.000Z,3\r\n"
    reports = run_day(lake, dataset, DAYS[1], {"jobs": wider, "crews_1": CREW_HEADER})
    got = {r["item_id"]: r for r in rows(lake, dataset, "jobs", DAYS[1])}
    assert got["J2"]["crew_size"] == "3" and got["J2"]["title"] == "b2"
    assert got["J1"]["crew_size"] is None and got["J1"]["title"] == "a"
    assert reports["jobs"].metadata["columns_added"] == ["crew_size"]
    assert reports["jobs"].metadata["columns_missing_from_export"] == []


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_a_column_gone_from_the_export_is_kept_as_null_and_reported(lake, mode, caplog):
    dataset = jobs_dataset(mode)
    run_day(
        lake,
        dataset,
        DAYS[0],
        {"jobs": ROOT_HEADER + job("J1", "a") + job("J2", "b"), "crews_1": CREW_HEADER},
    )
    narrower = (
        "Item ID,Last Edit Date\r\nJ1,2024-03-05T09:00:00.000Z\r\nJ2,2024-03-04T09:00:00Z\r\n"
    )
    caplog.set_level(logging.INFO, logger="lbh_platform.alloy.stages")
    reports = run_day(lake, dataset, DAYS[1], {"jobs": narrower, "crews_1": CREW_HEADER})
    got = {r["item_id"]: r for r in rows(lake, dataset, "jobs", DAYS[1])}
    assert "title" in got["J1"] and got["J1"]["title"] is None
    assert got["J2"]["title"] is None  # both were exported without it
    metadata = reports["jobs"].metadata
    assert metadata["columns_missing_from_export"] == ["title"]
    assert metadata["columns_added"] == []
    assert "title" in caplog.text and "jobs/jobs" in caplog.text


# --------------------------------------------------------------------------- repeated ids


@pytest.mark.parametrize("newest_first", [True, False])
@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_an_item_exported_twice_keeps_its_newest_edit_and_is_counted(lake, mode, newest_first):
    dataset = jobs_dataset(mode)
    newest = job("J1", "newest", "2024-03-04T11:00:00.000Z")
    older = job("J1", "older", "2024-03-04T10:59:59.000Z")
    twice = ROOT_HEADER + (newest if newest_first else older) + job("J2", "other")
    twice += older if newest_first else newest
    export_reports = stages.export(
        lake, dataset, DAYS[0], exporting({"jobs": twice, "crews_1": CREW_HEADER})
    )
    root_export = next(r for r in export_reports if r.table == "jobs")
    assert root_export.metadata["duplicate_item_ids"] == 1
    report = stages.snapshot(lake, dataset, "jobs", DAYS[0])
    got = {r["item_id"]: r["title"] for r in rows(lake, dataset, "jobs", DAYS[0])}
    assert got == {"J1": "newest", "J2": "other"}
    assert report.metadata["duplicate_ids"] == 1
    outcome = stages.export_ids_outcome(lake, dataset, "20240304")
    assert not outcome.passed and outcome.metadata["duplicate_item_ids"] == 1
    assert "J1" in outcome.description


def test_without_a_last_edit_column_the_later_row_wins(lake):
    dataset = jobs_dataset()
    twice = "Item ID,Title\r\nJ1,first\r\nJ2,other\r\nJ1,second\r\n"
    run_day(lake, dataset, DAYS[0], {"jobs": twice, "crews_1": CREW_HEADER})
    got = {r["item_id"]: r["title"] for r in rows(lake, dataset, "jobs", DAYS[0])}
    assert got == {"J1": "second", "J2": "other"}


def test_unique_ids_pass_the_export_check(lake):
    dataset = jobs_dataset()
    run_day(lake, dataset, DAYS[0], {"jobs": ROOT_HEADER + job("J1", "a"), "crews_1": CREW_HEADER})
    assert stages.export_ids_outcome(lake, dataset, "20240304").passed


# --------------------------------------------------------------------------- ids as text


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_ids_that_differ_as_text_stay_distinct(lake, mode):
    dataset = jobs_dataset(mode)
    first = ROOT_HEADER + job("1", "one") + job("01", "oh-one") + job('" 1"', "space-one")
    run_day(lake, dataset, DAYS[0], {"jobs": first, "crews_1": CREW_HEADER})
    exported = alloy_table(lake, "api_response", "jobs", "jobs").read("20240304")
    assert exported["item_id"].to_pylist() == ["1", "01", " 1"]
    got = {r["item_id"]: r["title"] for r in rows(lake, dataset, "jobs", DAYS[0])}
    assert got == {"1": "one", "01": "oh-one", " 1": "space-one"}
    edited = ROOT_HEADER + job("01", "oh-one edited", "2024-03-05T09:00:00.000Z")
    if mode == "full":
        edited += job("1", "one") + job('" 1"', "space-one")
    reports = run_day(lake, dataset, DAYS[1], {"jobs": edited, "crews_1": CREW_HEADER})
    got = {r["item_id"]: r["title"] for r in rows(lake, dataset, "jobs", DAYS[1])}
    assert got == {"1": "one", "01": "oh-one edited", " 1": "space-one"}
    assert reports["jobs"].metadata.get("deleted", 0) == 0
    assert reports["jobs"].metadata.get("duplicate_ids", 0) == 0


# --------------------------------------------------------------------------- counts


def test_the_task_count_is_compared_with_csv_records_not_lines(lake):
    dataset = jobs_dataset()
    text = (
        ROOT_HEADER
        + 'J1,"a title\r\nover two lines",2024-03-04T09:00:00.000Z\r\n'
        + job("J2", "b")
        + "\r\n"
    )
    reports = run_day(lake, dataset, DAYS[0], {"jobs": text, "crews_1": CREW_HEADER}, reported=2)
    outcome = stages.export_count_outcome(lake, dataset, "20240304")
    assert outcome.passed, outcome.description
    assert outcome.metadata["csv_rows"] == 2
    assert reports["jobs"].rows == 2


# --------------------------------------------------------------------------- inputs proven


def test_an_export_re_run_under_a_snapshot_fails_the_check_and_the_next_snapshot(lake):
    """Every snapshot proves its exports: one re-run after snapshots were built on it makes
    them unsound (red check) and the next snapshot refuses to build on them."""
    dataset = jobs_dataset()
    first = {"jobs": ROOT_HEADER + job("J1", "a"), "crews_1": CREW_HEADER + crew("J1", "C1")}
    run_day(lake, dataset, DAYS[0], first)
    run_day(lake, dataset, DAYS[1], {"jobs": ROOT_HEADER + job("J2", "b"), "crews_1": CREW_HEADER})
    for table in dataset.tables:
        assert stages.inputs_outcome(lake, dataset, table, "20240305").passed
    # The export of day 0 is re-run (it now holds another edit): snapshots 0 and 1 are stale.
    again = {**first, "jobs": ROOT_HEADER + job("J1", "z")}
    stages.export(lake, dataset, DAYS[0], exporting(again))
    outcome = stages.inputs_outcome(lake, dataset, "jobs", "20240305")
    assert not outcome.passed and outcome.metadata["first_unsound_snapshot"] == "20240304"
    stages.export(lake, dataset, DAYS[2], exporting(first))
    with pytest.raises(DataError, match=r"jobs/jobs snapshot 20240306 is not published"):
        stages.snapshot(lake, dataset, "jobs", DAYS[2])


def test_snapshot_metadata_and_footer_record_every_export_applied(lake):
    dataset = jobs_dataset()
    tables = {"jobs": ROOT_HEADER + job("J1", "a"), "crews_1": CREW_HEADER + crew("J1", "C1")}
    run_day(lake, dataset, DAYS[0], tables)
    run_day(lake, dataset, DAYS[1], tables, snapshot=False)  # day 1's snapshot never built
    run_day(lake, dataset, DAYS[2], tables, snapshot=False)
    report = stages.snapshot(lake, dataset, "crews_1", DAYS[2])
    assert report.metadata["base_snapshot_date"] == "20240304"
    assert report.metadata["exports_applied"] == ["20240305", "20240306"]
    outcome = stages.inputs_outcome(lake, dataset, "crews_1", "20240306")
    assert outcome.passed and outcome.metadata["imports_applied"] == ["20240305", "20240306"]


def test_full_mode_proves_only_its_own_days_export(lake):
    dataset = jobs_dataset("full")
    tables = {"jobs": ROOT_HEADER + job("J1", "a"), "crews_1": CREW_HEADER + crew("J1", "C1")}
    run_day(lake, dataset, DAYS[0], tables)
    run_day(lake, dataset, DAYS[1], tables, snapshot=False)  # a full export not snapshotted
    run_day(lake, dataset, DAYS[2], tables)
    assert stages.inputs_outcome(lake, dataset, "jobs", "20240306").passed
    stages.export(lake, dataset, DAYS[2], exporting(tables))  # re-run after its snapshot
    assert not stages.inputs_outcome(lake, dataset, "jobs", "20240306").passed
