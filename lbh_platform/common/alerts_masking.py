"""Masking of secret values in what the monitoring sends or logs (alerts, the heartbeat).

Which values are secret is the settings registry's to say (``Setting.secret``): one source, so
a secret declared tomorrow is masked without a list to keep here. A name the registry does not
declare (a variable only a library reads, such as ``AWS_SECRET_ACCESS_KEY``) is masked when it
looks like a credential. No Dagster here.
"""

import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from lbh_platform import settings_registry as registry

MASK = "[redacted]"
# Only for names the registry does not declare: there the registry's flag decides.
_CREDENTIAL_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|WEBHOOK", re.IGNORECASE)
_MIN_UNDECLARED_CHARS = 6  # a short value of a look-alike name would mask ordinary words
_MIN_TARGET_CHARS = 8  # a URL's path that short ("/", "/api/") carries no token
# Loggers of the HTTP libraries the monitoring uses: urllib3 logs each request's URL at DEBUG
# ("POST /webhook/<token> HTTP/1.1"), and a webhook's or a monitor's URL is the credential.
LIBRARY_LOGGERS = ("urllib3.connectionpool",)


def _declarations() -> tuple[dict[str, registry.Setting], list[registry.Setting]]:
    settings = registry.every_setting()
    return (
        {s.name: s for s in settings if not s.pattern},
        [s for s in settings if s.pattern],
    )


def _declaration(name: str, plain: Mapping[str, registry.Setting], families):
    return plain.get(name) or next((f for f in families if name.startswith(f.name)), None)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values to mask: every set setting the registry declares secret, and undeclared
    variables named like credentials; longest first, so no secret is masked only in part."""
    plain, families = _declarations()
    values = set()
    for name, value in registry.environ(environ).items():
        value = value.strip()
        setting = _declaration(name, plain, families)
        if setting is not None:
            secret = setting.secret
        else:
            secret = bool(_CREDENTIAL_NAME.search(name)) and len(value) >= _MIN_UNDECLARED_CHARS
        if secret and value:
            values.update(_forms(value))
    return sorted(values, key=len, reverse=True)


def _forms(value: str) -> list[str]:
    """The value, and for a URL its request target (path and query) too: HTTP libraries log
    the target apart from the host, and the token of a webhook or a monitor is in it."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return [value]
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.scheme in ("http", "https") and len(target) >= _MIN_TARGET_CHARS:
        return [value, target]
    return [value]


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def mask(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret value of ``environ`` (the process's) replaced."""
    return redact(text, secret_values(environ))


class SecretMaskingFilter(logging.Filter):
    """Masks secret values in a library's log records before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the library's problem; never ours to raise
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_FILTER = SecretMaskingFilter()


def install_log_masking() -> None:
    """Attach the masking filter to the HTTP libraries' loggers (once; idempotent)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
