"""The next daily run does not bring back an erased record, until the source changes it
again: Tascomi's import (by the record's id in its JSON text, ``last_updated`` in London
time), Alloy's export (the root item and its joined rows, together) and an event stream (an
entity's events, or one person inside its household). The erasures are recorded by the
engine itself, as the erase command records them."""

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.alloy.erased import drop_erased_export
from lbh_platform.alloy.housekeeping import alloy_dataset_targets
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure import AuditLog, KeySet, Request, erase
from lbh_platform.erasure.recorded import drop_erased_rows, erased_paths
from lbh_platform.event_streams.erased import drop_erased_events, drop_erased_items
from lbh_platform.event_streams.housekeeping import event_stream_targets
from lbh_platform.event_streams.spec import stream_named
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.erased import LONDON, drop_erased_records
from lbh_platform.tascomi.housekeeping import tascomi_targets
from lbh_platform.tascomi.locations import tascomi_table

SALT = "test-salt-0123456789abcdef"


@pytest.fixture()
def lake(tmp_path, monkeypatch) -> Lake:
    monkeypatch.setenv("LBH_ERASURE_SALT", SALT)
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def london(moment: datetime) -> str:
    """A Tascomi ``last_updated``: London local time, no zone."""
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S")


def raw_contacts(*records: dict) -> pa.Table:
    return pa.table(
        {
            "contacts": [json.dumps(r) for r in records],
            "page_number": pa.array([1] * len(records), pa.int32()),
        }
    )


def erase_keys(lake: Lake, source: str, table: str, targets, *keys: str) -> datetime:
    before = datetime.now(UTC)
    erase(Request(source, table, "test"), targets, KeySet(keys), audit=AuditLog.of(lake), salt=SALT)
    return before


# --------------------------------------------------------------------------- Tascomi


def test_tascomi_import_leaves_out_erased_records_until_tascomi_changes_them(lake):
    tascomi_table(lake, "api_response", "contacts").write(
        "20240301", raw_contacts({"id": "1", "name": "Ann"}, {"id": "2", "name": "Bo"})
    )
    # Nothing erased yet: the import is left as it is.
    untouched = raw_contacts({"id": "1", "name": "Ann"})
    kept, removed = drop_erased_records(lake, "contacts", untouched)
    assert kept is untouched and not removed

    erased_at = erase_keys(lake, "tascomi", "contacts", tascomi_targets(lake, "contacts"), "1")
    earlier = london(erased_at - timedelta(hours=2))
    later = london(datetime.now(UTC) + timedelta(minutes=5))
    served = raw_contacts(
        {"id": 1, "name": "Ann", "last_updated": earlier},  # the API still holds it
        {"id": "12", "name": "Cy", "last_updated": earlier},  # not a substring match
        {"id": "2", "name": "Bo", "last_updated": earlier},
    )
    kept, removed = drop_erased_records(lake, "contacts", served)
    assert removed.rows == 1
    assert [json.loads(t)["id"] for t in kept["contacts"].to_pylist()] == ["12", "2"]
    assert kept.schema == served.schema

    # Tascomi changed it after the erasure: new data from the system of record, kept.
    changed = raw_contacts({"id": "1", "name": "Ann Smith", "last_updated": later})
    kept, removed = drop_erased_records(lake, "contacts", changed)
    assert kept.num_rows == 1 and not removed


def test_tascomi_last_updated_is_read_as_london_time(lake, tmp_path):
    """In summer, 12:30 in London is 11:30 UTC: before an erasure at 12:00 UTC, so dropped
    (read as UTC it would look later and bring the record back)."""
    tascomi_table(lake, "api_response", "contacts").write("20240301", raw_contacts({"id": "1"}))
    erase_keys(lake, "tascomi", "contacts", tascomi_targets(lake, "contacts"), "1")
    entry = AuditLog.of(lake).entries("erasure")[0]
    summer = Lake({"raw": str(tmp_path / "s-raw"), "refined": str(tmp_path / "s-refined")})
    AuditLog.of(summer).append("erasure", {**entry, "started_at": "2024-07-01T12:00:00+00:00"})
    before = raw_contacts({"id": "1", "last_updated": "2024-07-01 12:30:00"})
    after = raw_contacts({"id": "1", "last_updated": "2024-07-01 13:30:00"})
    assert drop_erased_records(summer, "contacts", before)[0].num_rows == 0
    assert drop_erased_records(summer, "contacts", after)[0].num_rows == 1


def test_an_erasure_recorded_without_the_salt_at_hand_fails_the_import(lake, monkeypatch):
    tascomi_table(lake, "api_response", "contacts").write("20240301", raw_contacts({"id": "1"}))
    erase_keys(lake, "tascomi", "contacts", tascomi_targets(lake, "contacts"), "1")
    monkeypatch.delenv("LBH_ERASURE_SALT")
    with pytest.raises(ConfigurationError, match="LBH_ERASURE_SALT is not set"):
        drop_erased_records(lake, "contacts", raw_contacts({"id": "1"}))
    monkeypatch.setenv("LBH_ERASURE_SALT", "another-salt-0123456789")
    with pytest.raises(ConfigurationError, match="another LBH_ERASURE_SALT"):
        drop_erased_records(lake, "contacts", raw_contacts({"id": "1"}))


# --------------------------------------------------------------------------- Alloy


def test_alloy_export_leaves_out_an_erased_item_whole_until_alloy_edits_it(lake):
    dataset = next(d for d in load_datasets() if d.name == "graffiti")
    root = lambda edited: pa.table(  # noqa: E731
        {"item_id": ["i1", "i2"], "last_edit_date": [edited, edited]}
    )
    teams = pa.table(
        {
            "item_id": ["tm1", "tm1", "i1"],
            "primary_item": ["i1", "i2", "i2"],
            "team_name": ["a"] * 3,
        }
    )
    alloy_table(lake, "api_response", "graffiti", "graffiti").write(
        "20240301", root("2024-03-01T09:00")
    )
    alloy_table(lake, "api_response", "graffiti", "teams_3").write("20240301", teams)
    targets = alloy_dataset_targets(lake, dataset, "item_id", "primary_item")
    erased_at = erase_keys(lake, "alloy", "graffiti", targets, "i1")

    old = (erased_at - timedelta(days=1)).replace(tzinfo=None).isoformat()
    kept, removed = drop_erased_export(lake, dataset, {"teams_3": teams, "graffiti": root(old)})
    assert list(kept) == ["teams_3", "graffiti"]  # the export's order kept
    assert kept["graffiti"]["item_id"].to_pylist() == ["i2"]
    # Its joined rows go with it; a joined row whose own item_id happens to match does not.
    assert kept["teams_3"]["primary_item"].to_pylist() == ["i2", "i2"]
    assert removed["graffiti"].rows == 1 and removed["teams_3"].rows == 1

    new = (datetime.now(UTC) + timedelta(minutes=5)).replace(tzinfo=None).isoformat()
    kept, removed = drop_erased_export(lake, dataset, {"teams_3": teams, "graffiti": root(new)})
    assert kept["graffiti"].num_rows == 2 and kept["teams_3"].num_rows == 3
    assert not any(removed.values())


# --------------------------------------------------------------------------- event streams


MEMBER = pa.struct([("id", pa.string()), ("full_name", pa.string())])


def events(times: list[datetime], members: list[list[dict]], ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "event_id": [f"e{i}" for i in range(len(ids))],
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "id": ids,
            "household_members": pa.array(members, pa.list_(MEMBER)),
        }
    )


def test_event_stream_leaves_out_erased_entities_and_people_from_before_the_erasure(lake):
    stream = stream_named("tenure")
    erased_at = erase_keys(
        lake, "event_streams", "tenure", event_stream_targets(lake, "tenure"), "t1"
    )
    person = event_stream_targets(lake, "tenure", "household_members[].id")
    erase_keys(lake, "event_streams", "tenure", person, "p9")
    assert erased_paths(AuditLog.of(lake), "event_streams", "tenure") == [
        "Tenure.HouseholdMembers[].Id",
        "Tenure.Id",
        "household_members[].id",
        "id",
    ]

    late = erased_at - timedelta(hours=1)  # a late file: an event from before the erasure
    fresh = datetime.now(UTC) + timedelta(minutes=5)  # the source changed it again
    ann = {"id": "p1", "full_name": "Ann"}
    nine = {"id": "p9", "full_name": "Nia"}
    day = events(
        [late, late, fresh, fresh],
        [[ann], [ann, nine], [ann], [nine]],
        ["t1", "t2", "t1", "t3"],
    )
    kept, removed = drop_erased_events(lake, stream, day)
    assert kept["event_id"].to_pylist() == ["e1", "e2", "e3"]
    assert kept["household_members"].to_pylist() == [[ann], [ann], [nine]]
    assert (removed.rows, removed.elements) == (1, 1)
    # Person ids are never matched against the entity's key, nor entity keys against people.
    odd = events([late], [[{"id": "t1", "full_name": "X"}]], ["p9"])
    assert drop_erased_events(lake, stream, odd)[0].num_rows == 1
    assert drop_erased_events(lake, stream, odd)[0]["household_members"].to_pylist() == [
        [{"id": "t1", "full_name": "X"}]
    ]

    # A new DynamoDB scan has no change time: erased entities and people stay out.
    scanned = day.drop_columns(["event_time", "event_id"])
    kept, removed = drop_erased_items(lake, stream, scanned)
    assert kept["id"].to_pylist() == ["t2", "t3"]
    assert kept["household_members"].to_pylist() == [[ann], []]


def test_rows_of_a_table_nothing_was_erased_from_are_left_as_they_are(lake, monkeypatch):
    monkeypatch.delenv("LBH_ERASURE_SALT")
    rows = pa.table({"id": ["1"]})
    kept, removed = drop_erased_rows(AuditLog.of(lake), "tascomi", "contacts", rows, "id")
    assert kept is rows and not removed
