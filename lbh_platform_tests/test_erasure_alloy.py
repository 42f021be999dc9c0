"""Erasure of an Alloy item from every stage: the root table's exports and snapshots, and
its joined designs' rows (``primary_item``), with the lineage proof still green afterwards."""

from pathlib import Path

import pytest

from lbh_platform.alloy import stages
from lbh_platform.alloy.housekeeping import alloy_dataset_targets
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.alloy.stages import JOINED_ID, ROOT_ID
from lbh_platform.erasure import AuditLog, KeySet, Request, erase, find
from lbh_platform.storage.lake import Lake
from lbh_platform_tests.test_alloy_snapshots import (
    CREW_HEADER,
    DAYS,
    ROOT_HEADER,
    crew,
    job,
    jobs_dataset,
    run_day,
)

SALT = "test-salt-0123456789abcdef"
ITEM = "JOB-PERSON-77"


@pytest.fixture()
def lake(tmp_path) -> Lake:
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def value(day) -> str:
    return day.strftime("%Y%m%d")


def exports(lake, dataset):
    if dataset.mode == "full":
        full_exports(lake, dataset)
        return
    run_day(
        lake,
        dataset,
        DAYS[0],
        {
            "jobs": ROOT_HEADER + job(ITEM, "Mr Person's job") + job("J2", "two"),
            "crews_1": CREW_HEADER + crew(ITEM, "C1") + crew(ITEM, "C2") + crew("J2", "C3"),
        },
    )
    run_day(
        lake,
        dataset,
        DAYS[1],
        {"jobs": ROOT_HEADER + job("J2", "two edited"), "crews_1": CREW_HEADER + crew("J2", "C3")},
    )
    run_day(
        lake,
        dataset,
        DAYS[2],
        {
            "jobs": ROOT_HEADER + job(ITEM, "Mr Person's job again", "2024-03-06T09:00:00.000Z"),
            "crews_1": CREW_HEADER + crew(ITEM, "C1"),
        },
    )


def full_exports(lake, dataset):
    """Every export holds every item; the item is deleted upstream on the third day, so the
    later snapshots no longer hold it (they are published again all the same, in order)."""
    others = [f"J{n}" for n in range(2, 9)]
    for n, day in enumerate(DAYS[:3]):
        items = others + ([ITEM] if n < 2 else [])
        run_day(
            lake,
            dataset,
            day,
            {
                "jobs": ROOT_HEADER + "".join(job(i, f"{i} title {n}") for i in items),
                "crews_1": CREW_HEADER + "".join(crew(i, f"C{i}") for i in items),
            },
        )


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_an_item_is_erased_from_exports_snapshots_and_joined_designs(lake, tmp_path, mode):
    dataset = jobs_dataset(mode)
    exports(lake, dataset)
    targets = alloy_dataset_targets(lake, dataset, ROOT_ID, JOINED_ID)
    keys = KeySet([ITEM])
    held = {(h.stage, h.partition) for found in find(targets, keys) for h in found}
    assert ("api_response crews_1", value(DAYS[0])) in held
    assert ("snapshot jobs", value(DAYS[1])) in held  # kept by the incremental snapshot
    audit = AuditLog.of(lake)
    report = erase(Request("alloy", "jobs", "analyst"), targets, keys, audit=audit, salt=SALT)
    assert not report.residual
    for day in DAYS[:3]:
        for table in dataset.tables:
            for stage in ("api_response", "snapshot"):
                rows = alloy_table(lake, stage, dataset.name, table).read(value(day)).to_pylist()
                assert not any(ITEM in str(r) for r in rows), (stage, table, day)
        outcome = stages.inputs_outcome(lake, dataset, "jobs", value(day))
        assert outcome.passed, outcome.description
        outcome = stages.inputs_outcome(lake, dataset, "crews_1", value(day))
        assert outcome.passed, outcome.description
    kept = alloy_table(lake, "snapshot", dataset.name, "crews_1").read(value(DAYS[1])).to_pylist()
    assert kept and all(r["primary_item"] != ITEM for r in kept)
    audit_files = (Path(tmp_path) / "refined" / "lbh-audit").rglob("*.json")
    text = "".join(p.read_text() for p in audit_files)
    assert ITEM not in text and "Person" not in text
    # A second erasure finds nothing and changes nothing.
    again = erase(Request("alloy", "jobs", "analyst"), targets, keys, audit=audit, salt=SALT)
    assert again.changes == []


def test_the_next_snapshot_after_an_erasure_builds_on_the_erased_base(lake):
    dataset = jobs_dataset()
    exports(lake, dataset)
    targets = alloy_dataset_targets(lake, dataset, ROOT_ID, JOINED_ID)
    erase(Request("alloy", "jobs", "a"), targets, KeySet([ITEM]), audit=None, salt=None)
    reports = run_day(lake, dataset, DAYS[3], {"jobs": ROOT_HEADER, "crews_1": CREW_HEADER})
    assert reports["jobs"].metadata["base_snapshot_date"] == value(DAYS[2])
    rows = alloy_table(lake, "snapshot", dataset.name, "jobs").read(value(DAYS[3])).to_pylist()
    assert [r["item_id"] for r in rows] == ["J2"]
