"""AWS plumbing shared by the S3 zones, the Glue catalogue and Secrets Manager.

One place decides the region and the endpoint so that S3 (through pyarrow) and boto3 clients
always talk to the same place: AWS itself, or an S3-compatible store / local stand-in named by
the standard ``AWS_ENDPOINT_URL_<SERVICE>`` / ``AWS_ENDPOINT_URL`` variables. Credentials are
never handled here: both pyarrow and boto3 use the standard AWS credential chain
(environment, profile, SSO, container or instance role).
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from lbh_platform import settings_registry as registry

DEFAULT_REGION = "eu-west-2"


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return registry.environ(environ)


def aws_region(environ: Mapping[str, str] | None = None) -> str:
    """``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then London (botocore reads only the latter)."""
    env = _env(environ)
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def endpoint_url(service: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The service-specific endpoint (``AWS_ENDPOINT_URL_S3``...), else ``AWS_ENDPOINT_URL``:
    the rule botocore applies itself, repeated here for pyarrow's S3 client."""
    env = _env(environ)
    specific = f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_').replace(' ', '_')}"
    return env.get(specific) or env.get("AWS_ENDPOINT_URL") or None


def boto3_client(service: str, region: str | None = None) -> Any:
    """A boto3 client in the platform's region. botocore itself resolves the endpoint from
    ``AWS_ENDPOINT_URL_<SERVICE>`` (``_GLUE``, ``_SECRETS_MANAGER``) or ``AWS_ENDPOINT_URL``,
    and the credentials from the default chain."""
    import boto3  # deferred: only S3/Glue/Secrets users pay for the import

    return boto3.client(service, region_name=region or aws_region())


def s3_filesystem(region: str | None = None) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem with the shared region and endpoint.

    The region is given explicitly so pyarrow does not probe the bucket's region on every
    new filesystem; an ``http://`` endpoint (a local stand-in) switches the scheme to http.
    """
    options: dict[str, Any] = {"region": region or aws_region()}
    endpoint = endpoint_url("s3")
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options["endpoint_override"] = parts.netloc
        options["scheme"] = parts.scheme
    return pafs.S3FileSystem(**options)


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))
