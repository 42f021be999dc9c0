"""A third event-streamed entity is a config entry and a schema file: a made-up entity from a
temporary config gets every stage, check, sensor and job, runs in Dagster end to end (initial
state from its DynamoDB table with an attribute mapping, Parquet and JSON events, text keys
where "1" and "01" are two entities), and bad entries fail the load naming the entry."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import dagster as dg
import pytest

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.defs.event_streams.definitions import build_event_streams_definitions
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.spec import load_event_streams
from lbh_platform.lib.engine import build_engine_resources
from lbh_platform.lib.resources import LakeResource
from lbh_platform_devkit.event_streams.stand_in import DynamoDbStandIn
from lbh_platform_tests.sink_files import sink_parquet, write_sink_file

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAY = date(2024, 3, 5)
STAGES = ("initial_state", "events", "events_quarantine", "snapshot", "deletions")
REPAIR_SCHEMA = {
    "type": "record",
    "name": "RepairsAPIChangeEvent",
    "fields": [
        {"name": "Id", "type": ["null", "string"]},
        {"name": "EventType", "type": ["null", "string"]},
        {"name": "DateTime", "type": "int", "logicalType": "date"},
        {
            "name": "User",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "User",
                    "fields": [
                        {"name": "Name", "type": ["null", "string"]},
                        {"name": "Email", "type": ["null", "string"]},
                    ],
                },
            ],
        },
        {
            "name": "Repair",
            "type": {
                "type": "record",
                "name": "Repair",
                "fields": [
                    {"name": "Reference", "type": "string"},
                    {
                        "name": "Priority",
                        "type": {"type": "enum", "name": "P", "symbols": ["U", "N"]},
                    },
                    {"name": "Cost", "type": ["null", "double"]},
                    {"name": "RaisedAt", "type": ["null", "long"], "logicalType": "date"},
                    {"name": "Tags", "type": ["null", {"type": "array", "items": "string"}]},
                    {
                        "name": "Address",
                        "type": [
                            "null",
                            {
                                "type": "record",
                                "name": "Address",
                                "fields": [{"name": "PostCode", "type": ["null", "string"]}],
                            },
                        ],
                    },
                    {"name": "IsOpen", "type": "boolean"},
                ],
            },
        },
    ],
}
CONFIG = """
entities:
  repairs:
    topic: repairs_api
    schema_file: schemas/repairs_api.json
    entity_field: Repair
    key: reference
    key_format: text
    actions: {RepairRaisedEvent: created, RepairUpdatedEvent: updated, RepairClosedEvent: deleted}
    dynamodb:
      table: Repairs
      attributes: {"address.postcode": post_code}
    table: repairs
    raw_prefix: housing/repairs
    refined_prefix: housing/repairs/events-applied
"""


@pytest.fixture()
def config(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "repairs_api.json").write_text(json.dumps(REPAIR_SCHEMA))
    path = tmp_path / "event_streams.yaml"
    path.write_text(CONFIG)
    return path


def event(event_id: int, event_type: str, hour: int, reference: str, **repair) -> dict:
    return {
        "Id": f"00000000-0000-4000-8000-{event_id:012d}",
        "EventType": event_type,
        "DateTime": int(datetime(2024, 3, 5, hour, tzinfo=UTC).timestamp()),
        "User": None,
        "Repair": {
            "Reference": reference,
            "Priority": "U",
            "Cost": None,
            "RaisedAt": None,
            "Tags": None,
            "Address": None,
            "IsOpen": True,
            **repair,
        },
    }


def test_a_made_up_entity_from_config_runs_end_to_end(config, tmp_path, monkeypatch):
    [stream] = load_event_streams(config)
    assert [f.name for f in stream.schema.fields] == [
        "reference",
        "priority",
        "cost",
        "raised_at",
        "tags",
        "address",
        "is_open",
    ]
    raw, refined = tmp_path / "raw", tmp_path / "refined"
    lake_resource = LakeResource(raw_zone=str(raw), refined_zone=str(refined))
    shared = dg.Definitions(resources={**build_engine_resources(), "lake": lake_resource})
    defs = dg.Definitions.merge(build_event_streams_definitions([stream], environ={}), shared)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {f"repairs/{stage}/repairs_{stage}" for stage in (*STAGES, "history")}
    checks = {(k.asset_key.path[1], k.name) for k in graph.asset_check_keys}
    assert ("snapshot", "every_event_applied") in checks
    assert ("events", "raw_files_compacted") in checks
    assert ("snapshot", "freshness_check") in checks
    assert {s.name for s in defs.sensors} >= {"repairs_event_files", "repairs_stale_snapshots"}

    value = "20240305"
    write_sink_file(
        raw,
        "repairs_api",
        value,
        "repairs_api+0+0000000001.snappy.parquet",
        sink_parquet(
            REPAIR_SCHEMA,
            [
                event(
                    1,
                    "RepairRaisedEvent",
                    9,
                    "01",
                    Cost=12.5,
                    Tags=["damp"],
                    Address={"PostCode": "E8 1HE"},
                ),
                event(2, "RepairUpdatedEvent", 10, "1", IsOpen=False, RaisedAt=1709629200),
            ],
        ),
    )
    write_sink_file(
        raw,
        "repairs_api",
        value,
        "repairs_api+0+0000000003.json",
        json.dumps(event(3, "RepairClosedEvent", 11, "7")).encode(),
    )
    with DynamoDbStandIn({"Repairs": "reference"}) as stand_in:
        stand_in.put_items(
            [
                {"reference": "1", "priority": "N", "isOpen": True, "address": {"postcode": "E9"}},
                {"reference": "7", "priority": "N", "isOpen": True, "rooms": Decimal(3)},
            ],
            "Repairs",
        )
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", stand_in.endpoint_url)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        defs = dg.Definitions.merge(build_event_streams_definitions([stream]), shared)
        with dg.instance_for_test() as instance:
            result = defs.resolve_job_def("repairs_pipeline").execute_in_process(
                instance=instance,
                partition_key=DAY.isoformat(),
                run_config=QUIET,
                raise_on_error=False,
            )
    assert result.success
    evaluations = {
        (e.event_specific_data.asset_key.path[1], e.event_specific_data.check_name): e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    failed = [
        k
        for k, e in evaluations.items()
        if not e.event_specific_data.passed and k[1] != "freshness_check"  # judged at today
    ]
    assert failed == [], failed

    lake = lake_resource.lake()
    extract = stage_table(lake, stream, "initial_state").read(value).to_pylist()
    assert {r["reference"]: r["address"] for r in extract} == {
        "1": {"post_code": "E9"},  # mapped by the entry's attribute mapping
        "7": None,
    }
    assert "rooms" in extract[0]  # an attribute outside the schema, kept
    snapshot = {
        r["reference"]: r for r in stage_table(lake, stream, "snapshot").read(value).to_pylist()
    }
    assert sorted(snapshot) == ["01", "1"]  # "1" and "01" are two entities; "7" was closed
    assert snapshot["01"]["tags"] == ["damp"] and snapshot["01"]["cost"] == 12.5
    assert snapshot["01"]["address"] == {"post_code": "E8 1HE"}
    assert snapshot["1"]["is_open"] is False
    assert snapshot["1"]["raised_at"] == datetime(2024, 3, 5, 9, tzinfo=UTC)
    tombstones = stage_table(lake, stream, "deletions").read(value).to_pylist()
    assert [t["id"] for t in tombstones] == ["7"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.replace("table: repairs\n", "table: repairs\n    colour: red\n"), "colour"),
        (lambda c: c.replace("key: reference", "key: nothing"), "key 'nothing'"),
        (lambda c: c.replace("created, Repair", "made, Repair"), "actions"),
        (lambda c: c.replace("raw_prefix: housing/repairs", "raw_prefix: /etc"), "raw_prefix"),
    ],
)
def test_a_bad_entry_fails_the_load_naming_the_entry(config, change, message):
    config.write_text(change(CONFIG))
    with pytest.raises(ConfigurationError, match=f"entity 'repairs'|repairs.*{message}") as err:
        load_event_streams(config)
    assert message in str(err.value)


def test_a_schema_the_columns_cannot_hold_is_refused(config):
    schema = json.loads(json.dumps(REPAIR_SCHEMA))
    schema["fields"][-1]["type"]["fields"].append({"name": "Either", "type": ["int", "string"]})
    (config.parent / "schemas" / "repairs_api.json").write_text(json.dumps(schema))
    with pytest.raises(ConfigurationError, match="Either: a union of 2 non-null types"):
        load_event_streams(config)
