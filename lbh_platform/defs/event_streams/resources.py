"""An entity's DynamoDB table as a Dagster resource (configuration -> a parallel scan)."""

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import boto3
import dagster as dg
from botocore.config import Config

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.event_streams.dynamodb import ScanPolicy, ScanResult, parallel_scan
from lbh_platform.event_streams.spec import EventStream

DEFAULT_REGION = "eu-west-2"
DEFAULT_SEGMENTS = 4
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class DynamoTableResource(dg.ConfigurableResource):
    """An entity's initial-state table: AWS by default, or any endpoint (a local stand-in).

    Credentials come from the standard AWS chain and are never configuration here. For a
    loopback endpoint with no ``AWS_ACCESS_KEY_ID`` / ``AWS_PROFILE`` set, placeholder ones
    are used (a stand-in accepts any).
    Retries are ours alone (botocore's are off), so the attempt budget is the one configured.
    """

    table_name: str
    endpoint_url: str | None = None
    region_name: str | None = None
    segments: int = DEFAULT_SEGMENTS
    page_size: int | None = None
    max_attempts: int = 8
    read_timeout_seconds: float = 60.0

    def policy(self) -> ScanPolicy:
        return ScanPolicy(
            segments=self.segments, limit=self.page_size, max_attempts=self.max_attempts
        )

    def client(self) -> Any:
        region = (
            self.region_name
            or registry.get("AWS_REGION")
            or registry.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION
        )
        session = boto3.session.Session(region_name=region)
        extra: dict[str, str] = {}
        host = urlsplit(self.endpoint_url).hostname if self.endpoint_url else None
        # Asking the credential chain would probe instance metadata (seconds) when nothing is
        # set; a stand-in accepts any credentials, so look at the explicit settings only.
        explicit = registry.get("AWS_ACCESS_KEY_ID") or registry.get("AWS_PROFILE")
        if host in _LOOPBACK and not explicit:
            extra = {"aws_access_key_id": "stand-in", "aws_secret_access_key": "stand-in"}
        return session.client(
            "dynamodb",
            endpoint_url=self.endpoint_url or None,
            config=Config(
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=5,
                read_timeout=self.read_timeout_seconds,
                max_pool_connections=max(10, self.segments),
            ),
            **extra,
        )

    def scan(self) -> ScanResult:
        """Every item of the table, plain (see :mod:`lbh_platform.event_streams.dynamodb`)."""
        return parallel_scan(self.client(), self.table_name, self.policy())


def dynamo_from_env(
    stream: EventStream, environ: Mapping[str, str] | None = None
) -> DynamoTableResource:
    """``<NAME>_DYNAMODB_TABLE`` (default: the entry's table), ``<NAME>_DYNAMODB_SEGMENTS``,
    ``<NAME>_DYNAMODB_PAGE_SIZE`` (``TENURE_...``, ``CONTACT_DETAILS_...``),
    ``AWS_ENDPOINT_URL_DYNAMODB`` (else ``AWS_ENDPOINT_URL``); region from ``AWS_REGION`` /
    ``AWS_DEFAULT_REGION`` (default eu-west-2)."""
    env = registry.environ(environ)
    prefix = f"{stream.env_prefix}_DYNAMODB"
    page_size = env.get(f"{prefix}_PAGE_SIZE")
    return DynamoTableResource(
        table_name=env.get(f"{prefix}_TABLE") or stream.dynamodb_table,
        endpoint_url=env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or None,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        segments=_positive_int(env, f"{prefix}_SEGMENTS", DEFAULT_SEGMENTS),
        page_size=_positive_int(env, f"{prefix}_PAGE_SIZE", 0) if page_size else None,
    )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{name} must be a whole number >= 1, got {text!r}")
    return value
