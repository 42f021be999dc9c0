"""An AWS stand-in for tests: moto's server on loopback, spoken to over real HTTP.

One server per test process (started on first use, on a free port); each test gets empty
S3, Glue and Secrets Manager, a fresh bucket and an environment pointing every AWS client at the
server through ``AWS_ENDPOINT_URL``, exactly as an S3-compatible store would be configured.
Use the ``aws`` fixture: ``from lbh_platform_tests.aws_stand_in import aws  # noqa: F401``.
"""

import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

REGION = "eu-west-2"
SERVICES = ("s3", "glue", "secretsmanager")
ACCESS_KEY_ID = "AKIASTANDIN000000000"
# Distinctive, so tests can assert it never reaches logs or exception text.
SECRET_ACCESS_KEY = f"standin-secret-{secrets.token_hex(12)}"

_lock = threading.Lock()
_endpoint: str | None = None


def moto_endpoint() -> str:
    """Start moto's threaded server once per process on 127.0.0.1 and a free port."""
    global _endpoint
    with _lock:
        if _endpoint is None:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request lines on stderr
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            _endpoint = f"http://{host}:{port}"
        return _endpoint


def _reset(services: tuple[str, ...]) -> None:
    """Empty the services the tests use, and only those: moto's state is per process, and
    other stand-ins (the Tenure DynamoDB one) may be running in it."""
    from moto.backends import get_backend

    for service in services:
        get_backend(service).reset()  # type: ignore[call-overload]


@dataclass(frozen=True)
class AwsStandIn:
    endpoint: str
    bucket: str
    region: str = REGION

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint)

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def object_keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` (the raw view, for junk checks)."""
        pages = self.client("s3").get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )


@pytest.fixture()
def aws(monkeypatch, tmp_path) -> AwsStandIn:
    endpoint = moto_endpoint()
    _reset(SERVICES)
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_GLUE",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    stand_in = AwsStandIn(endpoint, f"lake-{uuid.uuid4().hex[:12]}")
    stand_in.client("s3").create_bucket(
        Bucket=stand_in.bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return stand_in
