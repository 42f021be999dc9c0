"""One careful way to call an HTTP API: timeouts, bounded retries, backoff and safe messages.

The original pipelines had no timeouts and no retries, so one slow or flaky response could hang
or fail a whole import. Every client (Tascomi, Alloy) goes through `send_with_retries` so they
share the same behaviour and the same guarantee that credentials never reach logs or errors.
A server is not trusted either: a redirect to another origin is refused (credentials are sent
only where they were configured to go), every attempt has a deadline for its whole response,
and a body over the size limit is refused.
"""

import contextlib
import email.utils
import heapq
import itertools
import logging
import math
import random as _random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urljoin, urlsplit, urlunsplit

import requests

from lbh_platform import settings_registry as registry

__all__ = [
    "ApiError",
    "ApiRequestError",
    "AuthenticationError",
    "MAX_REDIRECTS",
    "OwnedSession",
    "RequestDeadlineExceeded",
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
# Same-origin redirects followed in one attempt before it fails.
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A body without a usable Content-Length is read this much at a time, counting to the limit.
_BODY_CHUNK = 1 << 20

Headers = Mapping[str, str]
HeadersArg = Headers | Callable[[], Headers] | None


def environment_read_once(session: requests.Session, url: str) -> requests.Session:
    """``session`` with the environment's settings for ``url`` (proxies, CA bundle, netrc)
    read now, once, as requests would read them on every request.

    With ``trust_env`` on, requests scans the environment for proxies twice per request
    (~0.3 ms under the interpreter lock), which a client fetching many pages of one host
    pays per page. Settings already on the session win, as they would have."""
    if not session.trust_env:
        return session
    proxies = requests.utils.get_environ_proxies(url, no_proxy=session.proxies.get("no_proxy"))
    for scheme, proxy in proxies.items():
        session.proxies.setdefault(scheme, proxy)
    if session.verify is True:
        session.verify = (
            registry.get("REQUESTS_CA_BUNDLE") or registry.get("CURL_CA_BUNDLE") or True
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
    # One attempt's whole response (connect, redirects, headers and body) must arrive within
    # this: the read timeout alone is per read, so a body dripped byte by byte never hits it.
    deadline: float = 600.0
    # A body larger than this is refused (before it is read, when its length is announced).
    max_body_bytes: int = 256_000_000

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("connect_timeout", "read_timeout", "deadline", "max_body_bytes"):
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


class RequestDeadlineExceeded(requests.exceptions.Timeout):
    """An attempt's whole response did not arrive within the policy's deadline (retried like
    any timeout)."""


class _BodyTooLarge(Exception):
    """A body over the policy's size limit (``str``: how we know)."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.status = status


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
    cross_origin_redirects: bool = False,
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

    Redirects within the URL's origin (scheme, host, port) are followed with the same
    headers, at most `MAX_REDIRECTS` per attempt. One to another origin raises
    `ApiRequestError` naming it (requests would have sent custom credential headers such as
    ``X-Hash`` there), unless `cross_origin_redirects`: then it is followed with none of
    `headers` and none of the session's auth. An attempt's whole response must arrive within
    `policy.deadline` (else it is retried like a timeout); a body over `policy.max_body_bytes`
    raises `ApiRequestError` at once (a second attempt would be as large).
    """
    log = log if log is not None else _DEFAULT_LOG
    shown_url = safe_url(url, params)
    secrets = _secret_values(url, params)
    attempts = policy.max_attempts
    refusal = None if cross_origin_redirects else f"{describe}: {method} {shown_url}"

    for attempt in range(attempts):
        sent_headers: dict[str, str] = {}
        response: requests.Response | None = None
        try:
            with slot if slot is not None else nullcontext():
                # Made in the slot, so a signature for this minute goes out at once.
                sent_headers = dict(headers() if callable(headers) else (headers or {}))
                response = _exchange(
                    session,
                    _Request(method, url, sent_headers, params, json),
                    policy=policy,
                    refuse_elsewhere=refusal,
                    log=log,
                    describe=describe,
                )
        except _BodyTooLarge as exc:
            raise ApiRequestError(
                f"{describe}: {method} {shown_url}: the response body is over the "
                f"{policy.max_body_bytes:,}-byte limit ({exc}); refused",
                describe=describe,
                status=exc.status,
                url=shown_url,
            ) from None
        except _RETRYABLE_EXCEPTIONS as exc:
            all_secrets = secrets + [v for v in sent_headers.values() if len(v) >= 8]
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


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    params: Mapping[str, Any] | None
    json: Any

    def redirected(self, status: int, target: str, *, keep_headers: bool) -> "_Request":
        """The request a redirect asks for: 303 (and 301/302 after a POST) become a GET
        without a body, as browsers and requests do; the query is the target's own."""
        method, body = self.method, self.json
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method, body = "GET", None
        return _Request(method, target, self.headers if keep_headers else {}, None, body)


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Request-level auth that sends nothing (it overrides the session's and netrc's)."""
    return request


def _exchange(
    session: requests.Session,
    request: _Request,
    *,
    policy: RetryPolicy,
    refuse_elsewhere: str | None,
    log: logging.Logger | logging.LoggerAdapter,
    describe: str,
) -> requests.Response:
    """One attempt: the request, the redirects it follows and its whole body, within the
    policy's deadline. ``refuse_elsewhere`` (the message's start) refuses a redirect off the
    request's origin; None follows it without the request's headers or the session's auth.

    The deadline is kept by the watchdog, which shuts the response's socket down when it
    passes: a blocked read then ends, however slowly the body was trickling in."""
    started = time.monotonic()
    watch = _WATCHDOG.watch(started + policy.deadline)
    response: requests.Response | None = None
    try:
        origin = _origin(request.url)
        auth: Any = None
        for hop in range(MAX_REDIRECTS + 1):
            left = started + policy.deadline - time.monotonic()
            if left <= 0:
                raise RequestDeadlineExceeded(_deadline_reason(policy))
            response = session.request(
                request.method,
                request.url,
                headers=request.headers,
                params=request.params,
                json=request.json,
                timeout=(min(policy.connect_timeout, left), min(policy.read_timeout, left)),
                stream=True,
                allow_redirects=False,
                auth=auth,
            )
            watch.attach(response)
            target = session.get_redirect_target(response) if response.is_redirect else None
            if target is None:
                break
            status, target = response.status_code, urljoin(response.url, target)
            response.close()
            response = None
            host = urlsplit(target).netloc.rpartition("@")[2]
            if hop == MAX_REDIRECTS:
                raise ApiRequestError(
                    f"{describe}: {request.method} {safe_url(request.url)} was redirected more "
                    f"than {MAX_REDIRECTS} times (last HTTP {status} to {host})",
                    describe=describe,
                    status=status,
                )
            elsewhere = auth is not None or _origin(target) != origin
            if elsewhere and refuse_elsewhere is not None:
                raise ApiRequestError(
                    f"{refuse_elsewhere} was redirected (HTTP {status}) to another host, "
                    f"{host}: refused, credentials are only sent to the configured address "
                    "(check the API's URL)",
                    describe=describe,
                    status=status,
                )
            if elsewhere and auth is None:
                log.info("%s: following a redirect to %s without credentials", describe, host)
                auth = _no_auth
            request = request.redirected(status, target, keep_headers=not elsewhere)
        assert response is not None
        _read_body(response, policy.max_body_bytes)
    except _RETRYABLE_EXCEPTIONS:
        if response is not None:
            response.close()
        # A read timeout shortened to the time left counts as the deadline too.
        if watch.cancel() or time.monotonic() >= started + policy.deadline:
            raise RequestDeadlineExceeded(_deadline_reason(policy)) from None
        raise
    except BaseException:
        watch.cancel()
        if response is not None:
            response.close()
        raise
    if watch.cancel():  # cut off as the body ended: it may be short, take no chances
        response.close()
        raise RequestDeadlineExceeded(_deadline_reason(policy))
    return response


def _deadline_reason(policy: RetryPolicy) -> str:
    return (
        f"no complete response (headers and whole body) within the {policy.deadline:g}s "
        "request deadline"
    )


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port (the scheme's default when none is given); None if unreadable."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _read_body(response: requests.Response, limit: int) -> None:
    """Read the whole body, refusing one over ``limit`` bytes, as ``response.content``.

    requests reads a body 10 KB at a time under the interpreter lock (``Response.content``),
    which made multi-megabyte pages CPU-bound. A plain body of announced length within the
    limit is read in one call (one ``iter_content(None)`` chunk), with requests' own mapping
    of a cut-short or undecodable body to ``ChunkedEncodingError`` / ``ContentDecodingError``
    (retried like any transport failure). A body of unknown length (chunked, or ended by the
    connection) or a compressed one, whose decoded size only reading tells, is read a
    megabyte at a time, counting.
    """
    headers = response.headers
    length_text = (headers.get("Content-Length") or "").strip()
    length = int(length_text) if length_text.isdigit() else None
    if length is not None and length > limit:
        raise _BodyTooLarge(f"Content-Length {length:,} bytes", response.status_code)
    plain = (headers.get("Content-Encoding") or "identity").strip().lower() == "identity"
    chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
    if length is not None and plain and not chunked:
        body = b"".join(response.iter_content(chunk_size=None))
    else:
        pieces: list[bytes] = []
        size = 0
        for piece in response.iter_content(chunk_size=_BODY_CHUNK):
            size += len(piece)
            if size > limit:
                raise _BodyTooLarge(f"more than {limit:,} bytes read", response.status_code)
            pieces.append(piece)
        body = b"".join(pieces)
    # What Response.content does with the bytes it read; a stream cannot be read twice.
    response._content = body  # noqa: SLF001 - requests has no public setter for it
    response._content_consumed = True  # noqa: SLF001


class _Watch:
    """One attempt's deadline: ``attach`` the response being read, ``cancel`` when done
    (True: the deadline passed first)."""

    __slots__ = ("_dog", "done", "fired", "response")

    def __init__(self, dog: "_Watchdog") -> None:
        self._dog = dog
        self.response: requests.Response | None = None
        self.fired = False
        self.done = False

    def attach(self, response: requests.Response) -> None:
        with self._dog.lock:
            self.response = response
            fired = self.fired
        if fired:
            _cut(response)

    def cancel(self) -> bool:
        with self._dog.lock:
            if not self.done:
                self.done = True
                self._dog.cancelled()
            self.response = None
            return self.fired


class _Watchdog:
    """One daemon thread for the process cutting off responses whose deadline passed: the
    read timeout is per read, so a body trickling in faster than that never hits it."""

    _COMPACT_AT = 1024

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._cancelled = 0  # entries in the heap already done
        self._thread: threading.Thread | None = None

    def watch(self, at: float) -> _Watch:
        watch = _Watch(self)
        with self.lock:
            heapq.heappush(self._heap, (at, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="lbh-http-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is watch:
                self._changed.notify()
        return watch

    def cancelled(self) -> None:
        """Called under the lock: drop finished entries once they are most of the heap."""
        self._cancelled += 1
        if self._cancelled >= self._COMPACT_AT and 2 * self._cancelled > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].done]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _run(self) -> None:
        with self.lock:
            while True:
                heap = self._heap
                while heap and heap[0][2].done:
                    heapq.heappop(heap)
                    self._cancelled -= 1
                if not heap:
                    self._changed.wait()
                    continue
                wait = heap[0][0] - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, watch = heapq.heappop(heap)
                watch.fired = watch.done = True
                response, watch.response = watch.response, None
                if response is not None:
                    self.lock.release()
                    try:
                        _cut(response)
                    finally:
                        self.lock.acquire()


def _cut(response: requests.Response) -> None:
    """Shut the response's socket for reading, so a read blocked on it returns at once
    (nothing to do when it was already read, released or closed)."""
    with contextlib.suppress(Exception):
        response.raw.shutdown()


_WATCHDOG = _Watchdog()


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
