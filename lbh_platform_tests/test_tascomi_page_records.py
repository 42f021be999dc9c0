"""Fetched pages keep each record's JSON text as sent: the records, ids, ``last_updated`` and
the parsed rows must be exactly what decoding the body into dicts gave."""

import json
import random
from datetime import date, datetime

import pytest

from lbh_platform.common import json_body
from lbh_platform.common.json_columns import parse_responses
from lbh_platform.tascomi import page_records
from lbh_platform.tascomi.client import Page
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.page_records import (
    DROPPED_FIELDS,
    RawRecords,
    record_ids,
    record_texts,
    split_body,
    split_decoded,
)
from lbh_platform.tascomi.record_checks import check_pages
from lbh_platform.tascomi.transforms import raw_response_table

GIS = DROPPED_FIELDS[0]


def dicts_of(body: bytes) -> list[dict]:
    """What the client made of a body before: decoded dicts, dropped fields removed."""
    records = json_body.loads(body)
    for record in records:
        for name in DROPPED_FIELDS:
            record.pop(name, None)
    return records


def split(body: bytes) -> RawRecords:
    """The client's two paths: the fast split, else the standard library's."""
    got = split_body(body)
    if got is None:
        got = split_decoded(body, json.loads(body))
    assert got is not None
    return got


BODIES = {
    "compact": b'[{"id":"1","a":"x","last_updated":"2024-03-01 10:00:00"},{"id":2,"b":null}]',
    "spaced": b' [ {"id" : "1" , "n" : [1, {"k" : 2}] } ,\n\t{ "id": "2" } ] ',
    "gis null middle": b'[{"id":"1","gis_map_image_base64":null,"z":1}]',
    "gis first": b'[{"gis_map_image_base64":"QUJD","id":"1"}]',
    "gis last spaced": b'[{"id":"1" , "gis_map_image_base64" : "QUJD" }]',
    "gis only": b'[{"gis_map_image_base64":null},{"id":"2"}]',
    "gis as a value too": b'[{"id":"1","x":"gis_map_image_base64","gis_map_image_base64":1}]',
    "gis nested only": b'[{"id":"1","x":{"gis_map_image_base64":1}}]',
    "gis nested and top": b'[{"id":"1","x":{"gis_map_image_base64":1},"gis_map_image_base64":1}]',
    "gis escaped key": b'[{"id":"1","gis\\u005fmap_image_base64":"QUJD","y":2}]',
    "gis inside a string": b'[{"id":"1","s":"\\"gis_map_image_base64\\":1"}]',
    "gis twice": b'[{"id":"1","gis_map_image_base64":1,"gis_map_image_base64":2}]',
    "duplicate id": b'[{"id":"1","id":"7","last_updated":"2024-01-01"}]',
    "numbers": b'[{"id":1,"a":1E5,"b":-0,"c":1.50,"d":123456789012345678901234567890,"e":-0.0}]',
    "non-ascii": '[{"id":"é1","s":"naïve \\u00e9 \\/ \\n \\ud83d\\ude00 ☃"}]'.encode(),
    "empty": b"[]",
    "empty object": b"[{}]",
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_records_ids_and_updated_are_what_the_dicts_said(name: str) -> None:
    body = BODIES[name]
    got = split(body)
    expected = dicts_of(body)
    assert list(got) == expected
    assert got == expected and len(got) == len(expected)
    assert [got[i] for i in range(len(got))] == expected
    assert record_ids(got, "id") == [r.get("id") for r in expected]
    assert record_ids(got, "a") == [r.get("a") for r in expected]
    assert got.updated == [r.get("last_updated") for r in expected]
    for text in record_texts(got).to_pylist():  # every text is one JSON object, cut cleanly
        assert isinstance(json.loads(text), dict)


def test_texts_are_the_api_texts_less_the_dropped_field() -> None:
    body = b'[{"id":"1","gis_map_image_base64":null,"s":"\\/"} , {"id": "2","s":"\\u00e9"}]'
    got = split_body(body)
    assert got is not None
    assert record_texts(got).to_pylist() == ['{"id":"1","s":"\\/"}', '{"id": "2","s":"\\u00e9"}']


def test_a_dropped_field_that_cannot_be_cut_plainly_is_reencoded() -> None:
    got = split_body(BODIES["gis escaped key"])
    assert got is not None
    assert record_texts(got).to_pylist() == ['{"id":"1","y":2}']


@pytest.mark.parametrize(
    "body",
    [
        b'[{"a":NaN}]',  # msgspec refuses; the standard library accepts
        b'\xef\xbb\xbf[{"a":1}]',  # byte-order mark
        b'[{"a":"\xff"}]',  # invalid UTF-8: the standard library names the byte
        b'[{"a":"\xed\xa0\x80"}]',  # an encoded surrogate: json.loads takes it (surrogatepass)
        b'{"a":1}',  # not an array
        b'[{"a":1}, 2]',  # not all objects
        b"[1,2",  # not JSON
        b'[{"a":"\\ud800"}]',  # a lone surrogate escape
    ],
)
def test_the_fast_split_leaves_what_it_cannot_take_exactly_to_the_standard_library(
    body: bytes,
) -> None:
    assert split_body(body) is None


def test_standard_library_bodies_keep_the_texts_as_sent() -> None:
    body = b'[{"id":"1","v":NaN,"gis_map_image_base64":null}, {"id":"2","gis_map_image_base64":1}]'
    got = split_decoded(body, json.loads(body))
    assert got is not None
    assert record_texts(got).to_pylist() == ['{"id":"1","v":NaN}', '{"id":"2"}']
    assert got.ids("id") == ["1", "2"]
    bom = b'\xef\xbb\xbf[ {"id": "1"} ]'
    assert record_texts(split_decoded(bom, json.loads(bom))).to_pylist() == ['{"id": "1"}']  # type: ignore[union-attr]
    surrogate = b'[{"id":"1","a":"\xed\xa0\x80"}]'  # cannot be held as UTF-8: dicts kept
    assert split_decoded(surrogate, json.loads(surrogate)) is None


# Bodies whose keys the fast split reads from the layout (no second decode), and bodies it
# must not: escapes, spacing, nesting, or a name held twice leave it to the typed decode.
PLAIN = {"compact", "gis null middle", "gis first", "gis only", "gis as a value too", "numbers"}
NOT_PLAIN = {"spaced", "gis last spaced", "gis nested only", "gis nested and top", "gis twice"}
NOT_PLAIN |= {"gis escaped key", "gis inside a string", "duplicate id", "non-ascii"}


def keys_both_ways(body: bytes) -> tuple[object, object]:
    """What the layout scan and the typed decode each make of a body's keys."""
    spans = page_records._record_spans(body, page_records._RAW_LIST.decode(body))
    assert spans is not None
    return page_records._plain_keys(body, spans), page_records._decoded_keys(body, spans)


def assert_same_keys(plain: object, decoded: object) -> None:
    """The same ids and ``last_updated``, and the same cuts wherever the typed path cuts (it
    re-encodes a record whose dropped field it cannot place; the layout may still place it)."""
    assert isinstance(plain, tuple) and isinstance(decoded, tuple)
    assert plain[:2] == decoded[:2]
    assert len(plain[2]) == len(decoded[2])
    for mine, theirs in zip(plain[2], decoded[2], strict=True):
        assert theirs is None or mine == theirs


@pytest.mark.parametrize("name", sorted(PLAIN | NOT_PLAIN))
def test_keys_read_from_the_layout_are_the_decoded_keys(name: str) -> None:
    plain, decoded = keys_both_ways(BODIES[name])
    assert (plain is not None) == (name in PLAIN)
    if plain is not None:
        assert_same_keys(plain, decoded)


def random_record(rng: random.Random, number: int) -> dict[str, object]:
    """A flat record as an API might send it: the names the split looks for anywhere or
    absent, decoys of the same lengths, and values full of JSON's own punctuation."""
    texts = ["", "id", "last_updated", '{"id":1}'.replace('"', "'"), "a,b}:[c]", "naïve ☃", " x"]
    scalars: list[object] = [None, True, False, 0, -12, 1.5, 10**20, 2.5e-8]
    names = ["ab", "last_updatex", "gis_map_image_base6x", "x", "notes", "idx", "ID"]
    record: dict[str, object] = {}
    for name in rng.sample(names, rng.randrange(len(names) + 1)):
        record[name] = rng.choice(texts + scalars)
    for name in ("id", "last_updated", GIS):
        if rng.random() < 0.8:
            record[name] = rng.choice([str(number), number, *texts, *scalars])
    items = list(record.items())
    rng.shuffle(items)
    return dict(items)


def test_keys_of_random_plain_pages_are_the_decoded_keys_and_texts_the_dicts() -> None:
    rng = random.Random(14)
    for page in range(300):
        records = [random_record(rng, page * 10 + i) for i in range(rng.randrange(1, 8))]
        body = json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode()
        plain, decoded = keys_both_ways(body)
        assert plain is not None, body
        assert_same_keys(plain, decoded)
        got = split_body(body)
        assert got is not None
        assert list(got) == dicts_of(body)
        assert got.updated == [r.get("last_updated") for r in records]
        assert record_ids(got, "id") == [r.get("id") for r in records]


ROWS = [
    {"id": 7, "name": "a", "flag": True, "size": 1.5, "tags": ["x", "y"], "n": None},
    {"id": "8", "other": None, "extra": {"k": 1, "j": [1.0, "é"]}, "size": 100000.0},
    {"id": "9", "name": "naïve / é", "big": 123456789012345678901234567890, "size": -0.0},
]


def api_body(records: list[dict], spaced: bool) -> bytes:
    """A body the way another API would write it: spaces, every non-ASCII escaped, ``\\/``,
    numbers spelled otherwise."""
    text = json.dumps(records, ensure_ascii=True) if spaced else json.dumps(records)
    text = text.replace("/", "\\/").replace("100000.0", "1E5")
    return text.encode()


@pytest.mark.parametrize("spaced", [False, True])
def test_parsed_rows_are_the_same_as_from_the_dicts(spaced: bool) -> None:
    body = api_body(ROWS, spaced)
    day, at = date(2024, 3, 1), datetime(2024, 3, 1, 3)
    old, _ = raw_response_table("things", [Page(1, "u", 200, dicts_of(body))], day, at)
    new, _ = raw_response_table("things", [Page(1, "u", 200, split(body))], day, at)
    assert new.drop_columns(["things"]).equals(old.drop_columns(["things"]))
    assert parse_responses(new, "things").table.equals(parse_responses(old, "things").table)


def test_parsed_rows_of_duplicate_keys_are_the_last_value_as_before() -> None:
    body = b'[{"id":"1","a":"x","a":"y"},{"id":"2","a":"z"}]'
    day = date(2024, 3, 1)
    old, _ = raw_response_table("things", [Page(1, "u", 200, dicts_of(body))], day)
    new, _ = raw_response_table("things", [Page(1, "u", 200, split(body))], day)
    got = parse_responses(new, "things").table
    assert got.select(["id", "a"]).to_pylist() == [{"id": "1", "a": "y"}, {"id": "2", "a": "z"}]
    assert got.select(["id", "a"]).equals(parse_responses(old, "things").table.select(["id", "a"]))


def test_checks_keep_the_newest_texts_and_name_a_record_without_id() -> None:
    body = b'[{"id":"1","last_updated":"2024-03-01 09:00:00","v":"old"},{"id":"2"}]'
    newer = b'[{"id":"1","last_updated":"2024-03-01 10:00:00","v":"new"}]'
    pages = [Page(1, "u1", 200, split(body)), Page(2, "u2", 200, split(newer))]
    checked = check_pages(pages, "things", "id", "20240301")
    assert checked.superseded == 1
    kept = [record_texts(p.records).to_pylist() for p in checked.pages]
    assert kept == [['{"id":"2"}'], ['{"id":"1","last_updated":"2024-03-01 10:00:00","v":"new"}']]
    bad = [Page(3, "u3", 200, split(b'[{"id":"1"},{"ref":" x"}]'))]
    with pytest.raises(Exception, match=r"page 3 \(u3\): record 2 has no 'id'.*\['ref'\]"):
        check_pages(bad, "things", "id", "20240301")
    with pytest.raises(Exception, match="record 1 has an unusable 'ref' ' '"):
        check_pages([Page(1, "u", 200, split(b'[{"ref":" "}]'))], "things", "ref", "20240301")


def test_repeated_pages_compare_their_texts() -> None:
    one = split(b'[{"id":"1"}]')
    assert one == split(b'[{"id":"1"}]')
    assert one != split(b'[{"id": "1"}]')  # another text is another page
    assert one == [{"id": "1"}]


@pytest.mark.spark
def test_spark_parses_the_api_texts_as_it_parsed_the_dicts(tmp_path) -> None:
    """Spark's ``get_json_object`` normalises numbers, escapes and nesting, like Arrow's parse."""
    from lbh_platform.engines.spark_engine import SparkEngine
    from lbh_platform.engines.spark_session import local_spark_session
    from lbh_platform.storage.lake import Lake

    engine = SparkEngine(local_spark_session())
    body = api_body(ROWS, spaced=True)
    day, at = date(2024, 3, 1), datetime(2024, 3, 1, 3)
    parsed = {}
    for name, records in (("dicts", dicts_of(body)), ("texts", split(body))):
        lake = Lake({"raw": str(tmp_path / name / "raw"), "refined": str(tmp_path / name / "r")})
        raw_table, _ = raw_response_table("things", [Page(1, "u", 200, records)], day, at)
        target = tascomi_table(lake, "api_response", "things")
        target.write("20240301", raw_table)
        frame = engine.parse(engine.read(target, ["20240301"]), "things").frame
        rows = [r.asDict() for r in frame.collect()]
        parsed[name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    assert parsed["texts"] == parsed["dicts"]


def test_the_first_import_after_the_change_counts_no_version_twice(tmp_path) -> None:
    """The previous partition holds texts re-encoded by ``json.dumps`` (written before the
    client kept the API's texts); the versions the API serves again are still recognised."""
    from lbh_platform.storage.lake import Lake
    from lbh_platform.tascomi import stages
    from lbh_platform.tascomi.tables import TascomiTable

    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "ref")})
    table = TascomiTable("appeals")
    d1, d2, d3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)
    seen = [{"id": "1", "last_updated": "2024-03-01 12:00:00", "road": "A/B é", "n": 1.5}]
    body_d1 = api_body(seen, spaced=True)  # how the API writes it: not json.dumps's form
    old_raw, _ = raw_response_table("appeals", [Page(1, "u", 200, dicts_of(body_d1))], d1)
    target = tascomi_table(lake, "api_response", "appeals")
    target.write(stages.partition_value(d1), old_raw)  # as the client before the change did
    assert not stages.texts_as_sent(target, stages.partition_value(d1))
    fresh = b'[{"id":"2","last_updated":"2024-03-02 09:00:00"}]'
    served = {d1: body_d1, d2: fresh}

    def fetch(resource: str, day: date | None, held_records=None) -> list[Page]:
        body = served.get(day) if day is not None else None
        return [Page(1, f"http://api/{resource}", 200, split(body))] if body else []

    report = stages.ingest(lake, table, d2, fetch)
    assert report.metadata["records_already_taken_by_previous_import"] == 1
    assert report.rows == 1
    assert stages.texts_as_sent(target, stages.partition_value(d2))
    served = {d2: fresh}  # from now on the texts compare byte for byte
    report = stages.ingest(lake, table, d3, fetch)
    assert report.metadata["records_already_taken_by_previous_import"] == 1
    assert report.rows == 0
