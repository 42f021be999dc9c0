"""Erasure through every stage of a Tascomi table: raw responses (the record's JSON text,
matched by its id exactly), parsed, increment and snapshots; verified, audited without the
value, a no-op the second time, the lineage proof still green, and the next run does not
bring the record back."""

import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lbh_platform.erasure import (
    AuditLog,
    KeySet,
    Request,
    erase,
    erased_keys,
    find,
)
from lbh_platform.erasure.locate import blocked
from lbh_platform.erasure.paths import parse_path
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.housekeeping import tascomi_targets
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.test_faults_snapshot_inputs import TABLE, TYPES, Api

SALT = "test-salt-0123456789abcdef"
PERSON = 424242  # the record to erase: its id is distinctive, so no other text holds it
NEIGHBOUR = 4242  # an id whose text is inside the erased one's: must survive (no substring)
D0 = date(2024, 3, 4)
DAYS = [D0 + timedelta(days=n) for n in range(4)]


@pytest.fixture()
def lake(tmp_path) -> Lake:
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def value(day: date) -> str:
    return day.strftime("%Y%m%d")


def run_day(lake: Lake, fetch, day: date) -> None:
    stages.ingest(lake, TABLE, day, fetch)
    stages.parse(lake, TABLE, day)
    stages.refine(lake, TABLE, day, TYPES)
    stages.snapshot(lake, TABLE, day)


def pipeline(lake: Lake) -> Api:
    api = Api()
    for i in (1, 2, NEIGHBOUR, PERSON):
        api.edit(i, D0 - timedelta(days=1), name=f"v0-{i}", email=f"p{i}@example.org")
    run_day(lake, api.fetch, DAYS[0])
    api.edit(PERSON, DAYS[1], name="Person Edited")
    api.edit(1, DAYS[1], name="v1-1")
    run_day(lake, api.fetch, DAYS[1])
    api.edit(2, DAYS[2], name="v2-2")
    run_day(lake, api.fetch, DAYS[2])
    api.edit(PERSON, DAYS[3], name="Person Again")
    run_day(lake, api.fetch, DAYS[3])
    return api


def every_file_text(root: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in sorted(root.rglob("*")) if p.is_file())


def mtimes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*.parquet")}


def test_a_record_is_erased_from_every_stage_and_audited_without_its_value(lake, tmp_path):
    pipeline(lake)
    targets = tascomi_targets(lake, TABLE.name)
    keys = KeySet([str(PERSON)])
    before = [h for found in find(targets, keys) for h in found]
    held = {(h.stage, h.partition) for h in before}
    # The record is in the raw responses of the days it was served, in their later stages,
    # and in every snapshot since it appeared.
    assert ("api_response", value(DAYS[0])) in held
    assert ("api_response", value(DAYS[1])) in held
    assert {("snapshot", value(d)) for d in DAYS} <= held
    assert ("api_response", value(DAYS[2])) not in held

    audit = AuditLog.of(lake)
    request = Request("tascomi", TABLE.name, "analyst-1", run_id="run-123", reference="DPR-9")
    report = erase(request, targets, keys, audit=audit, salt=SALT)

    assert not report.residual
    assert not [h for found in find(targets, keys) for h in found]
    for day in DAYS:
        ids = tascomi_table(lake, "snapshot", TABLE.name).read(value(day), ["id"])["id"].to_pylist()
        assert PERSON not in ids and NEIGHBOUR in ids and {1, 2} <= set(ids)
        raw = tascomi_table(lake, "api_response", TABLE.name)
        if raw.exists(value(day)):
            texts = raw.read(value(day), [TABLE.name])[TABLE.name].to_pylist()
            assert not any(str(PERSON) in t for t in texts)
    # Every snapshot is still provably built on its inputs (rewrites kept the write order).
    for day in DAYS:
        outcome = stages.inputs_outcome(lake, TABLE, value(day))
        assert outcome.passed, outcome.description
    # The audit: who, when, rows per partition, a salted hash; never the value or the name.
    text = every_file_text(tmp_path / "refined" / "lbh-audit")
    assert str(PERSON) not in text and "Person" not in text
    entries = audit.entries("erasure")
    assert [e["status"] for e in entries] == ["started", "completed"]
    done = entries[-1]
    assert done["who"] == "analyst-1" and done["run_id"] == "run-123" and done["verified"]
    assert done["key_hashes"] and len(done["key_hashes"][0]) == 64
    removed = {(c["stage"], c["partition"]): c["rows_removed"] for c in done["changes"]}
    assert removed[("snapshot", value(DAYS[3]))] == 1
    assert removed[("api_response", value(DAYS[0]))] == 1
    assert done["rows_removed"] == report.rows_removed == sum(removed.values())


def test_a_second_erasure_of_the_same_key_changes_nothing(lake, tmp_path):
    pipeline(lake)
    targets = tascomi_targets(lake, TABLE.name)
    keys = KeySet([str(PERSON)])
    audit = AuditLog.of(lake)
    erase(Request("tascomi", TABLE.name, "a"), targets, keys, audit=audit, salt=SALT)
    stamps = mtimes(tmp_path / "raw") | mtimes(tmp_path / "refined")
    again = erase(Request("tascomi", TABLE.name, "a"), targets, keys, audit=audit, salt=SALT)
    assert again.changes == [] and again.held == [] and again.rows_removed == 0
    assert mtimes(tmp_path / "raw") | mtimes(tmp_path / "refined") == stamps


def test_the_next_run_does_not_bring_an_erased_record_back(lake):
    api = pipeline(lake)
    audit = AuditLog.of(lake)
    keys = KeySet([str(PERSON)])
    erase(
        Request("tascomi", TABLE.name, "a"),
        tascomi_targets(lake, TABLE.name),
        keys,
        audit=audit,
        salt=SALT,
    )
    erased = erased_keys(audit, "tascomi", TABLE.name, SALT)
    assert erased(str(PERSON)) and not erased(str(NEIGHBOUR))

    def fetch(resource, day, held_records=None):
        # What the ingest does with the recorded erasures: drop a record whose key is erased,
        # unless the source changed it after the erasure.
        pages = api.fetch(resource, day, held_records)
        return [
            replace(p, records=[r for r in p.records if not blocked(r, ID, erased, UPDATED)])
            for p in pages
        ]

    # The source still serves the record (last updated on the previous import date, which
    # the next window asks for again): it is not taken, and the snapshot stays without it.
    day = DAYS[3] + timedelta(days=1)
    assert any(r["id"] == str(PERSON) for p in api.fetch(TABLE.name, DAYS[3]) for r in p.records)
    run_day(lake, fetch, day)
    ids = tascomi_table(lake, "snapshot", TABLE.name).read(value(day), ["id"])["id"].to_pylist()
    assert PERSON not in ids and NEIGHBOUR in ids


ID = parse_path("id")
UPDATED = parse_path("last_updated")


def test_a_record_the_source_changes_after_the_erasure_comes_back():
    """The source is the system of record: a version changed after the erasure is new data."""
    from lbh_platform.erasure.keys import ErasedKeys, key_hash

    erased_at = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
    erased = ErasedKeys(SALT, {key_hash(SALT, "7"): erased_at})
    old = {"id": "7", "last_updated": "2024-03-07 10:00:00"}
    new = {"id": "7", "last_updated": "2024-03-09 10:00:00"}
    assert blocked(old, ID, erased, UPDATED)
    assert not blocked(new, ID, erased, UPDATED)
    assert blocked(new, ID, erased)  # without a change time: always dropped
    assert not blocked({"id": "8", "last_updated": "2024-03-07"}, ID, erased, UPDATED)


def test_files_keep_their_footer_notes(lake):
    pipeline(lake)
    increments = tascomi_table(lake, "increment", TABLE.name)
    notes = {v: increments.file_metadata(v) for v in increments.partitions()}
    erase(
        Request("tascomi", TABLE.name, "a"),
        tascomi_targets(lake, TABLE.name),
        KeySet([str(PERSON)]),
        audit=None,
        salt=None,
    )
    assert {v: increments.file_metadata(v) for v in increments.partitions()} == notes
    assert os.path.exists(increments.base)


def test_the_history_is_erased_and_rebuilt_from_the_erased_increments(lake, monkeypatch):
    """The history's segments lose the record with every other stage; the history then no
    longer holds its snapshots as they are (they were re-written), and its next run rebuilds
    it from the erased increments: "as of D" is snapshot D again, without the record."""
    from lbh_platform.history import maintain
    from lbh_platform.tascomi.history import history_source

    api = pipeline(lake)
    source = history_source(lake, TABLE.name)
    for day in DAYS:
        maintain.update(source, value(day))
    targets = tascomi_targets(lake, TABLE.name)
    keys = KeySet([str(PERSON)])
    held = {h.stage for found in find(targets, keys) for h in found}
    assert "history" in held
    monkeypatch.setenv("LBH_ERASURE_SALT", SALT)  # the ingest reads the recorded erasures
    audit = AuditLog.of(lake)  # recorded, so the next import leaves the record out
    erase(Request("tascomi", TABLE.name, "dpo"), targets, keys, audit=audit, salt=SALT)
    assert PERSON not in maintain.versions(source.history)["id"].to_pylist()
    assert maintain.behind(source, value(DAYS[-1])) is not None
    nxt = DAYS[-1] + timedelta(days=1)
    api.edit(1, nxt, name="v4-1")
    run_day(lake, api.fetch, nxt)
    maintain.update(source, value(nxt))
    assert maintain.behind(source, value(nxt)) is None
    snapshots = tascomi_table(lake, "snapshot", TABLE.name)
    for day in [*DAYS, nxt]:
        got = maintain.as_of(source.history, value(day))
        want = snapshots.read(value(day), ["id", "name"])
        assert sorted(got.select(["id", "name"]).to_pylist(), key=str) == sorted(
            want.select(["id", "name"]).to_pylist(), key=str
        )
        assert PERSON not in got["id"].to_pylist()
