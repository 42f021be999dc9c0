"""Tascomi request signing: `X-Public` plus an `X-Hash` that changes every London minute.

The hash binds the public key to the current minute, so it must be computed for every request
(and every retry) from the clock, never cached.
"""

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["LONDON", "auth_headers", "auth_token", "london_minute", "x_hash"]

LONDON = ZoneInfo("Europe/London")


def london_minute(now: datetime) -> str:
    """`now` as London wall-clock time to the minute (`YYYYMMDDHHMM`); naive means UTC.

    Tascomi checks the hash against its own London time, so BST matters.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(LONDON).strftime("%Y%m%d%H%M")


def auth_token(public_key: str, minute: str) -> str:
    """Lower-case hex SHA-256 of the public key followed by the minute string."""
    return hashlib.sha256((public_key + minute).encode("utf-8")).hexdigest()


def x_hash(public_key: str, private_key: str, minute: str) -> str:
    """Base64 of the hex HMAC-SHA256 of the token, keyed with the private key (88 chars)."""
    token = auth_token(public_key, minute)
    digest = hmac.new(private_key.encode("utf-8"), token.encode("ascii"), hashlib.sha256)
    return base64.b64encode(digest.hexdigest().encode("ascii")).decode("ascii")


def auth_headers(public_key: str, private_key: str, now: datetime) -> dict[str, str]:
    """The two headers that authenticate one request made at `now`."""
    return {
        "X-Public": public_key,
        "X-Hash": x_hash(public_key, private_key, london_minute(now)),
    }
