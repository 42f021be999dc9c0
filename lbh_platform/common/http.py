"""One careful way to call an HTTP API: timeouts, bounded retries, backoff and safe messages.

The original pipelines had no timeouts and no retries, so one slow or flaky response could hang
or fail a whole import. Every client (Tascomi, Alloy) goes through `send_with_retries` so they
share the same behaviour and the same guarantee that credentials never reach logs or errors.
"""

import email.utils
import logging
import math
import os
import random as _random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import requests

__all__ = [
    "ApiError",
    "ApiRequestError",
    "AuthenticationError",
    "OwnedSession",
    "RetryPolicy",
    "environment_read_once",
    "safe_url",
    "send_with_retries",
]

_DEFAULT_LOG = logging.getLogger("lbh_platform.http")

# Query parameters whose names look like credentials are dropped from anything we print.
_SECRET_PARAM = re.compile(r"key|token|secret|hash|password|signature", re.IGNORECASE)

# Transport failures worth another attempt: refused/dropped connections, timeouts and bodies
# cut short (urllib3 reports a short Content-Length as ChunkedEncodingError).
_RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

_SNIPPET_CHARS = 200

Headers = Mapping[str, str]
HeadersArg = Headers | Callable[[], Headers] | None


def environment_read_once(session: requests.Session, url: str) -> requests.Session:
    """``session`` with the environment's settings for ``url`` (proxies, CA bundle, netrc)
    read now, once, as requests would read them on every request.

    With ``trust_env`` on, requests scans ``os.environ`` for proxies twice per request
    (~0.3 ms under the interpreter lock), which a client fetching many pages of one host
    pays per page. Settings already on the session win, as they would have."""
    if not session.trust_env:
        return session
    proxies = requests.utils.get_environ_proxies(url, no_proxy=session.proxies.get("no_proxy"))
    for scheme, proxy in proxies.items():
        session.proxies.setdefault(scheme, proxy)
    if session.verify is True:
        session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
    if session.auth is None:
        session.auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False
    return session


class OwnedSession:
    """An API client's session and context-manager plumbing: a session the caller passed is
    theirs to close; one the client made is closed by :meth:`close` (or leaving ``with``)."""

    _session: requests.Session
    _owns_session: bool

    def _adopt_session(
        self,
        session: requests.Session | None,
        make: Callable[[], requests.Session] = requests.Session,
    ) -> None:
        self._owns_session = session is None
        self._session = session if session is not None else make()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections, but only of a session we created ourselves."""
        if self._owns_session:
            self._session.close()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, backoff and timeouts (seconds), shared by all API clients."""

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("connect_timeout", "read_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"RetryPolicy.{name} must be > 0, got {getattr(self, name)}")

    @property
    def timeout(self) -> tuple[float, float]:
        """The `(connect, read)` pair requests expects."""
        return (self.connect_timeout, self.read_timeout)

    def backoff(self, attempt: int, random: Callable[[], float]) -> float:
        """Full-jitter delay after the failed attempt `attempt` (0-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(attempt, 64))
        return random() * ceiling


class ApiError(Exception):
    """An API call failed; `describe` says which call, `status` the HTTP status if any."""

    def __init__(
        self, message: str, *, describe: str = "", status: int | None = None, url: str = ""
    ) -> None:
        super().__init__(message)
        self.describe = describe
        self.status = status
        self.url = url


class AuthenticationError(ApiError):
    """The API rejected our credentials (401/403): retrying cannot help."""


class ApiRequestError(ApiError):
    """The API refused the request (4xx) or kept failing until the retries ran out."""


def safe_url(url: str, params: Mapping[str, Any] | None = None) -> str:
    """The URL with `params` applied, minus credential-like query parameters and userinfo."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    for name, value in (params or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        query.extend((str(name), str(v)) for v in values if v is not None)
    kept = [(k, v) for k, v in query if not _SECRET_PARAM.search(k)]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept), ""))


def send_with_retries(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    describe: str,
    headers: HeadersArg = None,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    random: Callable[[], float] = _random.random,
    log: logging.Logger | logging.LoggerAdapter | None = None,
    validate: Callable[[requests.Response], str | None] | None = None,
    slot: AbstractContextManager[object] | None = None,
) -> requests.Response:
    """Send one request, retrying transient failures; return the first usable response.

    Retries connection errors, timeouts, truncated bodies, 5xx and 429 with exponential backoff
    and full jitter, honouring `Retry-After` (capped). 401/403 raise `AuthenticationError` and
    other 4xx raise `ApiRequestError` at once. `headers` may be a callable, called once per
    attempt, for signatures that depend on the time. `validate` may return a reason to treat a
    non-error response (e.g. a 200 with a garbled body) as a retryable failure. `slot`, if
    given, is held only while a request is sent and its body read (a semaphore bounding the
    requests in flight): `validate` and backoff run outside it, so checking one body does
    not hold back the next request.
    """
    log = log if log is not None else _DEFAULT_LOG
    shown_url = safe_url(url, params)
    secrets = _secret_values(url, params)
    attempts = policy.max_attempts

    for attempt in range(attempts):
        sent_headers: dict[str, str] = {}
        response: requests.Response | None = None
        try:
            with slot if slot is not None else nullcontext():
                # Made in the slot, so a signature for this minute goes out at once.
                sent_headers = dict(headers() if callable(headers) else (headers or {}))
                response = session.request(
                    method,
                    url,
                    headers=sent_headers,
                    params=params,
                    json=json,
                    timeout=policy.timeout,
                    stream=True,
                )
                _read_body(response)
        except _RETRYABLE_EXCEPTIONS as exc:
            all_secrets = secrets + [v for v in sent_headers.values() if len(v) >= 8]
            if response is not None:
                response.close()
            reason = _redact(f"{type(exc).__name__}: {exc}", all_secrets)
            short_reason = type(exc).__name__
            if attempt + 1 >= attempts:
                error = ApiRequestError(
                    f"{describe}: {method} {shown_url} failed after {attempts} attempts: {reason}",
                    describe=describe,
                    status=None,
                    url=shown_url,
                )
                # The original exception may quote the raw URL; only chain it when that is safe.
                if secrets:
                    raise error from None
                raise error from exc
            delay = policy.backoff(attempt, random)
        else:
            all_secrets = secrets + [v for v in sent_headers.values() if len(v) >= 8]
            status = response.status_code
            if status in (401, 403):
                raise AuthenticationError(
                    f"{describe}: {method} {shown_url} was rejected with HTTP {status}"
                    f" (check the API credentials){_snippet(response, all_secrets)}",
                    describe=describe,
                    status=status,
                    url=shown_url,
                )
            if status == 429 or status >= 500:
                reason = short_reason = f"HTTP {status}"
            elif status >= 400:
                raise ApiRequestError(
                    f"{describe}: {method} {shown_url} failed with HTTP {status}"
                    f"{_snippet(response, all_secrets)}",
                    describe=describe,
                    status=status,
                    url=shown_url,
                )
            else:
                problem = validate(response) if validate is not None else None
                if problem is None:
                    return response
                reason = short_reason = f"HTTP {status} with unusable body: {problem}"
            if attempt + 1 >= attempts:
                raise ApiRequestError(
                    f"{describe}: {method} {shown_url} failed after {attempts} attempts: "
                    f"{reason}{_snippet(response, all_secrets)}",
                    describe=describe,
                    status=status,
                    url=shown_url,
                )
            delay = policy.backoff(attempt, random)
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                delay = min(max(retry_after, delay), policy.max_retry_after)
            response.close()

        log.warning(
            "%s: attempt %d/%d failed (%s); retrying in %.2fs",
            describe,
            attempt + 1,
            attempts,
            short_reason,
            delay,
        )
        sleep(delay)

    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _read_body(response: requests.Response) -> None:
    """Read the whole body in one call, as ``response.content``.

    requests reads a body 10 KB at a time under the interpreter lock (``Response.content``),
    which made multi-megabyte pages CPU-bound; one ``iter_content(None)`` chunk is one read of
    the whole body, with requests' own mapping of a cut-short or undecodable body to
    ``ChunkedEncodingError`` / ``ContentDecodingError`` (retried like any transport failure).
    """
    body = b"".join(response.iter_content(chunk_size=None))
    # What Response.content does with the bytes it read; a stream cannot be read twice.
    response._content = body  # noqa: SLF001 - requests has no public setter for it
    response._content_consumed = True  # noqa: SLF001


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), if parseable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _secret_values(url: str, params: Mapping[str, Any] | None) -> list[str]:
    """Values of credential-like query parameters, so they can be scrubbed from messages."""
    pairs: list[tuple[str, Any]] = list(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    pairs.extend((params or {}).items())
    userinfo = urlsplit(url).netloc.rpartition("@")[0]
    found = [userinfo] if userinfo else []
    for name, value in pairs:
        if _SECRET_PARAM.search(str(name)) and value is not None:
            values = value if isinstance(value, list | tuple) else [value]
            found.extend(str(v) for v in values if str(v))
    return found


def _redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret, raw or URL-encoded, with `***`."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, "***")
    return text


def _snippet(response: requests.Response, secrets: Iterable[str]) -> str:
    """A short, redacted start of the body: often the API's own explanation of the error."""
    try:
        text = response.text
    except Exception:  # a body we cannot decode is not worth failing over
        return ""
    text = " ".join(text.split())
    if not text:
        return ""
    if len(text) > _SNIPPET_CHARS:
        text = text[:_SNIPPET_CHARS] + "..."
    return f": {_redact(text, secrets)}"
