"""API keys from AWS Secrets Manager, for production where plain variables are not wanted.

A secret is a JSON object (``{"public_key": ..., "private_key": ...}`` for Tascomi,
``{"api_key": ...}`` for Alloy). Values never reach logs or exception text: errors name
the variable, the secret id and the missing keys only, and botocore's DEBUG dump of the
response body is suppressed while a secret is read.
"""

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

from lbh_platform.common.errors import ConfigurationError

_reading = threading.local()
# botocore logs every response body at DEBUG; for GetSecretValue that is the secret itself.
_BODY_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "botocore.retryhandler")


class _HideWhileReadingSecret(logging.Filter):
    """Drops botocore's records on the thread that is reading a secret, only while it does."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_reading, "active", False)


_FILTER = _HideWhileReadingSecret()
for _name in _BODY_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


def read_secret(
    secret_id: str,
    fields: Sequence[str],
    *,
    variable: str,
    region: str | None = None,
    client: Any = None,
) -> dict[str, str]:
    """The named ``fields`` of JSON secret ``secret_id`` (set by environment ``variable``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lbh_platform.storage.aws import aws_region, boto3_client

    region = region or aws_region()
    where = f"{variable}={secret_id!r} (Secrets Manager, region {region})"
    client = client or boto3_client("secretsmanager", region)
    _reading.active = True
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        if code == "ResourceNotFoundException":
            raise ConfigurationError(
                f"{where}: no such secret. Create it with JSON keys {list(fields)}, or fix "
                f"{variable}"
            ) from None
        raise ConfigurationError(
            f"{where}: cannot read the secret ({code}); check the credentials' "
            "secretsmanager:GetSecretValue permission"
        ) from None
    except BotoCoreError as exc:
        raise ConfigurationError(
            f"{where}: cannot reach Secrets Manager ({type(exc).__name__})"
        ) from None
    finally:
        _reading.active = False
    text = response.get("SecretString")
    try:
        document = json.loads(text) if text else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"{where}: the secret must be a JSON object with keys {list(fields)} "
            "(its value is not shown)"
        )
    missing = [f for f in fields if not isinstance(document.get(f), str) or not document[f]]
    if missing:
        raise ConfigurationError(
            f"{where}: the secret has no {', '.join(missing)} (expected JSON keys {list(fields)})"
        )
    return {f: document[f] for f in fields}
