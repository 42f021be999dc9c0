"""send_with_retries against a real scripted HTTP server on loopback (no mocks).

Each test queues the responses the server gives, in order; after the queue runs out it answers
200 `{"ok": true}`. A fake `sleep` records the backoff delays so the tests stay fast.
"""

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from lbh_platform.common.http import (
    ApiError,
    ApiRequestError,
    AuthenticationError,
    RetryPolicy,
    safe_url,
    send_with_retries,
)

SECRET_HEADER = "super-secret-x-hash-value=="
FAST = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_max=4.0, read_timeout=2.0)


@dataclass
class Action:
    """What the server does with one request."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "normal"  # normal | drop | truncated
    delay: float = 0.0


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[Action] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def queue(self, *actions: Action) -> None:
        self.script.extend(actions)

    def next_action(self, method: str, path: str, headers: dict[str, str]) -> Action:
        with self.lock:
            self.requests.append((method, path, headers))
            return self.script.pop(0) if self.script else Action()

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up on slow responses on purpose; keep test output quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence per-request logging."""

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        self._serve()

    def _serve(self) -> None:
        action = self.server.next_action(self.command, self.path, dict(self.headers))
        if action.delay:
            time.sleep(action.delay)
        if action.kind == "drop":
            self.close_connection = True
            return
        self.send_response(action.status)
        for name, value in action.headers.items():
            self.send_header(name, value)
        if action.kind == "truncated":
            self.send_header("Content-Length", str(len(action.body) + 100))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(action.body)
            self.close_connection = True
            return
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(action.body)))
        self.end_headers()
        self.wfile.write(action.body)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


class Sleeps(list[float]):
    """A fake sleep that records delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def call(
    session: requests.Session,
    url: str,
    sleeps: Sleeps,
    *,
    policy: RetryPolicy = FAST,
    random: Callable[[], float] = lambda: 1.0,
    **kwargs: object,
) -> requests.Response:
    kwargs.setdefault("headers", {"X-Hash": SECRET_HEADER})
    return send_with_retries(
        session,
        kwargs.pop("method", "GET"),  # type: ignore[arg-type]
        url,
        policy=policy,
        describe="test resource page 3",
        sleep=sleeps,
        random=random,
        **kwargs,  # type: ignore[arg-type]
    )


def test_success_first_time(server: ScriptedServer, session: requests.Session) -> None:
    sleeps = Sleeps()
    response = call(session, server.base_url + "/r", sleeps, params={"page": 1})
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert sleeps == []
    method, path, headers = server.requests[0]
    assert (method, path) == ("GET", "/r?page=1")
    assert headers["X-Hash"] == SECRET_HEADER


def test_post_json_body(server: ScriptedServer, session: requests.Session) -> None:
    response = call(session, server.base_url + "/export", Sleeps(), method="POST", json={"a": 1})
    assert response.status_code == 200
    assert server.requests[0][0] == "POST"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_retries_transient_statuses(
    server: ScriptedServer,
    session: requests.Session,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.queue(Action(status=status, body=b"busy"), Action(status=status, body=b"busy"))
    sleeps = Sleeps()
    with caplog.at_level(logging.WARNING, logger="lbh_platform.http"):
        response = call(session, server.base_url + "/r", sleeps)
    assert response.status_code == 200
    assert len(server.requests) == 3
    # Full jitter with random() == 1.0 is the plain exponential ceiling.
    assert sleeps == [0.5, 1.0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "test resource page 3" in warnings[0]
    assert "attempt 1/4" in warnings[0] and "attempt 2/4" in warnings[1]
    assert f"HTTP {status}" in warnings[0]
    assert "0.50s" in warnings[0] and "1.00s" in warnings[1]


def test_backoff_is_capped_and_jittered(server: ScriptedServer, session: requests.Session) -> None:
    policy = RetryPolicy(max_attempts=6, backoff_base=1.0, backoff_max=3.0)
    server.queue(*[Action(status=500)] * 5)
    sleeps = Sleeps()
    call(session, server.base_url + "/r", sleeps, policy=policy)
    assert sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]

    server.queue(*[Action(status=500)] * 3)
    sleeps = Sleeps()
    call(session, server.base_url + "/r", sleeps, policy=policy, random=lambda: 0.25)
    assert sleeps == [0.25, 0.5, 0.75]


def test_429_honours_retry_after_seconds(server: ScriptedServer, session: requests.Session) -> None:
    server.queue(Action(status=429, headers={"Retry-After": "7"}))
    sleeps = Sleeps()
    response = call(session, server.base_url + "/r", sleeps, random=lambda: 0.5)
    assert response.status_code == 200
    assert sleeps == [7.0]


def test_retry_after_never_shortens_the_backoff(
    server: ScriptedServer, session: requests.Session
) -> None:
    policy = RetryPolicy(max_attempts=4, backoff_base=4.0, backoff_max=30.0)
    server.queue(Action(status=503, headers={"Retry-After": "1"}))
    sleeps = Sleeps()
    call(session, server.base_url + "/r", sleeps, policy=policy)
    assert sleeps == [4.0]


def test_retry_after_http_date(server: ScriptedServer, session: requests.Session) -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    server.queue(Action(status=429, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    sleeps = Sleeps()
    call(session, server.base_url + "/r", sleeps, random=lambda: 0.0)
    assert len(sleeps) == 1
    assert 15.0 <= sleeps[0] <= 20.0


def test_retry_after_is_capped(server: ScriptedServer, session: requests.Session) -> None:
    policy = RetryPolicy(max_attempts=3, max_retry_after=10.0)
    server.queue(Action(status=429, headers={"Retry-After": "3600"}))
    sleeps = Sleeps()
    call(session, server.base_url + "/r", sleeps, policy=policy)
    assert sleeps == [10.0]


def test_garbage_retry_after_falls_back_to_backoff(
    server: ScriptedServer, session: requests.Session
) -> None:
    server.queue(Action(status=429, headers={"Retry-After": "soon-ish"}))
    sleeps = Sleeps()
    call(session, server.base_url + "/r", sleeps)
    assert sleeps == [0.5]


def test_retries_dropped_connection(
    server: ScriptedServer, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue(Action(kind="drop"))
    sleeps = Sleeps()
    with caplog.at_level(logging.WARNING, logger="lbh_platform.http"):
        response = call(session, server.base_url + "/r", sleeps)
    assert response.json() == {"ok": True}
    assert len(server.requests) == 2
    assert "ConnectionError" in caplog.text


def test_retries_truncated_body(
    server: ScriptedServer, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue(Action(kind="truncated", body=b'[{"id": 1}'))
    sleeps = Sleeps()
    with caplog.at_level(logging.WARNING, logger="lbh_platform.http"):
        response = call(session, server.base_url + "/r", sleeps)
    assert response.json() == {"ok": True}
    assert len(server.requests) == 2
    assert "ChunkedEncodingError" in caplog.text


def test_slow_response_hits_read_timeout_and_is_retried(
    server: ScriptedServer, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    policy = RetryPolicy(max_attempts=3, read_timeout=0.2)
    server.queue(Action(delay=1.5))
    sleeps = Sleeps()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="lbh_platform.http"):
        response = call(session, server.base_url + "/r", sleeps, policy=policy)
    assert response.status_code == 200
    assert time.monotonic() - started < 1.2  # gave up on the slow one, did not wait it out
    assert len(server.requests) == 2
    assert "Timeout" in caplog.text


def test_permanent_500_raises_after_max_attempts(
    server: ScriptedServer, session: requests.Session
) -> None:
    server.queue(*[Action(status=500, body=b"database on fire")] * 10)
    sleeps = Sleeps()
    url = server.base_url + "/rest/v1/applications"
    with pytest.raises(ApiRequestError) as caught:
        call(session, url, sleeps, params={"page": 3, "last_updated": "2021-09-15"})
    error = caught.value
    assert len(server.requests) == FAST.max_attempts
    assert len(sleeps) == FAST.max_attempts - 1  # no pointless sleep after the last attempt
    assert error.status == 500
    assert error.describe == "test resource page 3"
    message = str(error)
    assert "test resource page 3" in message
    assert "500" in message
    assert "/rest/v1/applications?page=3&last_updated=2021-09-15" in message
    assert "database on fire" in message
    assert SECRET_HEADER not in message


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_not_retried(
    server: ScriptedServer,
    session: requests.Session,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.queue(*[Action(status=status, body=b"bad hash")] * 5)
    sleeps = Sleeps()
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as caught:
        call(session, server.base_url + "/r", sleeps)
    assert len(server.requests) == 1
    assert sleeps == []
    assert caught.value.status == status
    assert isinstance(caught.value, ApiError)
    assert str(status) in str(caught.value)
    assert SECRET_HEADER not in str(caught.value)
    assert SECRET_HEADER not in caplog.text


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_client_errors_fail_at_once(
    server: ScriptedServer, session: requests.Session, status: int
) -> None:
    server.queue(Action(status=status, body=b'{"error": "no such resource"}'))
    sleeps = Sleeps()
    with pytest.raises(ApiRequestError) as caught:
        call(session, server.base_url + "/r", sleeps)
    assert not isinstance(caught.value, AuthenticationError)
    assert len(server.requests) == 1
    assert sleeps == []
    assert caught.value.status == status
    assert "no such resource" in str(caught.value)


def test_connection_refused_exhausts_retries(session: requests.Session) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(ApiRequestError) as caught:
        call(session, f"http://127.0.0.1:{port}/r", sleeps)
    assert caught.value.status is None
    assert len(sleeps) == FAST.max_attempts - 1
    assert "ConnectionError" in str(caught.value)


def test_messages_strip_query_secrets(
    server: ScriptedServer, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue(*[Action(status=503)] * 10)
    url = server.base_url + "/api/export?token=tok-in-url-123&design=designs_x"
    params = {"page": 2, "api_key": "key-in-params-456", "last_updated": "2021-09-15"}
    sleeps = Sleeps()
    # Our own logs only: urllib3's DEBUG log quotes request lines verbatim, outside our control.
    with (
        caplog.at_level(logging.DEBUG, logger="lbh_platform"),
        pytest.raises(ApiRequestError) as caught,
    ):
        call(session, url, sleeps, params=params)
    message = str(caught.value)
    for secret in ("tok-in-url-123", "key-in-params-456", SECRET_HEADER):
        assert secret not in message
        assert secret not in caplog.text
        assert secret not in caught.value.url
    assert "design=designs_x" in message
    assert "page=2" in message
    assert "last_updated=2021-09-15" in message


def test_messages_strip_secrets_from_transport_errors(session: requests.Session) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ApiRequestError) as caught:
        call(session, f"http://127.0.0.1:{port}/r?password=hunter2-secret&page=1", Sleeps())
    assert "hunter2-secret" not in str(caught.value)
    assert caught.value.__cause__ is None  # the raw exception quotes the URL: not chained
    assert "page=1" in str(caught.value)


def test_safe_url() -> None:
    assert (
        safe_url(
            "https://user:pw@example.org/rest/v1/x?hash=abc&page=1",
            {"last_updated": "2021-09-15", "Secret_Thing": "s", "PASSWORD": "p", "x": None},
        )
        == "https://example.org/rest/v1/x?page=1&last_updated=2021-09-15"
    )


def test_header_callable_is_called_per_attempt(
    server: ScriptedServer, session: requests.Session
) -> None:
    server.queue(Action(status=500), Action(status=500))
    counter = iter(range(100))
    sleeps = Sleeps()
    call(session, server.base_url + "/r", sleeps, headers=lambda: {"X-Attempt": str(next(counter))})
    assert [h["X-Attempt"] for _, _, h in server.requests] == ["0", "1", "2"]


def test_validate_turns_a_bad_200_into_a_retry(
    server: ScriptedServer, session: requests.Session
) -> None:
    server.queue(Action(body=b"<html>maintenance</html>"))

    def validate(response: requests.Response) -> str | None:
        try:
            json.loads(response.content)
        except ValueError:
            return "not JSON"
        return None

    sleeps = Sleeps()
    response = call(session, server.base_url + "/r", sleeps, validate=validate)
    assert response.json() == {"ok": True}
    assert sleeps == [0.5]

    server.queue(*[Action(body=b"<html>maintenance</html>")] * 10)
    with pytest.raises(ApiRequestError) as caught:
        call(session, server.base_url + "/r", Sleeps(), validate=validate)
    assert caught.value.status == 200
    assert "not JSON" in str(caught.value)


def test_every_request_has_a_timeout(server: ScriptedServer) -> None:
    seen: list[object] = []

    class Recording(requests.Session):
        def request(self, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]
            seen.append(kwargs.get("timeout"))
            return super().request(*args, **kwargs)  # type: ignore[arg-type]

    server.queue(Action(status=503))
    policy = RetryPolicy(connect_timeout=1.5, read_timeout=7.0)
    with Recording() as recording:
        call(recording, server.base_url + "/r", Sleeps(), policy=policy)
    assert seen == [(1.5, 7.0), (1.5, 7.0)]


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(read_timeout=0)
    assert RetryPolicy() == RetryPolicy(5, 0.5, 30.0, 5.0, 60.0, 120.0)
