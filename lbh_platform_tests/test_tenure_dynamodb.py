"""DynamoDB scan and type conversion: plain values, the canonical schema, null-date sentinels,
the parallel scan against the stand-in over HTTP, and throttling."""

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError

from lbh_platform.common.errors import DataError
from lbh_platform.event_streams import stages
from lbh_platform.event_streams.dynamodb import (
    ScanPolicy,
    arrow_column,
    deserialize_item,
    parallel_scan,
    plain,
)
from lbh_platform.event_streams.schema import (
    Conversion,
    ConversionError,
    snake_case,
    to_timestamp,
)
from lbh_platform.event_streams.spec import stream_named
from lbh_platform_devkit.event_streams.generator import dynamodb_item as render_item
from lbh_platform_devkit.event_streams.generator import generate_stream
from lbh_platform_devkit.event_streams.stand_in import DynamoDbStandIn

TENURE = stream_named("tenure")
TENURE_SCHEMA = TENURE.schema.arrow_schema
canonical_record = TENURE.schema.canonical_record
canonical_table = TENURE.schema.canonical_table


def extract_table(items):
    return stages.extract_table(TENURE, items)


def dynamodb_item(record, **options):
    return render_item(TENURE, record, **options)


MEMBER_ID = "220c3b66-07d8-4577-d61c-5486595b4ac5"


def test_plain_values_from_dynamodb_json():
    item = deserialize_item(
        {
            "id": {"S": "t1"},
            "whole": {"N": "42"},
            "fraction": {"N": "100.63"},
            "big": {"N": "12345678901234567890123"},
            "flags": {"SS": ["b", "a"]},
            "numbers": {"NS": ["3", "1.5"]},
            "blob": {"B": b"\x00\x01"},
            "nothing": {"NULL": True},
            "members": {"L": [{"M": {"fullName": {"S": "A"}, "isResponsible": {"BOOL": True}}}]},
        }
    )
    assert item["whole"] == 42 and isinstance(item["whole"], int)
    assert item["fraction"] == 100.63 and isinstance(item["fraction"], float)
    assert item["big"] == 12345678901234567890123
    assert item["flags"] == ["a", "b"]
    assert item["numbers"] == [1.5, 3]
    assert item["blob"] == "AAE="
    assert item["nothing"] is None
    assert item["members"] == [{"fullName": "A", "isResponsible": True}]
    assert plain(Binary(b"x")) == "eA=="
    assert plain({Decimal("2"), Decimal("1")}) == [1, 2]


def test_columns_parquet_cannot_hold_become_json_text():
    typed, as_json = arrow_column([{"a": 1}, {"a": 2, "b": "x"}, None])
    assert not as_json and pa.types.is_struct(typed.type)
    mixed, as_json = arrow_column([1, "one", None])
    assert as_json and mixed.to_pylist() == ["1", '"one"', None]
    huge, as_json = arrow_column([12345678901234567890123, 1])
    assert as_json and huge.to_pylist() == ["12345678901234567890123", "1"]
    empty, as_json = arrow_column([None, None])
    assert as_json and empty.type == pa.string()


def test_null_date_sentinels_and_date_forms():
    assert to_timestamp(-2147483648) is None
    assert to_timestamp("0001-01-01T00:00:00") is None
    assert to_timestamp("0001-01-01T00:00:00.0000000Z") is None
    assert to_timestamp(None) is None
    assert to_timestamp(968630400) == datetime(2000, 9, 11, tzinfo=UTC)
    assert to_timestamp(-1506729600) == datetime(1922, 4, 4, tzinfo=UTC)
    assert to_timestamp("2000-09-11T00:00:00.0000000Z") == datetime(2000, 9, 11, tzinfo=UTC)
    assert to_timestamp("2000-09-11T01:00:00+01:00") == datetime(2000, 9, 11, tzinfo=UTC)
    assert to_timestamp("2000-09-11") == datetime(2000, 9, 11, tzinfo=UTC)
    with pytest.raises(ConversionError):
        to_timestamp("next tuesday")
    with pytest.raises(ConversionError):
        to_timestamp(True)


def test_camel_and_pascal_names_meet_in_one_schema():
    assert snake_case("householdMembers") == snake_case("HouseholdMembers") == "household_members"
    assert snake_case("InformHousingBenefitsForChanges") == "inform_housing_benefits_for_changes"
    assert snake_case("Uprn") == snake_case("UPRN") == "uprn"
    dynamo = {
        "id": "t1",
        "householdMembers": [
            {"id": MEMBER_ID, "fullName": "Tester", "dateOfBirth": "1922-04-04T00:00:00Z"}
        ],
        "charges": {"rent": 100.63, "serviceCharge": 0},
        "successionDate": -2147483648,
        "evictionDate": "0001-01-01T00:00:00",
        "isActive": False,
    }
    event = {
        "Id": "t1",
        "HouseholdMembers": [{"Id": MEMBER_ID, "FullName": "Tester", "DateOfBirth": -1506729600}],
        "Charges": {"Rent": 100.63, "ServiceCharge": 0.0},
        "SuccessionDate": -2147483648,
        "EvictionDate": None,
        "IsActive": False,
    }
    left = canonical_record(dynamo, strict=True)
    right = canonical_record(event, strict=True)
    assert left == right
    assert left["household_members"][0]["date_of_birth"] == datetime(1922, 4, 4, tzinfo=UTC)
    assert left["succession_date"] is None and left["eviction_date"] is None
    assert left["charges"]["service_charge"] == 0.0
    assert canonical_table([left, right]).schema == TENURE_SCHEMA


def test_lenient_conversion_nulls_and_counts_strict_raises():
    bad = {"id": "t1", "charges": {"rent": "a lot"}, "isActive": "yes", "mystery": 1}
    report = Conversion()
    record = canonical_record(bad, strict=False, report=report)
    assert record["charges"]["rent"] is None and record["is_active"] is None
    assert report.failures == {"charges.rent": 1, "is_active": 1}
    assert report.unmapped == {"mystery": 1}
    with pytest.raises(ConversionError, match="charges.rent"):
        canonical_record(bad, strict=True)


def test_extract_keeps_other_attributes_typed_or_as_json():
    items = [
        {"id": "b", "versionNumber": 2, "legacyBlob": "x", "tags": ["a"]},
        {"id": "a", "versionNumber": 1, "legacyBlob": 7},
    ]
    extracted = extract_table(items)
    table = extracted.table
    assert table["id"].to_pylist() == ["a", "b"]
    assert extracted.extra_columns == {
        "version_number": "typed",
        "legacy_blob": "json",
        "tags": "typed",
    }
    assert table["version_number"].to_pylist() == [1, 2]
    assert table["legacy_blob"].to_pylist() == ["7", '"x"']


class _Throttling:
    """A client that throttles the first calls of each segment, then delegates."""

    def __init__(self, client, throttles: int, code: str):
        self.client, self.left, self.code, self.calls = client, throttles, code, 0

    def scan(self, **request):
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise ClientError({"Error": {"Code": self.code, "Message": "slow down"}}, "Scan")
        return self.client.scan(**request)


@pytest.fixture(scope="module")
def stand_in():
    stream = generate_stream(TENURE, [datetime(2024, 3, 4).date()], entities=25, seed=3)
    with DynamoDbStandIn() as server:
        server.load(TENURE, stream.initial)
        server.put_items(
            [
                {
                    "id": "zz-odd",
                    "tags": {"b", "a"},
                    "blob": Binary(b"\x00\x01"),
                    "householdMembers": [{"id": MEMBER_ID, "dateOfBirth": Decimal(-2147483648)}],
                    "charges": {"rent": Decimal("100.63"), "currentBalance": Decimal("0")},
                    "startOfTenureDate": "0001-01-01T00:00:00",
                    "isTenanted": None,
                }
            ]
        )
        yield server, stream


def test_parallel_scan_over_http_pages_every_segment(stand_in):
    server, stream = stand_in
    result = parallel_scan(server.client(), server.table_name, ScanPolicy(segments=3, limit=4))
    ids = [item["id"] for item in result.items]
    assert len(ids) == len(set(ids)) == len(stream.initial) + 1
    assert result.pages > 3  # every segment paged with LastEvaluatedKey
    odd = next(item for item in result.items if item["id"] == "zz-odd")
    assert odd["tags"] == ["a", "b"] and odd["blob"] == "AAE="
    assert odd["charges"] == {"rent": 100.63, "currentBalance": 0}

    extracted = extract_table(result.items)
    rows = {r["id"]: r for r in extracted.table.to_pylist()}
    assert rows["zz-odd"]["household_members"][0]["date_of_birth"] is None
    assert rows["zz-odd"]["start_of_tenure_date"] is None
    assert rows["zz-odd"]["is_tenanted"] is None
    assert rows["zz-odd"]["charges"]["rent"] == 100.63
    assert rows["zz-odd"]["tags"] == ["a", "b"]  # a string set, as a sorted list
    assert rows["zz-odd"]["blob"] == "AAE="
    assert extracted.extra_columns["version_number"] == "typed"
    for tenure_id, expected in stream.initial.items():
        got = {k: rows[tenure_id][k] for k in expected}
        assert got == expected, tenure_id


def test_throttling_is_retried_with_backoff(stand_in):
    server, _ = stand_in
    client = _Throttling(server.client(), 3, "ProvisionedThroughputExceededException")
    sleeps = []
    result = parallel_scan(
        client, server.table_name, ScanPolicy(segments=2), sleep=sleeps.append, random=lambda: 1
    )
    assert result.retries == 3 and len(sleeps) == 3
    assert result.retry_reasons == {"ProvisionedThroughputExceededException": 3}
    assert len(result.items) == 26


def test_throttling_gives_up_with_a_clear_error(stand_in):
    server, _ = stand_in
    client = _Throttling(server.client(), 100, "ThrottlingException")
    with pytest.raises(DataError, match="still throttled .*TenureInformation|TenureInformation"):
        parallel_scan(
            client,
            server.table_name,
            ScanPolicy(segments=1, max_attempts=3),
            sleep=lambda _: None,
        )


def test_missing_table_names_the_table(stand_in):
    server, _ = stand_in
    with pytest.raises(DataError, match="NoSuchTable.*ResourceNotFoundException"):
        parallel_scan(server.client(), "NoSuchTable", ScanPolicy(segments=1))


def test_dynamodb_item_rendering_round_trips(stand_in):
    _, stream = stand_in
    record = next(iter(stream.initial.values()))
    for sentinel in (False, True):
        item = dynamodb_item(record, sentinel_dates=sentinel)
        back = canonical_record(plain(item), strict=True)
        assert back == record
