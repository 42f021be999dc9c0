"""Fault injection for erasure and retention: a process killed mid-erasure leaves every
partition either as it was or fully erased, never half-written, and running the erasure again
finishes it with every snapshot still proven sound; a retention run stopped half-way is
finished by running it again. Each case is recorded in the ``faults`` ledger."""

from datetime import date

import pyarrow as pa
import pytest

from lbh_platform.erasure import AuditLog, KeySet, Request, erase, find, scrub
from lbh_platform.event_streams.housekeeping import event_stream_targets
from lbh_platform.event_streams.inputs import Inputs
from lbh_platform.retention import RetentionPolicy, apply_retention, plan_retention
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import TEMPORARY_PREFIX, PartitionedTable
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.housekeeping import tascomi_targets
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.test_erasure_events import TENURE, updated_entity
from lbh_platform_tests.test_erasure_events import pipeline as tenure_pipeline
from lbh_platform_tests.test_erasure_tascomi import DAYS, PERSON, pipeline, value
from lbh_platform_tests.test_faults_snapshot_inputs import TABLE

pytestmark = pytest.mark.faults
SALT = "test-salt-0123456789abcdef"


class Killed(BaseException):
    """The process dies here (not an Exception: nothing may catch and carry on)."""


def kill_after(monkeypatch, publishes: int) -> None:
    """Let ``publishes`` partitions be published, then die at the moment of the next one."""
    real = PartitionedTable._publish
    count = {"n": 0}

    def publish(self, temporary, final):
        if count["n"] == publishes:
            raise Killed()
        count["n"] += 1
        real(self, temporary, final)

    monkeypatch.setattr(PartitionedTable, "_publish", publish)


def contents(targets) -> dict[tuple[str, str], pa.Table]:
    return {
        (t.stage, v): t.table.read(v)
        for t in targets
        if hasattr(t, "table")
        for v in t.table.partitions()
    }


def judge(targets, before, keys) -> tuple[int, int]:
    """(partitions neither old nor new, rows of other records lost)."""
    corrupted = lost = 0
    by_stage = {t.stage: t for t in targets if hasattr(t, "table")}
    for (stage, v), old in before.items():
        now = by_stage[stage].table.read(v)
        new, _ = scrub(old, by_stage[stage].locator, keys)
        if not (now.equals(old) or now.equals(new)):
            corrupted += 1
            lost += max(0, new.num_rows - now.num_rows)
    return corrupted, lost


@pytest.mark.parametrize("publishes", [0, 2, 5, 8])
def test_a_crash_mid_erasure_leaves_each_partition_old_or_new(
    tmp_path, monkeypatch, faults, publishes
):
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    pipeline(lake)
    targets = tascomi_targets(lake, TABLE.name)
    keys = KeySet([str(PERSON)])
    before = contents(targets)
    audit = AuditLog.of(lake)
    kill_after(monkeypatch, publishes)
    with pytest.raises(Killed):
        erase(Request("tascomi", TABLE.name, "a"), targets, keys, audit=audit, salt=SALT)
    monkeypatch.undo()
    corrupted, lost = judge(targets, before, keys)
    leftovers = [p for p in tmp_path.rglob(f"{TEMPORARY_PREFIX}*")]
    assert [e["status"] for e in audit.entries("erasure")] == ["started", "interrupted"]
    # Running it again finishes the erasure; every snapshot is proven sound afterwards.
    report = erase(Request("tascomi", TABLE.name, "a"), targets, keys, audit=audit, salt=SALT)
    finished = not report.residual and not [h for f in find(targets, keys) for h in f]
    sound = all(stages.inputs_outcome(lake, TABLE, value(d)).passed for d in DAYS)
    faults.record(
        survived=not corrupted and not leftovers and finished and sound,
        lost=lost,
        corrupted=corrupted,
    )
    assert corrupted == 0 and lost == 0 and leftovers == []
    assert finished and sound


def test_a_crash_between_the_raw_files_and_the_events_is_finished_by_a_rerun(
    tmp_path, monkeypatch, faults
):
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    stream = tenure_pipeline(lake, json_events=False)
    keys = KeySet([updated_entity(stream)])
    targets = event_stream_targets(lake, "tenure")
    kill_after(monkeypatch, 0)  # the raw files are erased, then no partition is published
    with pytest.raises(Killed):
        erase(Request("event_streams", "tenure", "a"), targets, keys, audit=None, salt=None)
    monkeypatch.undo()
    raw_erased = not find(targets[:1], keys)[0]
    erase(Request("event_streams", "tenure", "a"), targets, keys, audit=None, salt=None)
    stale = Inputs(lake, TENURE).stale_snapshots()
    finished = not [h for f in find(targets, keys) for h in f]
    faults.record(survived=raw_erased and finished and stale == {})
    assert raw_erased and finished and stale == {}


def test_a_retention_run_stopped_half_way_is_finished_by_running_it_again(tmp_path, faults):
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    snapshots = tascomi_table(lake, "snapshot", "applications")
    values = [f"202401{d:02d}" for d in range(1, 9)]
    for n, v in enumerate(values):
        snapshots.write(v, pa.table({"id": [n]}))
    plan = plan_retention(
        values,
        RetentionPolicy(daily_days=1, month_ends=False),
        date(2024, 1, 9),
    )

    class FailingCatalog:
        calls = 0

        def register(self, registration):
            pass

        def unregister(self, removal):
            FailingCatalog.calls += 1
            if FailingCatalog.calls == 3:
                raise OSError("the catalogue went away")

    failing = PartitionedTable(
        snapshots.fs,
        snapshots.base,
        "snapshot_date",
        snapshots.display,
        catalog=snapshots.catalog,
        catalogs=[FailingCatalog()],
    )
    with pytest.raises(OSError):
        apply_retention(failing, plan, name="tascomi/applications", who="ops")
    left = snapshots.partitions()
    readable = all(snapshots.read(v).num_rows == 1 for v in left)
    result = apply_retention(snapshots, plan, name="tascomi/applications", who="ops")
    done = snapshots.partitions() == plan.keep == [values[-1]]
    faults.record(survived=readable and done, corrupted=0 if readable else 1)
    assert len(left) == len(values) - 2 and readable
    assert done and len(result.removed) == len(plan.delete) - 2
