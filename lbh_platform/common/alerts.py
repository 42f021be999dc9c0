"""Alert messages for the on-call engineer and their delivery to a chat webhook.

One plain JSON body, ``{"text": ...}``, is what Google Chat, Slack and Microsoft Teams
incoming webhooks all accept, so one poster serves the three. A message names the source,
table, partition, the check or step, the cause and a link to the run; every value of a setting
the registry declares secret is masked before a message leaves (:mod:`.alerts_masking`; the
webhook URL itself is a credential and is never logged). No Dagster here.
"""

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import requests

from lbh_platform import settings_registry as registry
from lbh_platform.common.alerts_masking import (  # noqa: F401 (secret_values: re-exported)
    MASK,
    install_log_masking,
    redact,
    secret_values,
)

WEBHOOK_ENV = "LBH_ALERT_WEBHOOK_URL"
UI_BASE_ENV = "LBH_UI_BASE_URL"
DEFAULT_UI_BASE = "http://127.0.0.1:3000"
_MAX_CAUSE_CHARS = 600


@dataclass(frozen=True)
class Alert:
    """What failed, where, and why: one message."""

    title: str  # e.g. "Blocking check failed"
    source: str  # tascomi, alloy, tenure (or several)
    table: str
    partition: str
    subject: str  # "check parsed/id_import_date_unique" or "step tascomi__parsed__appeals"
    cause: str
    run_id: str | None = None
    detail: str = ""  # e.g. "attempt 3 of 3", "severity ERROR, blocking"


def failure_cause(chain: Sequence[tuple[str, str]]) -> str:
    """The cause of a failure from its exception chain, outermost first, as (class name,
    message) pairs: the project's own message ("tascomi documents page 1: GET ... failed after
    5 attempts: ...") first, then each deeper cause it does not already quote, so shortening
    the line keeps what failed before why."""
    parts: list[str] = []
    for name, message in chain:
        message = " ".join(message.split())
        if name:  # Dagster may prefix the message with the class, even with its module
            message = re.sub(rf"^([\w.]*\.)?{re.escape(name)}: ", "", message)
        if message and any(message in part for part in parts):
            continue
        parts.append(f"{name}: {message}" if name else message)
    return "; caused by ".join(parts)


def run_url(run_id: str, ui_base: str) -> str:
    return f"{ui_base.rstrip('/')}/runs/{run_id}"


def format_alert(alert: Alert, ui_base: str, secrets: Iterable[str] = ()) -> str:
    """The message text, secrets masked, the cause shortened to what fits a chat message."""
    cause = " ".join(alert.cause.split())
    if len(cause) > _MAX_CAUSE_CHARS:
        cause = cause[: _MAX_CAUSE_CHARS - 1] + "…"
    lines = [
        f"[lbh_platform] {alert.title}: {alert.source} {alert.table}, partition {alert.partition}",
        f"{alert.subject}" + (f" ({alert.detail})" if alert.detail else ""),
        f"cause: {cause}",
    ]
    if alert.run_id:
        lines.append(f"run: {run_url(alert.run_id, ui_base)}")
    return redact("\n".join(lines), secrets)


class WebhookPoster:
    """POSTs ``{"text": message}`` to an incoming webhook, retrying transient failures.

    Errors name the HTTP status or the exception type only: the URL carries the webhook's
    token, so it never appears in a log line or an exception.
    """

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 3,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._url = url
        self._attempts = attempts
        self._timeout = timeout
        self._session = session or requests.Session()
        self._sleep = sleep
        install_log_masking()  # urllib3 logs the request's path, which carries the token

    def __repr__(self) -> str:
        return "WebhookPoster(url=<from LBH_ALERT_WEBHOOK_URL>)"

    def post(self, text: str) -> None:
        problem = ""
        for attempt in range(self._attempts):
            try:
                response = self._session.post(self._url, json={"text": text}, timeout=self._timeout)
            except requests.RequestException as exc:
                problem = type(exc).__name__
            else:
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break
            if attempt + 1 < self._attempts:
                self._sleep(0.5 * 2**attempt)
        raise AlertDeliveryError(f"alert webhook failed: {problem}")


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the message (status or exception type; never the URL)."""


def deliver(
    alert: Alert,
    log: logging.Logger | logging.LoggerAdapter,
    environ: Mapping[str, str] | None = None,
    poster_factory: Callable[[str], WebhookPoster] = WebhookPoster,
) -> str:
    """Send ``alert`` to the webhook ``$LBH_ALERT_WEBHOOK_URL``, or log what would be sent."""
    environ = registry.environ(environ)
    text = format_alert(alert, environ.get(UI_BASE_ENV) or DEFAULT_UI_BASE, secret_values(environ))
    url = environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        log.info(f"{WEBHOOK_ENV} is not set; the alert would say:\n{text}")
        return text
    poster_factory(url).post(text)
    log.info(f"alert sent:\n{text}")
    return text
