"""Tascomi signing: the vendor's test vector and London (BST/GMT) minute formatting."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lbh_platform.tascomi.auth import auth_headers, auth_token, london_minute, x_hash

PUBLIC = "test-public-key"
PRIVATE = "test-private-key"
MINUTE = "202109161310"
TOKEN = "d87e725d25dd485c15ed57493f3f222988a1c00616cc61e19a9277d4eaa2ba66"
X_HASH = "NDcxYjcwODI0N2RhZGRhZmZmMzBlOGI2ZDA0MzQ5ZTliNTRkNWZkZDc0NDAzYjQ1NGM3N2FhMjc5NjBhMWIwMg=="


def test_token_matches_vendor_test_vector() -> None:
    assert auth_token(PUBLIC, MINUTE) == TOKEN


def test_x_hash_matches_vendor_test_vector() -> None:
    value = x_hash(PUBLIC, PRIVATE, MINUTE)
    assert value == X_HASH
    assert len(value) == 88 and value.endswith("==")


def test_auth_headers_use_london_time_of_now() -> None:
    # 12:10 UTC on 16 September 2021 is 13:10 BST: the minute of the test vector.
    headers = auth_headers(PUBLIC, PRIVATE, datetime(2021, 9, 16, 12, 10, 59, tzinfo=UTC))
    assert headers == {"X-Public": PUBLIC, "X-Hash": X_HASH}


def test_hash_changes_with_the_minute() -> None:
    assert x_hash(PUBLIC, PRIVATE, "202109161311") != X_HASH


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Summer (BST, UTC+1).
        (datetime(2021, 9, 16, 12, 10, tzinfo=UTC), "202109161310"),
        # Winter (GMT, UTC+0).
        (datetime(2021, 12, 1, 12, 10, tzinfo=UTC), "202112011210"),
        # Naive datetimes are UTC.
        (datetime(2021, 9, 16, 12, 10), "202109161310"),
        (datetime(2021, 12, 1, 12, 10), "202112011210"),
        # Other offsets are converted, including across midnight.
        (datetime(2021, 9, 16, 23, 30, tzinfo=timezone(timedelta(hours=-5))), "202109170530"),
        # Spring forward: 01:00 UTC on 28 March 2021 is 02:00 BST.
        (datetime(2021, 3, 28, 0, 59, tzinfo=UTC), "202103280059"),
        (datetime(2021, 3, 28, 1, 0, tzinfo=UTC), "202103280200"),
        # Fall back: 01:30 local happens twice on 31 October 2021.
        (datetime(2021, 10, 31, 0, 30, tzinfo=UTC), "202110310130"),
        (datetime(2021, 10, 31, 1, 30, tzinfo=UTC), "202110310130"),
        (datetime(2021, 10, 31, 2, 30, tzinfo=UTC), "202110310230"),
        # Seconds are truncated, not rounded.
        (datetime(2021, 12, 1, 12, 10, 59, 999999, tzinfo=UTC), "202112011210"),
    ],
)
def test_london_minute(now: datetime, expected: str) -> None:
    assert london_minute(now) == expected
