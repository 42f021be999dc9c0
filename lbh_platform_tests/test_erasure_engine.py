"""The erasure engine's parts: where a key is (columns, nested fields, JSON text, raw files),
what is removed (rows or list elements), the lineage order of republished partitions, the
salt, the audit and the erased-keys record."""

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.erasure import (
    AuditLog,
    ErasureIncomplete,
    KeySet,
    Locator,
    Removed,
    Request,
    TableTarget,
    engine,
    erase,
    erased_keys,
    erasure_salt,
    holding_rows,
    scrub,
)
from lbh_platform.erasure.files import scrub_payload
from lbh_platform.erasure.order import out_of_order
from lbh_platform.erasure.paths import parse_path
from lbh_platform.storage.lake import Lake

SALT = "test-salt-0123456789abcdef"
MEMBER = pa.struct([("id", pa.string()), ("full_name", pa.string())])


def households() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 12], pa.int64()),
            "members": pa.array(
                [
                    [{"id": "p1", "full_name": "Ann"}, {"id": "p2", "full_name": "Bo"}],
                    None,
                    [{"id": "p2", "full_name": "Bo"}],
                    [],
                ],
                pa.list_(MEMBER),
            ),
            "asset": pa.array(
                [{"uprn": "9"}, None, {"uprn": "p2"}, {"uprn": None}],
                pa.struct([("uprn", pa.string())]),
            ),
        }
    )


def mask(table, path, *keys, **kwargs) -> list[bool]:
    return holding_rows(table, Locator.of(path, **kwargs), KeySet(keys)).to_pylist()


def test_paths_are_parsed_or_refused_by_name():
    assert str(parse_path("household_members[].id")) == "household_members[].id"
    assert parse_path("a.b").column == "a" and not parse_path("a.b").in_list
    for bad in ("", "a..b", "a[0].b", "a[]b"):
        with pytest.raises(ConfigurationError, match="field path"):
            parse_path(bad)


def test_keys_are_found_in_columns_nested_fields_and_list_elements():
    table = households()
    assert mask(table, "id", "12") == [False, False, False, True]  # compared as text
    assert mask(table, "members[].id", "p2") == [True, False, True, False]
    assert mask(table, "asset.uprn", "p2") == [False, False, True, False]
    assert mask(table, "members[].full_name", "Ann", "Zed") == [True, False, False, False]
    assert mask(table, "no_such_column", "1") == [False] * 4
    sliced = table.slice(2)  # offsets of a sliced table
    assert mask(sliced, "members[].id", "p2") == [True, False]
    with pytest.raises(ValueError, match="name a field inside it"):
        mask(table, "asset", "9")


def test_list_elements_are_removed_and_the_rows_stay_in_order():
    table = households()
    kept, removed = scrub(table, Locator.of("members[].id"), KeySet(["p2"]))
    assert removed.elements == 2 and removed.rows == 0
    assert kept.schema == table.schema
    assert kept["id"].to_pylist() == [1, 2, 3, 12]
    assert kept["members"].to_pylist() == [[{"id": "p1", "full_name": "Ann"}], None, [], []]
    rows, removed = scrub(table, Locator.of("members[].id", remove="rows"), KeySet(["p2"]))
    assert rows["id"].to_pylist() == [2, 12] and removed.rows == 2


def test_json_text_is_matched_on_the_decoded_field_never_as_a_substring():
    texts = [
        '{"id":"123","name":"x"}',
        '{"id":"12","note":"not 123"}',
        '{"id":"9","ref":"123"}',
        '{"id":"\\u0031\\u0032\\u0033"}',  # 123, spelled with escapes
        "not json 123",
    ]
    table = pa.table({"records": texts})
    assert mask(table, "id", "123", text_column="records") == [True, False, False, True, False]
    kept, removed = scrub(table, Locator.of("id", text_column="records"), KeySet(["123"]))
    assert removed.rows == 2 and kept["records"].to_pylist() == [texts[1], texts[2], texts[4]]
    nested = pa.table({"r": ['{"id":"1","m":[{"id":"p1"},{"id":"p2"}]}']})
    edited, removed = scrub(nested, Locator.of("m[].id", text_column="r"), KeySet(["p2"]))
    assert removed.elements == 1
    assert json.loads(edited["r"][0].as_py()) == {"id": "1", "m": [{"id": "p1"}]}


def test_raw_files_are_removed_or_rewritten_without_the_keys():
    locator = Locator.of("Tenure.Id")
    one = json.dumps({"Tenure": {"Id": "t1"}}).encode()
    assert scrub_payload(one, locator, KeySet(["t1"])) == (
        None,
        scrub_payload(one, locator, KeySet(["t1"]))[1],
    )
    assert scrub_payload(one, locator, KeySet(["t2"]))[0] == one
    lines = b'{"Tenure": {"Id": "t1"}}\n{"Tenure": {"Id": "t2"}}\n'
    rest, removed = scrub_payload(lines, locator, KeySet(["t1"]))
    assert removed.rows == 1 and [json.loads(x) for x in rest.splitlines()] == [
        {"Tenure": {"Id": "t2"}}
    ]
    sink = io.BytesIO()
    events = pa.table({"Tenure": pa.array([{"Id": "t1"}, {"Id": "t2"}])})
    pq.write_table(events.replace_schema_metadata({"writer.model.name": "avro"}), sink)
    rest, removed = scrub_payload(sink.getvalue(), locator, KeySet(["t1"]))
    left = pq.read_table(pa.BufferReader(rest))
    assert left.to_pylist() == [{"Tenure": {"Id": "t2"}}]
    assert left.schema.metadata[b"writer.model.name"] == b"avro"
    assert scrub_payload(b"\x00garbage t1", locator, KeySet(["t1"]))[0] is None
    assert scrub_payload(b"\x00garbage t9", locator, KeySet(["t1"]))[0] == b"\x00garbage t9"


@pytest.fixture()
def lake(tmp_path) -> Lake:
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def three_stages(lake: Lake) -> list[TableTarget]:
    imports = lake.table("raw", "t", "imports", "import_date")
    parsed = lake.table("raw", "t", "parsed", "import_date")
    snapshots = lake.table("refined", "t", "snapshots", "snapshot_date")
    for day, ids in (("20240101", ["a"]), ("20240102", ["k", "b"]), ("20240103", ["c"])):
        imports.write(day, pa.table({"id": ids}))
        parsed.write(day, pa.table({"id": [i for i in ids if i != "k"]}))  # k dropped there
    held = []
    for day, new in (("20240101", "a"), ("20240102", "b"), ("20240103", "c")):
        held.append(new)
        snapshots.write(day, pa.table({"id": list(held)}))  # k never reaches a snapshot
    id_ = Locator.of("id")
    return [
        TableTarget("imports", imports, id_),
        TableTarget("parsed", parsed, id_, ("imports",)),
        TableTarget("snapshot", snapshots, id_, ("parsed",), cumulative=True),
    ]


def written(table) -> dict[str, float]:
    return table.written()


def test_partitions_depending_on_a_rewritten_one_are_published_again_in_order(lake):
    targets = three_stages(lake)
    before = [written(t.table) for t in targets]
    report = erase(Request("s", "t", "me"), targets, KeySet(["k"]), audit=None, salt=None)
    actions = {(c.stage, c.partition): c.action for c in report.changes}
    assert actions == {
        ("imports", "20240102"): "rewritten",
        ("parsed", "20240102"): "republished",
        ("snapshot", "20240102"): "republished",
        ("snapshot", "20240103"): "republished",
    }
    after = [written(t.table) for t in targets]
    assert after[0]["20240101"] == before[0]["20240101"]
    assert after[2]["20240101"] == before[2]["20240101"]
    # Each later stage, and each later snapshot, is written after what it depends on.
    assert after[0]["20240102"] <= after[1]["20240102"] <= after[2]["20240102"]
    assert after[2]["20240102"] <= after[2]["20240103"]
    assert targets[2].table.read("20240103")["id"].to_pylist() == ["a", "b", "c"]


def test_an_erasure_that_leaves_a_key_behind_fails_and_says_so_in_the_audit(lake, monkeypatch):
    targets = three_stages(lake)
    monkeypatch.setattr(engine, "scrub", lambda rows, locator, keys: (rows, Removed()))
    audit = AuditLog.of(lake)
    with pytest.raises(ErasureIncomplete, match="still hold the keys") as raised:
        erase(Request("s", "t", "me"), targets, KeySet(["k"]), audit=audit, salt=SALT)
    assert "20240102" in str(raised.value) and "'k'" not in str(raised.value)
    assert [e["status"] for e in audit.entries("erasure")] == ["started", "incomplete"]


def test_the_salt_is_required_and_never_shown(monkeypatch):
    monkeypatch.delenv("LBH_ERASURE_SALT", raising=False)
    with pytest.raises(ConfigurationError, match="LBH_ERASURE_SALT is not set"):
        erasure_salt()
    monkeypatch.setenv("LBH_ERASURE_SALT", "short-secret")
    with pytest.raises(ConfigurationError, match="too short") as raised:
        erasure_salt()
    assert "short-secret" not in str(raised.value)
    monkeypatch.setenv("LBH_ERASURE_SALT", SALT)
    assert erasure_salt() == SALT


def test_keys_are_never_shown_and_never_empty():
    assert repr(KeySet(["secret-id"])) == "KeySet(1 keys)"
    with pytest.raises(ValueError, match="empty"):
        KeySet(["  "])
    with pytest.raises(ValueError, match="at least one"):
        KeySet([])


def test_erased_keys_refuse_entries_recorded_under_another_salt(lake):
    targets = three_stages(lake)
    audit = AuditLog.of(lake)
    erase(Request("s", "t", "me"), targets, KeySet(["k"]), audit=audit, salt=SALT)
    erased = erased_keys(audit, "s", "t", SALT)
    assert erased("k") and not erased("a") and len(erased) == 1
    assert len(erased_keys(audit, "s", "other table", SALT)) == 0
    with pytest.raises(ConfigurationError, match="another LBH_ERASURE_SALT"):
        erased_keys(audit, "s", "t", "another-salt-0123456789")


def test_an_erasure_refuses_to_hide_a_snapshot_older_than_its_inputs(lake):
    """An import re-run after the snapshots built on it: their proof fails until they are
    rebuilt. Publishing them again would make it pass on stale data: refused, nothing done."""
    targets = three_stages(lake)
    parsed = targets[1].table
    parsed.write("20240102", pa.table({"id": ["b"]}))  # re-run, snapshots not rebuilt
    stamps = [t.table.written() for t in targets]
    with pytest.raises(DataError, match="nothing changed: 2 partition") as raised:
        erase(Request("s", "t", "me"), targets, KeySet(["k"]), audit=None, salt=None)
    assert "snapshot 20240102 (written before parsed 20240102)" in str(raised.value)
    assert [t.table.written() for t in targets] == stamps
    audit = AuditLog.of(lake)
    erase(
        Request("s", "t", "me"), targets, KeySet(["k"]), audit=audit, salt=SALT, allow_unsound=True
    )
    recorded = audit.entries("erasure")[-1]["out_of_order_before"]
    assert [(d["stage"], d["partition"]) for d in recorded] == [
        ("snapshot", "20240102"),
        ("snapshot", "20240103"),
    ]


def test_finishing_an_interrupted_erasure_puts_the_partitions_back_in_order(lake, monkeypatch):
    targets = three_stages(lake)
    audit = AuditLog.of(lake)
    real = engine._publish
    calls = {"n": 0}

    def dies_after_the_first(*args, **kwargs):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_publish", dies_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        erase(Request("s", "t", "me"), targets, KeySet(["k"]), audit=audit, salt=SALT)
    monkeypatch.undo()
    # The import was rewritten; its parsed partition (which never held the key) was not.
    assert [(d.stage, d.partition) for d in out_of_order(targets)] == [("parsed", "20240102")]
    report = erase(Request("s", "t", "me"), targets, KeySet(["k"]), audit=audit, salt=SALT)
    assert out_of_order(targets) == []
    assert {(c.stage, c.partition) for c in report.changes} == {
        ("parsed", "20240102"),
        ("snapshot", "20240102"),
        ("snapshot", "20240103"),
    }
    assert audit.entries("erasure")[-1]["resumed"] is True


def test_a_partition_that_cannot_be_rewritten_is_named_and_left_whole(lake, monkeypatch):
    targets = three_stages(lake)
    imports = targets[0].table
    before = imports.read("20240102")

    def wrong_schema(rows, locator, keys):
        return rows.append_column("extra", pa.array([1] * rows.num_rows)), Removed(rows=1)

    monkeypatch.setattr(engine, "scrub", wrong_schema)
    with pytest.raises(DataError, match="imports .*import_date=20240102: rows do not match"):
        erase(Request("s", "t", "me"), targets, KeySet(["k"]), audit=None, salt=None)
    assert imports.read("20240102").equals(before)
    assert not list(Path(imports.base).rglob("_tmp-*"))
