"""Reading what the S3 sink writes: Parquet per event (written independently of the project's
schema code, see ``sink_files``), in the import_year=/import_month=/import_day=/import_date=
folders, both parquet-avro list layouts, several events per file, JSON still readable, and
schema evolution (older files lack fields, newer fields are counted)."""

import copy
import json
from datetime import UTC, date, datetime

import pytest

from lbh_platform.event_streams import rules, stages
from lbh_platform.event_streams.events import EventReader
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import stream_named
from lbh_platform.storage.lake import Lake
from lbh_platform_tests.sink_files import avro_schema, sink_parquet, write_sink_file

TENURE = stream_named("tenure")
CONTACTS = stream_named("contact_details")
DAY = "20240306"
INT_MIN = -2147483648


def tenure_event(event_id: str = "8dd7af40-61ff-4d5f-8114-444828208e45", **tenure) -> dict:
    """A tenure_api event shaped as the reference sample (values made up)."""
    body = {
        "Id": "b5702ead-79de-8b95-0c22-f4df3f28e251",
        "PaymentReference": "9943015504",
        "HouseholdMembers": [
            {
                "Id": "220c3b66-07d8-4577-d61c-5486595b4ac5",
                "Type": "Person",
                "FullName": "A Tenant",
                "IsResponsible": True,
                "DateOfBirth": -1506729600,
                "PersonTenureType": "Tenant",
            }
        ],
        "TenuredAsset": {
            "Id": "2e99554c-b5ed-aefd-c003-1ca0b04d58f3",
            "Type": "Dwelling",
            "FullAddress": "1 Some Street",
            "Uprn": "100021",
            "PropertyReference": "00012",
        },
        "Charges": {
            "Rent": 100.63,
            "CurrentBalance": 562.48,
            "BillingFrequency": "Weekly",
            "ServiceCharge": 20.64,
            "OtherCharges": 0.1,
            "CombinedServiceCharges": 0.0,
            "CombinedRentCharges": 0.0,
            "TenancyInsuranceCharge": 0.0,
            "OriginalRentCharge": 0.0,
            "OriginalServiceCharge": 0.0,
        },
        "StartOfTenureDate": 968630400,
        "EndOfTenureDate": None,
        "TenureType": {"Code": "SEC", "Description": "Secure"},
        "IsTenanted": None,
        "IsActive": False,
        "Terminated": {"IsTerminated": False, "ReasonForTermination": None},
        "SuccessionDate": INT_MIN,
        "AgreementType": None,
        "EvictionDate": INT_MIN,
        "PotentialEndDate": INT_MIN,
        "Notices": [
            {
                "Type": None,
                "ServedDate": INT_MIN,
                "ExpiryDate": INT_MIN,
                "EffectiveDate": INT_MIN,
                "EndDate": None,
            }
        ],
        "LegacyReferences": [{"Name": "uh_tag_ref", "Value": "996293/01"}],
        "IsMutualExchange": False,
        "InformHousingBenefitsForChanges": False,
        "IsSublet": False,
        "SubletEndDate": INT_MIN,
    }
    body.update(tenure)
    return envelope(event_id, "TenureUpdatedEvent", "Tenure", body)


def contact_event(event_id: str = "8dd7af40-61ff-4d5f-8114-444828208555", **contact) -> dict:
    body = {
        "Id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "TargetId": "3fa85f64-5717-4562-b3fc-2c963f66afa7",
        "TargetType": "Person",
        "ContactInformation": {
            "ContactType": "Phone",
            "SubType": "Mobile",
            "Value": "0700 000 0000",
            "Description": "Main mobile number",
            "AddressExtended": {
                "UPRN": "123456",
                "IsOverseasAddress": False,
                "OverseasAddress": None,
            },
        },
        "SourceServiceArea": {"Area": "Housing", "IsDefault": True},
        "RecordValidUntil": 1586649600,
        "IsActive": True,
        "CreatedBy": {"CreatedAt": INT_MIN, "FullName": "An Officer", "EmailAddress": "o@x.test"},
    }
    body.update(contact)
    return envelope(event_id, "ContactDetailsUpdatedEvent", "ContactDetails", body)


def envelope(event_id: str, event_type: str, field: str, entity: dict) -> dict:
    return {
        "Id": event_id,
        "EventType": event_type,
        "SourceDomain": field,
        "SourceSystem": f"{field}API",
        "Version": "v1",
        "CorrelationId": "990b02d8-f62d-4016-b60c-684b565a83bc",
        "DateTime": 1660124562,
        "User": {"Name": "Tester", "Email": "tester@test.gov.uk"},
        field: entity,
    }


@pytest.mark.parametrize("lists", ["array", "element"])
def test_tenure_parquet_as_the_sink_writes_it_reads_into_canonical_columns(lists):
    payload = sink_parquet(avro_schema("tenure_api"), [tenure_event()], lists=lists)
    assert payload[:4] == b"PAR1"
    rows, rejected = EventReader(TENURE).parse_file(
        "tenure_api+0+0000000042.snappy.parquet", payload
    )
    assert rejected == []
    [row] = rows
    assert (row["kafka_partition"], row["kafka_offset"], row["source_line"]) == (0, 42, None)
    assert row["event_time"] == datetime(2022, 8, 10, 9, 42, 42, tzinfo=UTC)
    assert row["charges"]["rent"] == 100.63  # a 32-bit float, read as its shortest decimal
    assert row["charges"]["other_charges"] == 0.1
    member = row["household_members"][0]
    assert member["type"] == "Person" and member["person_tenure_type"] == "Tenant"  # enums
    assert member["date_of_birth"] == datetime(1922, 4, 4, tzinfo=UTC)
    assert row["tenured_asset"]["type"] == "Dwelling"
    assert row["notices"] == [
        {
            "type": None,
            "served_date": None,
            "expiry_date": None,
            "effective_date": None,
            "end_date": None,
        }
    ]
    assert row["start_of_tenure_date"] == datetime(2000, 9, 11, tzinfo=UTC)
    assert row["succession_date"] is None and row["is_tenanted"] is None
    assert row["legacy_references"] == [{"name": "uh_tag_ref", "value": "996293/01"}]


@pytest.mark.parametrize("lists", ["array", "element"])
def test_contact_details_parquet_reads_nested_records_and_enums(lists):
    payload = sink_parquet(avro_schema("contact_details_api"), [contact_event()], lists=lists)
    rows, rejected = EventReader(CONTACTS).parse_file(
        "contact_details_api+3+0000000007.snappy.parquet", payload
    )
    assert rejected == []
    [row] = rows
    assert row["id"] == "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert row["target_type"] == "Person" and row["action"] == "updated"
    info = row["contact_information"]
    assert (info["contact_type"], info["sub_type"], info["value"]) == (
        "Phone",
        "Mobile",
        "0700 000 0000",
    )
    assert info["address_extended"] == {
        "uprn": "123456",
        "is_overseas_address": False,
        "overseas_address": None,
    }
    assert row["record_valid_until"] == datetime(2020, 4, 12, tzinfo=UTC)
    assert row["created_by"]["created_at"] is None  # the int-min sentinel
    assert (row["kafka_partition"], row["kafka_offset"]) == (3, 7)


def test_one_parquet_file_may_hold_several_events_and_json_stays_readable():
    ids = [f"8dd7af40-61ff-4d5f-8114-44482820800{i}" for i in range(3)]
    payload = sink_parquet(avro_schema("tenure_api"), [tenure_event(i) for i in ids])
    reader = EventReader(TENURE)
    rows, rejected = reader.parse_file("tenure_api+0+0000000010.snappy.parquet", payload)
    assert [r["event_id"] for r in rows] == ids and rejected == []
    assert [r["source_line"] for r in rows] == [1, 2, 3]
    json_rows, _ = reader.parse_file("x.json", json.dumps(tenure_event()).encode())
    parquet_row = {k: v for k, v in rows[0].items() if k not in ("event_id", "source_file")}
    json_row = {k: v for k, v in json_rows[0].items() if k not in ("event_id", "source_file")}
    parquet_row.update(source_line=None, kafka_partition=None, kafka_offset=None)
    assert parquet_row == json_row  # the same event as Parquet or JSON gives the same row


def test_schema_evolution_older_files_read_as_null_newer_fields_are_counted(tmp_path):
    older = copy.deepcopy(avro_schema("tenure_api"))
    entity = next(f for f in older["fields"] if f["name"] == "Tenure")["type"]
    entity["fields"] = [
        f for f in entity["fields"] if f["name"] not in ("IsSublet", "SubletEndDate", "Notices")
    ]
    old_event = tenure_event()
    for name in ("IsSublet", "SubletEndDate", "Notices"):
        old_event["Tenure"].pop(name)
    newer = copy.deepcopy(avro_schema("tenure_api"))
    newer_entity = next(f for f in newer["fields"] if f["name"] == "Tenure")["type"]
    newer_entity["fields"].append({"name": "Pets", "type": ["null", "string"], "default": None})
    new_event = tenure_event("8dd7af40-61ff-4d5f-8114-444828208e46", Pets="a cat")
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    raw = tmp_path / "raw"
    write_sink_file(
        raw,
        "tenure_api",
        DAY,
        "tenure_api+0+0000000001.snappy.parquet",
        sink_parquet(older, [old_event]),
    )
    write_sink_file(
        raw,
        "tenure_api",
        DAY,
        "tenure_api+0+0000000002.snappy.parquet",
        sink_parquet(newer, [new_event]),
    )
    reports = stages.compact_events(lake, TENURE, date(2024, 3, 6))
    events = stage_table(lake, TENURE, "events").read(DAY).to_pylist()
    assert len(events) == 2 and reports[0].rows == 0  # nothing quarantined
    by_id = {e["event_id"]: e for e in events}
    assert by_id[old_event["Id"]]["is_sublet"] is None
    assert by_id[old_event["Id"]]["notices"] is None
    assert by_id[new_event["Id"]]["is_sublet"] is False
    assert reports[1].metadata["fields_outside_schema"] == {"pets": 1}
    outcome = rules.fields_outcome(lake, TENURE, DAY)
    assert not outcome.passed and outcome.metadata["fields_outside_schema"] == {"pets": 1}

    # A producer's field the schema does not have (the contact sample's address lines), in JSON.
    extra = contact_event()
    extra["ContactDetails"]["ContactInformation"]["AddressExtended"]["AddressLine1"] = "1 Road"
    reader = EventReader(CONTACTS)
    compacted = reader.compact(
        [("contact_details_api+0+0000000001.json", json.dumps(extra).encode())]
    )
    assert compacted.unmapped_fields == {"contact_information.address_extended.address_line1": 1}
    assert compacted.events.num_rows == 1


def test_day_files_found_recursively_in_the_sink_layout_and_the_flat_one(tmp_path):
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    raw = tmp_path / "raw"
    avro = avro_schema("tenure_api")
    ids = [f"8dd7af40-61ff-4d5f-8114-44482820810{i}" for i in range(4)]
    write_sink_file(
        raw,
        "tenure_api",
        DAY,
        "tenure_api+0+0000000001.snappy.parquet",
        sink_parquet(avro, [tenure_event(ids[0])]),
    )
    nested = write_sink_file(raw, "tenure_api", DAY, "x", b"")
    nested.unlink()
    (nested.parent / "retry").mkdir()
    (nested.parent / "retry" / "tenure_api+1+0000000002.snappy.parquet").write_bytes(
        sink_parquet(avro, [tenure_event(ids[1])], lists="element")
    )
    (nested.parent / "_tmp-inflight.parquet").write_bytes(b"PAR1 half written")
    flat = raw / "event-streaming" / "tenure_api" / f"import_date={DAY}"
    flat.mkdir(parents=True)
    (flat / "tenure_api+0+0000000003.json").write_text(json.dumps(tenure_event(ids[2])))
    other_day = "20240307"
    write_sink_file(
        raw,
        "tenure_api",
        other_day,
        "tenure_api+0+0000000004.snappy.parquet",
        sink_parquet(avro, [tenure_event(ids[3])]),
    )

    files = EventFiles(lake, "tenure_api")
    assert files.days() == [DAY, other_day]
    assert files.days(newest=1) == [other_day]  # the walk from the newest folder down
    assert [f.name for f in files.files(DAY)] == [
        "retry/tenure_api+1+0000000002.snappy.parquet",
        "tenure_api+0+0000000001.snappy.parquet",
        "tenure_api+0+0000000003.json",
    ]
    reports = stages.compact_events(lake, TENURE, date(2024, 3, 6))
    events = stage_table(lake, TENURE, "events").read(DAY)
    assert sorted(events["event_id"].to_pylist()) == ids[:3]
    assert reports[1].metadata["files"] == 3
    assert rules.raw_files_outcome(lake, TENURE, DAY).passed

    # A file landing after the compaction: the check names the difference.
    write_sink_file(
        raw,
        "tenure_api",
        DAY,
        "tenure_api+0+0000000009.snappy.parquet",
        sink_parquet(avro, [tenure_event("8dd7af40-61ff-4d5f-8114-444828208199")]),
    )
    late = rules.raw_files_outcome(lake, TENURE, DAY)
    assert not late.passed
    assert (late.metadata["raw_files_now"], late.metadata["raw_files_compacted"]) == (4, 3)
    assert "compact the day again" in late.description
