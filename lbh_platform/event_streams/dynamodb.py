"""Read a whole DynamoDB table with a parallel scan and turn its items into plain values.

The ADR's initial state is a direct read of the service's table, so the scan must not be the
thing that hurts production: segments are configurable (``TotalSegments``), every segment
pages with ``LastEvaluatedKey`` (optionally with a small ``Limit``), and throttling is retried
with capped exponential backoff and full jitter rather than failing the extract.

Items are DynamoDB JSON (``{"S": ...}``, ``{"N": ...}``, ``{"M": ...}``); boto3's
TypeDeserializer gives Decimals, sets and Binary objects, which :func:`plain` makes plain:
Decimal -> int when whole, else float; sets -> sorted lists; binary -> base64 text; maps and
lists stay nested. :func:`arrow_column` then stores a column typed when every value fits one
Arrow type, and as JSON text when parquet cannot hold the values consistently (a number in
one item and text in another, for example).
"""

import base64
import json
import logging
import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from lbh_platform.common.errors import DataError

log = logging.getLogger(__name__)

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_TRANSIENT = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class ScanPolicy:
    """How to scan: ``segments`` workers (TotalSegments), an optional page ``limit`` (items per
    request, to spread read capacity), and the retry budget for throttled requests."""

    segments: int = 4
    limit: int | None = None
    max_attempts: int = 8
    backoff_base: float = 0.2
    backoff_max: float = 20.0
    consistent_read: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.segments <= 1_000_000:
            raise ValueError(f"segments must be between 1 and 1000000, got {self.segments}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")


@dataclass
class ScanResult:
    """Plain items (see :func:`plain`) and what the scan took."""

    table_name: str
    items: list[dict[str, Any]]
    segments: int
    pages: int = 0
    scanned_count: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)


def plain(value: Any) -> Any:
    """A deserialised DynamoDB value as plain Python (see the module docstring)."""
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode("ascii")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=lambda v: (str(type(v)), v))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def deserialize_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One item in DynamoDB JSON -> plain values."""
    return {name: plain(_deserializer.deserialize(value)) for name, value in item.items()}


def parallel_scan(
    client: Any,
    table_name: str,
    policy: ScanPolicy = ScanPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    random: Callable[[], float] = _random.random,
) -> ScanResult:
    """Scan every segment concurrently (one worker per segment) and return all items, plain.

    ``client`` is a boto3 DynamoDB client (thread-safe). A missing table or refused request
    fails at once with a DataError naming the table; throttling and dropped connections are
    retried up to ``policy.max_attempts`` per request.
    """
    result = ScanResult(table_name, [], policy.segments)
    lock = threading.Lock()

    def one_segment(segment: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start_key: dict | None = None
        page = 0
        while True:
            request: dict[str, Any] = {
                "TableName": table_name,
                "Segment": segment,
                "TotalSegments": policy.segments,
                "ConsistentRead": policy.consistent_read,
            }
            if policy.limit is not None:
                request["Limit"] = policy.limit
            if start_key is not None:
                request["ExclusiveStartKey"] = start_key
            page += 1
            response = _scan_page(client, request, policy, result, lock, sleep, random, page)
            items.extend(deserialize_item(i) for i in response.get("Items", []))
            with lock:
                result.pages += 1
                result.scanned_count += int(response.get("ScannedCount", 0))
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return items

    if policy.segments == 1:
        result.items = one_segment(0)
    else:
        with ThreadPoolExecutor(policy.segments, thread_name_prefix="dynamodb-scan") as pool:
            for items in pool.map(one_segment, range(policy.segments)):
                result.items.extend(items)
    return result


def _scan_page(
    client: Any,
    request: dict[str, Any],
    policy: ScanPolicy,
    result: ScanResult,
    lock: threading.Lock,
    sleep: Callable[[float], None],
    random: Callable[[], float],
    page: int,
) -> dict[str, Any]:
    describe = (
        f"DynamoDB table {request['TableName']} segment {request['Segment']}/"
        f"{request['TotalSegments']} page {page}"
    )
    for attempt in range(policy.max_attempts):
        try:
            return client.scan(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in THROTTLING_CODES:
                hint = " (is the table name right?)" if code == "ResourceNotFoundException" else ""
                raise DataError(f"{describe}: scan refused: {code}: {exc}{hint}") from exc
            reason = code
        except _TRANSIENT as exc:
            reason = type(exc).__name__
            if attempt + 1 >= policy.max_attempts:
                raise DataError(
                    f"{describe}: failed after {policy.max_attempts} attempts: {exc}"
                ) from exc
        if attempt + 1 >= policy.max_attempts:
            raise DataError(
                f"{describe}: still throttled ({reason}) after {policy.max_attempts} attempts; "
                "lower the segments or raise the table's read capacity"
            )
        delay = random() * min(policy.backoff_max, policy.backoff_base * 2**attempt)
        with lock:
            result.retries += 1
            result.retry_reasons[reason] = result.retry_reasons.get(reason, 0) + 1
        log.warning(
            "%s: attempt %d/%d failed (%s); retrying in %.2fs",
            describe,
            attempt + 1,
            policy.max_attempts,
            reason,
            delay,
        )
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def json_text(value: Any) -> str | None:
    """Stable JSON text for a plain value (None stays None)."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def arrow_column(values: list[Any]) -> tuple[pa.Array, bool]:
    """Values of one attribute across items -> an Arrow array; ``True`` when stored as JSON.

    Typed when Arrow infers one type for all values (nested maps become structs, lists lists);
    JSON text when it cannot (mixed kinds, numbers beyond int64) or when the only type it finds
    is null, so the column keeps one parquet type across partitions.
    """
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([json_text(v) for v in values], pa.string()), True
    if _has_null_type(array.type):
        return pa.array([json_text(v) for v in values], pa.string()), True
    return array, False


def _has_null_type(data_type: pa.DataType) -> bool:
    if pa.types.is_null(data_type):
        return True
    if pa.types.is_struct(data_type):
        return any(_has_null_type(data_type.field(i).type) for i in range(data_type.num_fields))
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return _has_null_type(data_type.value_type)
    return False
