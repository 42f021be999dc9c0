"""Conformance: tenure event application on both engines over the same fixtures gives identical
results (same rows, same types, same counts), through the shared layout.

The inputs are written once per lake by pyarrow; each engine reads them, applies the events and
writes the snapshot and tombstones with its own writer; the files are read back with pyarrow and
compared, schema (nested types and nullability included) and rows.
"""

import copy
import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from lbh_platform.common.event_state import OUTCOMES, TOMBSTONE_SCHEMA
from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.event_streams import inputs, rules, stages
from lbh_platform.event_streams.dynamodb import ScanResult, plain
from lbh_platform.event_streams.events import EventReader
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.spec import stream_named
from lbh_platform.storage.lake import Lake
from lbh_platform_devkit.event_streams.generator import (
    World,
    dynamodb_item,
    event_payload,
    generate_stream,
    sink_file_name,
    write_day,
)

pytestmark = pytest.mark.spark
TENURE = stream_named("tenure")
TENURE_EVENTS = TENURE.model
STATE_SCHEMA = TENURE_EVENTS.state_schema
EVENT_SCHEMA = TENURE.event_schema
TENURE_COLUMNS = TENURE.schema.columns
canonical_table = TENURE.schema.canonical_table
parse_event = EventReader(TENURE).parse_event


def as_state(table: pa.Table, what: str) -> pa.Table:
    return TENURE_EVENTS.as_state(table, what)


def tenure_table(lake: Lake, stage: str):
    return stage_table(lake, TENURE, stage)


T0 = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
BASE_DAY, DAY_1, DAY_2 = "20240304", "20240305", "20240306"
AGAIN = "20240307"
ENGINE_SPECIFIC = ("engine", "path", "bytes_written")  # the report's other metadata must match


@pytest.fixture(scope="module")
def spark_engine():
    from lbh_platform.engines.spark_engine import SparkEngine
    from lbh_platform.engines.spark_session import local_spark_session

    yield SparkEngine(local_spark_session())


@pytest.fixture()
def lakes(tmp_path):
    return {
        name: Lake({"raw": str(tmp_path / name / "raw"), "refined": str(tmp_path / name / "ref")})
        for name in ("pandas", "spark")
    }


def normalise(table: pa.Table) -> tuple[str, list[str]]:
    """The schema as text (nested names, types and nullability) and the rows, sorted."""
    rows = sorted(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())
    return str(table.schema.remove_metadata()), rows


def read_back(lake: Lake, stage: str, value: str) -> tuple[str, list[str]]:
    return normalise(tenure_table(lake, stage).read(value))


# --------------------------------------------------------------------------- edge-case fixture


def nested_drift(table: pa.Table) -> pa.Table:
    """Nested fields missing (``charges.tenancy_insurance_charge``, members'
    ``person_tenure_type``) and added (``terminated.note``), as in an older or newer writer."""

    def without(struct: pa.StructType, name: str) -> pa.StructType:
        return pa.struct([f for f in struct if f.name != name])

    schema = table.schema
    charges = schema.field("charges").type
    members = schema.field("household_members").type.value_type
    terminated = schema.field("terminated").type
    changed = {
        "charges": without(charges, "tenancy_insurance_charge"),
        "household_members": pa.list_(without(members, "person_tenure_type")),
        "terminated": pa.struct([*terminated, pa.field("note", pa.string())]),
    }
    rows = table.to_pylist()
    for row in rows:
        if row["charges"]:
            row["charges"].pop("tenancy_insurance_charge")
        for member in row["household_members"] or []:
            if member:
                member.pop("person_tenure_type")
        if row["terminated"]:
            row["terminated"]["note"] = "kept by a newer writer"
    fields = [pa.field(f.name, changed.get(f.name, f.type)) for f in schema]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


class Fixture:
    """A base snapshot, earlier tombstones and two events partitions covering every rule."""

    def __init__(self) -> None:
        world = World(TENURE, 23)
        self.world = world
        ids = {name: world.uuid() for name in "abcdexyzwnm"}
        records = {name: world.entity(date(2012, 5, 1)) for name in ids}
        for name, record in records.items():
            record["id"] = ids[name]
        self.ids, self.records = ids, records
        clean_n = copy.deepcopy(records["n"])
        # nulls in nested members: a null member, a member of nulls, null structs
        records["n"]["household_members"] = [
            None,
            dict.fromkeys(records["n"]["household_members"][0]),
        ]
        records["n"]["charges"] = None
        records["n"]["notices"] = []

        base = as_state(canonical_table([records[k] for k in "abcden"]), "base")
        known = {
            "a": (T0 - timedelta(days=1), world.uuid()),
            "c": (T0 + timedelta(hours=1), world.uuid()),
        }
        self.prev_c = known["c"][1]
        ids_in_base = base["id"].to_pylist()
        times = [known.get(self._name(i), (None, None))[0] for i in ids_in_base]
        events = [known.get(self._name(i), (None, None))[1] for i in ids_in_base]
        base = base.set_column(
            base.schema.get_field_index("last_event_time"),
            "last_event_time",
            pa.array(times, STATE_SCHEMA.field("last_event_time").type),
        )
        base = base.set_column(
            base.schema.get_field_index("last_event_id"),
            "last_event_id",
            pa.array(events, pa.string()),
        )
        # a missing column (a snapshot written before it existed) and a new one (an extract's)
        base = base.drop_columns(["is_sublet"]).append_column(
            "version_number", pa.array(range(base.num_rows), pa.int64())
        )
        self.base = nested_drift(base)

        self.tz1 = world.uuid()
        self.tombstones = pa.Table.from_pylist(
            [
                {"id": ids["z"], "deleted_at": T0 + timedelta(hours=1), "event_id": self.tz1},
                {"id": ids["z"], "deleted_at": T0 + timedelta(hours=1), "event_id": self.tz1},
                {"id": ids["w"], "deleted_at": T0 - timedelta(hours=1), "event_id": world.uuid()},
            ],
            schema=TOMBSTONE_SCHEMA,
        )
        h = timedelta(hours=1)
        r = records

        def changed(name: str, **values) -> dict:
            return dict(copy.deepcopy(r[name]), **values)

        duplicate = self.event("updated", changed("d", payment_reference="D1"), T0 + h / 2, 50)
        day_1 = [
            # ties in event time: Kafka partition, then offset decide
            self.event("updated", changed("a", payment_reference="A20"), T0 + h, 20),
            self.event("updated", changed("a", payment_reference="A12"), T0 + h, 12),
            self.event("updated", changed("a", payment_reference="A-p1"), T0 + h, 1, partition=1),
            # out-of-order arrival: the newer event landed first
            self.event("updated", changed("b", payment_reference="B3"), T0 + 3 * h, 1),
            self.event("updated", changed("b", payment_reference="B2"), T0 + 2 * h, 30),
            # stale (older than the base row) and already applied (the base row's own event)
            self.event("updated", changed("c", payment_reference="C-old"), T0, 31),
            self.event("updated", r["c"], T0 + h, 32, event_id=self.prev_c),
            duplicate,
            # deleted, re-created, deleted again
            self.event("deleted", r["e"], T0 + h, 33),
            self.event("created", changed("e", payment_reference="E2"), T0 + 2 * h, 34),
            # unknown entities: an update, a deletion then a tied (stale) update
            self.event("updated", r["x"], T0, 35),
            self.event("deleted", r["y"], T0, 36),
            self.event("updated", r["y"], T0, 37),
            # a late event for a tombstoned tenure; the tombstone's own deletion again
            self.event("updated", r["z"], T0, 38),
            self.event("deleted", r["z"], T0 + h, 39, event_id=self.tz1),
            # re-created after an earlier deletion
            self.event("created", r["w"], T0, 40),
        ]
        nulls = dict(clean_n, payment_reference="N2")
        created_m = self.event("created", r["m"], T0 + 2 * h, 42)
        created_m["household_members"] = None
        created_m["notices"] = [None]
        created_m["tenured_asset"] = dict.fromkeys(r["m"]["tenured_asset"])
        updated_n = self.event("updated", nulls, T0 + h, 41)
        updated_n["household_members"] = []
        updated_n["charges"] = dict.fromkeys(r["a"]["charges"])
        updated_n["legacy_references"] = [{"name": None, "value": "x"}, None]
        day_2 = [
            self.event("updated", changed("x", payment_reference="X2"), T0 + h, 60),
            self.event("deleted", r["b"], T0 + 4 * h, 61),
            self.event("updated", changed("b", payment_reference="B-tie"), T0 + 4 * h, 62),
            self.event("created", changed("b", payment_reference="B5"), T0 + 5 * h, 63),
            self.event("deleted", changed("e", payment_reference="E2"), T0 + 3 * h, 64),
            updated_n,
            created_m,
            dict(duplicate),  # the same event again, in the next events partition
        ]
        # a new column in one events partition, missing columns in the other
        self.events_1 = pa.Table.from_pylist(day_1, schema=EVENT_SCHEMA).append_column(
            "unexpected", pa.array(["?"] * len(day_1))
        )
        self.events_2 = pa.Table.from_pylist(day_2, schema=EVENT_SCHEMA).drop_columns(
            ["user_email", "is_mutual_exchange"]
        )

    def _name(self, entity: str) -> str:
        return next(k for k, v in self.ids.items() if v == entity)

    def event(
        self,
        action: str,
        record: dict,
        moment: datetime,
        offset: int,
        partition: int = 0,
        event_id: str | None = None,
    ) -> dict:
        body = event_payload(TENURE, event_id or self.world.uuid(), action, moment, record, "c")
        return parse_event(body, sink_file_name(TENURE, offset, partition))

    def write(self, lake: Lake) -> None:
        tenure_table(lake, "snapshot").write(BASE_DAY, self.base)
        tenure_table(lake, "deletions").write(BASE_DAY, self.tombstones)
        tenure_table(lake, "events").write(DAY_1, self.events_1)
        tenure_table(lake, "events").write(DAY_2, self.events_2)


@pytest.fixture(scope="module")
def fixture() -> Fixture:
    return Fixture()


def test_edge_cases_give_identical_snapshots_tombstones_and_counts(spark_engine, lakes, fixture):
    engines = {"pandas": ArrowEngine(), "spark": spark_engine}
    reports = {}
    for name, engine in engines.items():
        fixture.write(lakes[name])
        reports[name] = stages.build_snapshot(lakes[name], TENURE, date(2024, 3, 6), engine)
    metadata = {
        name: [{k: v for k, v in r.metadata.items() if k not in ENGINE_SPECIFIC} for r in got]
        for name, got in reports.items()
    }
    assert metadata["pandas"] == metadata["spark"]
    assert [r.rows for r in reports["pandas"]] == [r.rows for r in reports["spark"]]
    for stage in ("snapshot", "deletions"):
        assert read_back(lakes["pandas"], stage, DAY_2) == read_back(lakes["spark"], stage, DAY_2)
    for key in (inputs.BASE_KEY, inputs.APPLIED_KEY, inputs.UNKNOWN_KEY, inputs.BUILD_KEY):
        notes = [tenure_table(lakes[n], "snapshot").file_metadata(DAY_2)[key] for n in engines]
        assert notes[0] == notes[1], key

    # The fixture reaches every rule, and the result is what the rules say.
    counts = {k: metadata["pandas"][1][f"events_{k}"] for k in OUTCOMES}
    assert counts == {
        "inserted": 4,  # e and b re-created, w after its tombstone, m
        "updated": 8,  # a x3, b x2, d, x, n
        "deleted": 3,  # e twice, b
        "unknown_entity_updated": 1,
        "unknown_entity_deleted": 1,
        "stale": 4,  # c (older than its row), y (tied after its deletion), z (late), b (tie)
        "already_applied": 3,  # c's own event, z's deletion again, d's duplicate
    }
    ids = fixture.ids
    unknown = metadata["pandas"][1]["unknown_entity_events_sample"]
    assert [(e["id"], e["action"]) for e in unknown] == [
        (ids["x"], "updated"),
        (ids["y"], "deleted"),
    ]
    snapshot = tenure_table(lakes["spark"], "snapshot").read(DAY_2)
    rows = {r["id"]: r for r in snapshot.to_pylist()}
    assert set(rows) == {ids[k] for k in "abcdxwnm"}
    assert rows[ids["a"]]["payment_reference"] == "A-p1"
    assert rows[ids["b"]]["payment_reference"] == "B5"
    assert rows[ids["x"]]["payment_reference"] == "X2"
    assert rows[ids["c"]]["last_event_id"] == fixture.prev_c
    assert rows[ids["n"]]["household_members"] == []
    assert rows[ids["m"]]["household_members"] is None and rows[ids["m"]]["notices"] == [None]
    assert rows[ids["n"]]["legacy_references"] == [{"name": None, "value": "x"}, None]
    assert rows[ids["n"]]["is_mutual_exchange"] is None  # missing from its events partition
    kept = rows[ids["c"]]  # the base row, nested fields matched by name
    assert kept["charges"]["tenancy_insurance_charge"] is None
    assert kept["charges"]["rent"] == fixture.records["c"]["charges"]["rent"]
    assert all(m["person_tenure_type"] is None for m in kept["household_members"])
    assert "note" not in kept["terminated"]
    assert "version_number" not in snapshot.column_names and "is_sublet" in snapshot.column_names
    pandas_snapshot = tenure_table(lakes["pandas"], "snapshot").read(DAY_2)
    expected = [(f.name, f.type) for f in STATE_SCHEMA]
    assert [(f.name, f.type) for f in pandas_snapshot.schema][: len(STATE_SCHEMA)] == expected
    assert all(f.nullable for f in snapshot.schema)

    # Idempotent: the same events again, onto the result and its tombstones, change nothing.
    again = {}
    for name, engine in engines.items():
        lake = lakes[name]
        result = engine.apply_events(
            engine.read(tenure_table(lake, "snapshot"), [DAY_2]),
            engine.read(tenure_table(lake, "events"), [DAY_1, DAY_2]),
            engine.read(tenure_table(lake, "deletions"), [BASE_DAY, DAY_2]),
            model=TENURE_EVENTS,
            snapshot_value=DAY_2,
        )
        engine.write(tenure_table(lake, "snapshot"), AGAIN, result.state)
        engine.write(tenure_table(lake, "deletions"), AGAIN, result.tombstones)
        again[name] = (result.counts, result.unknown_entity_events, result.base_rows)
        first = tenure_table(lake, "snapshot").read(DAY_2).drop_columns(["snapshot_date"])
        second = tenure_table(lake, "snapshot").read(AGAIN).drop_columns(["snapshot_date"])
        assert normalise(second) == normalise(first), name
        assert tenure_table(lake, "deletions").read(AGAIN).num_rows == 0
    assert again["pandas"] == again["spark"]
    assert again["pandas"][1] == [] and sum(again["pandas"][0].values()) == 24
    for stage in ("snapshot", "deletions"):
        assert read_back(lakes["pandas"], stage, AGAIN) == read_back(lakes["spark"], stage, AGAIN)


# --------------------------------------------------------------------------- generated days


DAYS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]
STREAMS = {
    name: generate_stream(stream_named(name), DAYS, entities=25, seed=8)
    for name in ("tenure", "contact_details")
}


def prepare(lake: Lake, name: str) -> None:
    generated = STREAMS[name]
    stream = generated.stream
    items = [plain(dynamodb_item(stream, record)) for record in generated.initial.values()]
    scan = lambda: ScanResult(stream.dynamodb_table, items, 1)  # noqa: E731
    stages.extract_initial_state(lake, stream, DAYS[0], scan, imported_at=T0)
    for day in DAYS:
        write_day(lake, generated.day(day), stream)
        stages.compact_events(lake, stream, day)


def build(lake: Lake, name: str, engines: list) -> list[dict]:
    out = []
    for day, engine in zip(DAYS, engines, strict=True):
        reports = stages.build_snapshot(lake, STREAMS[name].stream, day, engine)
        out.append(
            [{k: v for k, v in r.metadata.items() if k not in ENGINE_SPECIFIC} for r in reports]
        )
    return out


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_generated_days_match_on_both_engines_and_across_a_switch(spark_engine, lakes, name):
    """Days built on Spark (the first on the DynamoDB extract) equal the Arrow engine's, and the
    Arrow engine builds the next day on a Spark-written snapshot with the same result: for
    every configured entity (Tenure, Contact details), with no code of its own."""
    arrow = ArrowEngine()
    stream = STREAMS[name].stream
    for lake in lakes.values():
        prepare(lake, name)
    on_pandas = build(lakes["pandas"], name, [arrow, arrow, arrow])
    switched = build(lakes["spark"], name, [spark_engine, spark_engine, arrow])
    assert on_pandas == switched
    columns = stream.schema.columns
    for day in DAYS:
        value = yyyymmdd(day)
        for stage in ("snapshot", "deletions"):
            left = normalise(stage_table(lakes["pandas"], stream, stage).read(value))
            right = normalise(stage_table(lakes["spark"], stream, stage).read(value))
            assert left == right, (stage, value)
        snapshot = stage_table(lakes["spark"], stream, "snapshot").read(value)
        got = {r["id"]: {c: r[c] for c in columns} for r in snapshot.to_pylist()}
        assert got == STREAMS[name].day(day).state, value
        assert rules.inputs_outcome(lakes["spark"], stream, value).passed
    assert any(r[-1]["events_stale"] for r in on_pandas)  # late events, superseded
    assert any(r[-1]["events_unknown_entity_updated"] for r in on_pandas)


def test_keys_that_differ_as_text_stay_two_entities_on_both_engines(spark_engine, lakes):
    """Contact-details keys as sent: an id and its upper-case spelling are two entities."""
    stream = stream_named("contact_details")
    world = World(stream, 4)
    lower = world.entity(date(2020, 1, 1))
    upper = dict(world.entity(date(2020, 1, 1)), id=lower["id"].upper())
    reader = EventReader(stream)
    rows = [
        reader.parse_event(
            event_payload(stream, world.uuid(), "created", T0, record, "c"),
            sink_file_name(stream, n),
        )
        for n, record in enumerate([lower, upper])
    ]
    events = pa.Table.from_pylist(rows, schema=stream.event_schema)
    base = stream.model.as_state(stream.schema.canonical_table([]), "base")
    got = {}
    for name, engine in {"pandas": ArrowEngine(), "spark": spark_engine}.items():
        lake = lakes[name]
        stage_table(lake, stream, "events").write(DAY_1, events)
        stage_table(lake, stream, "snapshot").write(BASE_DAY, base)
        result = engine.apply_events(
            engine.read(stage_table(lake, stream, "snapshot"), [BASE_DAY]),
            engine.read(stage_table(lake, stream, "events"), [DAY_1]),
            model=stream.model,
            snapshot_value=DAY_1,
        )
        engine.write(stage_table(lake, stream, "snapshot"), DAY_1, result.state)
        got[name] = sorted(stage_table(lake, stream, "snapshot").read(DAY_1)["id"].to_pylist())
    assert got["pandas"] == got["spark"] == sorted([lower["id"], upper["id"]])


def test_a_made_up_entity_applies_identically_on_both_engines(spark_engine, lakes, tmp_path):
    """The third entity of ``test_event_stream_config`` (text keys, a list of text, a double,
    a date, a nested record): both engines, unchanged, give the same snapshot and tombstones."""
    from lbh_platform.event_streams.spec import load_event_streams
    from lbh_platform_tests.test_event_stream_config import CONFIG, REPAIR_SCHEMA, event

    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "repairs_api.json").write_text(json.dumps(REPAIR_SCHEMA))
    (tmp_path / "event_streams.yaml").write_text(CONFIG)
    [stream] = load_event_streams(tmp_path / "event_streams.yaml")
    reader = EventReader(stream)
    bodies = [
        event(1, "RepairRaisedEvent", 9, "01", Tags=["damp", "mould"], Cost=1.5),
        event(2, "RepairRaisedEvent", 9, "1", Address={"PostCode": "E8"}, RaisedAt=1709629200),
        event(3, "RepairUpdatedEvent", 10, "01", Tags=[], IsOpen=False),
        event(4, "RepairClosedEvent", 11, "1"),
        event(5, "RepairUpdatedEvent", 8, "1", Cost=9.0),  # before its creation: unknown, reported
    ]
    rows = [reader.parse_event(b, f"repairs_api+0+{n:010d}.json") for n, b in enumerate(bodies)]
    events = pa.Table.from_pylist(rows, schema=stream.event_schema)
    base = stream.model.as_state(
        stream.schema.canonical_table([{"reference": "7", "is_open": True, "tags": ["x"]}]), "b"
    )
    for name, engine in {"pandas": ArrowEngine(), "spark": spark_engine}.items():
        lake = lakes[name]
        stage_table(lake, stream, "snapshot").write(BASE_DAY, base)
        stage_table(lake, stream, "events").write(DAY_1, events)
        stages.build_snapshot(lake, stream, date(2024, 3, 5), engine)
    for stage in ("snapshot", "deletions"):
        left = normalise(stage_table(lakes["pandas"], stream, stage).read(DAY_1))
        right = normalise(stage_table(lakes["spark"], stream, stage).read(DAY_1))
        assert left == right, stage
    snapshot = {
        r["reference"]: r
        for r in stage_table(lakes["spark"], stream, "snapshot").read(DAY_1).to_pylist()
    }
    assert sorted(snapshot) == ["01", "7"]
    assert snapshot["01"]["tags"] == [] and snapshot["01"]["is_open"] is False
    assert stage_table(lakes["spark"], stream, "deletions").read(DAY_1)["id"].to_pylist() == ["1"]
