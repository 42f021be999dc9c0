"""TascomiClient against a small fake Tascomi API served over loopback HTTP (no mocks).

The fake checks the X-Public / X-Hash signature independently, pages with the vendor's headers,
answers 202 when nothing matches, counts requests in flight and injects faults per page.
"""

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.http import ApiRequestError, AuthenticationError, RetryPolicy
from lbh_platform.tascomi import client as client_module
from lbh_platform.tascomi.auth import x_hash
from lbh_platform.tascomi.client import Page, TascomiClient

PUBLIC = "client-test-public-key"
PRIVATE = "client-test-private-key-do-not-log"
NOW = datetime(2021, 9, 16, 12, 10, 30, tzinfo=UTC)  # 13:10 BST
NOW_MINUTE = "202109161310"
POLICY = RetryPolicy(max_attempts=3, backoff_base=0.1, backoff_max=1.0, read_timeout=2.0)


def expected_hash(public: str, private: str, minute: str) -> str:
    """The vendor's recipe, written out again so the server does not trust the client code."""
    token = hashlib.sha256((public + minute).encode()).hexdigest()
    mac = hmac.new(private.encode(), token.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(mac.encode()).decode()


class FakeTascomi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.resources: dict[str, list[dict[str, Any]]] = {}
        self.per_page = 10
        self.latency = 0.0
        self.accepted_minutes = {NOW_MINUTE}
        self.faults: dict[tuple[str, int], list[tuple[str, float]]] = {}
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        # (resource, params, status, X-Hash) per request.
        self.request_log: list[tuple[str, dict[str, str], int, str]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/rest/v1/"

    def inject(self, kind: str, resource: str, page: int, times: int = 1, arg: float = 0) -> None:
        self.faults.setdefault((resource, page), []).extend([(kind, arg)] * times)

    def take_fault(self, resource: str, page: int) -> tuple[str, float] | None:
        with self.lock:
            queue = self.faults.get((resource, page))
            return queue.pop(0) if queue else None

    def pages_requested(self, resource: str) -> list[int]:
        return [int(p["page"]) for r, p, _, _ in self.request_log if r == resource]

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up on slow responses on purpose; keep test output quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: FakeTascomi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence per-request logging."""

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        with srv.lock:
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            self._serve()
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _record(self, resource: str, params: dict[str, str], status: int) -> None:
        with self.server.lock:
            self.server.request_log.append(
                (resource, params, status, self.headers.get("X-Hash", ""))
            )

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        srv = self.server
        if srv.latency:
            time.sleep(srv.latency)
        parts = urlsplit(self.path)
        resource = parts.path.removeprefix("/rest/v1/")
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        page = int(params.get("page", "0"))

        signature = self.headers.get("X-Hash", "")
        valid = {
            expected_hash(self.headers.get("X-Public", ""), PRIVATE, m)
            for m in srv.accepted_minutes
        }
        if self.headers.get("X-Public") != PUBLIC or signature not in valid:
            self._record(resource, params, 401)
            self._send(401, b'{"error": "invalid hash"}')
            return
        if resource not in srv.resources:
            self._record(resource, params, 404)
            self._send(404, b'{"error": "unknown resource"}')
            return

        records = srv.resources[resource]
        if "last_updated" in params:
            records = [r for r in records if r["last_updated"].startswith(params["last_updated"])]
        total = len(records)
        if total == 0:
            self._record(resource, params, 202)
            self._send(202, b"")
            return
        chunk = records[(page - 1) * srv.per_page : page * srv.per_page]
        body = json.dumps(chunk).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Number-Of-Results": str(total),
            "X-Results-Per-Page": str(srv.per_page),
        }

        fault = srv.take_fault(resource, page)
        kind, arg = fault if fault else ("", 0.0)
        if kind == "empty":
            body = b"[]"
        elif kind == "page_one":  # a server that ignores the page parameter
            body = json.dumps(records[: srv.per_page]).encode()
        elif kind == "gone":
            self._record(resource, params, 202)
            self._send(202, b"")
            return
        if kind in ("500", "503", "429"):
            status = int(kind)
            self._record(resource, params, status)
            extra = {"Retry-After": str(arg)} if arg else {}
            self._send(status, b"temporarily unavailable", extra)
            return
        self._record(resource, params, 200)
        if kind == "drop":
            self.close_connection = True
            return
        if kind == "slow":
            time.sleep(arg)
        if kind == "truncated":
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body) + 500))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        if kind == "not_json":
            body = b"<html>Service temporarily in maintenance</html>"
        elif kind == "not_array":
            body = b'{"error": "something odd"}'
        elif kind == "no_headers":
            headers = {"Content-Type": "application/json"}
        self._send(200, body, headers)


def make_records(count: int, day: str = "2021-09-15", start: int = 1) -> list[dict[str, Any]]:
    return [
        {"id": str(i), "last_updated": f"{day} 10:{i % 60:02d}:00", "name": f"record {i}"}
        for i in range(start, start + count)
    ]


@pytest.fixture
def api() -> Iterator[FakeTascomi]:
    srv = FakeTascomi()
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


class Sleeps(list[float]):
    """A fake sleep that records delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(api: FakeTascomi, sleeps: Sleeps) -> Iterator[Callable[..., TascomiClient]]:
    clients: list[TascomiClient] = []

    def make(**kwargs: Any) -> TascomiClient:
        kwargs.setdefault("policy", POLICY)
        kwargs.setdefault("clock", lambda: NOW)
        kwargs.setdefault("sleep", sleeps)
        client = TascomiClient(
            kwargs.pop("base_url", api.base_url),
            PUBLIC,
            kwargs.pop("private_key", PRIVATE),
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def all_ids(pages: list[Page]) -> list[str]:
    return [record["id"] for page in pages for record in page.records]


def test_fetch_walks_all_pages_in_order(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["applications"] = make_records(25)
    pages = make_client().fetch("applications")
    assert [p.number for p in pages] == [1, 2, 3]
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert all_ids(pages) == [str(i) for i in range(1, 26)]
    assert all(p.status == 200 for p in pages)
    assert pages[1].url == f"{api.base_url}applications?page=2"
    requested = api.pages_requested("applications")
    assert requested[0] == 1  # page 1 first: it announces the page count
    assert sorted(requested) == [1, 2, 3]  # 1-based, each page once


@pytest.mark.parametrize(("count", "pages"), [(1, 1), (10, 1), (20, 2), (21, 3)])
def test_page_count_is_ceiling_of_total_over_page_size(
    api: FakeTascomi, make_client: Callable[..., TascomiClient], count: int, pages: int
) -> None:
    api.resources["fees"] = make_records(count)
    result = make_client().fetch("fees")
    assert len(result) == pages
    # A full last page might hide an under-reported count: one more page is asked for.
    probe = 1 if count % api.per_page == 0 else 0
    assert sorted(api.pages_requested("fees")) == list(range(1, pages + 1 + probe))
    assert len(all_ids(result)) == count


def test_202_means_no_pages(api: FakeTascomi, make_client: Callable[..., TascomiClient]) -> None:
    api.resources["appeals"] = []
    assert make_client().fetch("appeals") == []
    assert len(api.request_log) == 1


def test_last_updated_filter_is_sent_on_every_page(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["contacts"] = make_records(15, "2021-09-14") + make_records(
        12, "2021-09-15", start=100
    )
    pages = make_client().fetch("contacts", last_updated=date(2021, 9, 15))
    assert all_ids(pages) == [str(i) for i in range(100, 112)]
    assert {p["last_updated"] for _, p, _, _ in api.request_log} == {"2021-09-15"}
    assert pages[1].url == f"{api.base_url}contacts?page=2&last_updated=2021-09-15"
    assert make_client().fetch("contacts", last_updated=date(2021, 9, 16)) == []


def test_gis_map_image_is_dropped(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    records = make_records(3)
    records[1]["gis_map_image_base64"] = "iVBORw0KGgo" * 1000
    api.resources["applications"] = records
    pages = make_client().fetch("applications")
    assert all("gis_map_image_base64" not in r for r in pages[0].records)
    assert pages[0].records[1] == {
        "id": "2",
        "last_updated": "2021-09-15 10:02:00",
        "name": "record 2",
    }


@pytest.mark.parametrize(
    ("kind", "page"),
    [
        (kind, page)
        for kind in ("500", "503", "drop", "truncated", "not_json", "not_array")
        for page in (1, 2)
    ]
    # Only page 1's paging headers are read.
    + [("no_headers", 1)],
)
def test_transient_faults_are_retried(
    api: FakeTascomi,
    make_client: Callable[..., TascomiClient],
    sleeps: Sleeps,
    kind: str,
    page: int,
) -> None:
    api.resources["documents"] = make_records(25)
    api.inject(kind, "documents", page)
    pages = make_client().fetch("documents")
    assert all_ids(pages) == [str(i) for i in range(1, 26)]
    assert api.pages_requested("documents").count(page) == 2
    assert len(sleeps) == 1


def test_missing_paging_headers_fail_after_retries(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["documents"] = make_records(25)
    api.inject("no_headers", "documents", 1, times=10)
    with pytest.raises(ApiRequestError) as caught:
        make_client().fetch("documents")
    assert "X-Number-Of-Results" in str(caught.value)
    assert api.pages_requested("documents") == [1] * POLICY.max_attempts


def test_429_honours_retry_after(
    api: FakeTascomi, make_client: Callable[..., TascomiClient], sleeps: Sleeps
) -> None:
    api.resources["emails"] = make_records(15)
    api.inject("429", "emails", 2, arg=7)
    pages = make_client().fetch("emails")
    assert len(pages) == 2
    assert sleeps == [7.0]


def test_permanent_500_fails_naming_resource_page_and_status(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["enforcements"] = make_records(25)
    api.inject("500", "enforcements", 3, times=10)
    with pytest.raises(ApiRequestError) as caught:
        make_client().fetch("enforcements")
    message = str(caught.value)
    assert "enforcements" in message
    assert "page 3" in message
    assert "500" in message
    assert caught.value.status == 500
    assert api.pages_requested("enforcements").count(3) == POLICY.max_attempts


def test_permanent_garbage_200_fails_naming_resource_and_page(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["users"] = make_records(15)
    api.inject("not_json", "users", 2, times=10)
    with pytest.raises(ApiRequestError) as caught:
        make_client().fetch("users", last_updated=date(2021, 9, 15))
    message = str(caught.value)
    assert "users" in message and "page 2" in message
    assert "not JSON" in message
    assert api.pages_requested("users").count(2) == POLICY.max_attempts


def test_bad_credentials_fail_at_once(
    api: FakeTascomi, make_client: Callable[..., TascomiClient], sleeps: Sleeps
) -> None:
    api.resources["applications"] = make_records(25)
    with pytest.raises(AuthenticationError) as caught:
        make_client(private_key="wrong-private-key").fetch("applications")
    assert len(api.request_log) == 1
    assert sleeps == []
    assert caught.value.status == 401
    assert "applications" in str(caught.value) and "page 1" in str(caught.value)


def test_stale_clock_is_rejected_without_retries(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["applications"] = make_records(5)
    client = make_client(clock=lambda: NOW + timedelta(hours=1))
    with pytest.raises(AuthenticationError):
        client.fetch("applications")
    assert len(api.request_log) == 1


def test_slow_page_hits_read_timeout_and_is_retried(
    api: FakeTascomi, make_client: Callable[..., TascomiClient], caplog: pytest.LogCaptureFixture
) -> None:
    api.resources["fees"] = make_records(15)
    api.inject("slow", "fees", 2, arg=1.0)
    policy = RetryPolicy(max_attempts=3, backoff_base=0.0, read_timeout=0.2)
    with caplog.at_level(logging.WARNING):
        pages = make_client(policy=policy).fetch("fees")
    assert len(all_ids(pages)) == 15
    assert api.pages_requested("fees").count(2) == 2
    assert "Timeout" in caplog.text


def test_pages_in_flight_are_bounded(
    api: FakeTascomi, make_client: Callable[..., TascomiClient], caplog: pytest.LogCaptureFixture
) -> None:
    api.resources["documents"] = make_records(40)
    api.per_page = 2
    api.latency = 0.03
    with caplog.at_level(logging.WARNING):
        pages = make_client(max_pages_in_flight=3).fetch("documents")
    assert [p.number for p in pages] == list(range(1, 21))
    assert all_ids(pages) == [str(i) for i in range(1, 41)]
    assert api.max_in_flight == 3  # bounded, and the bound is actually used
    assert "Connection pool is full" not in caplog.text


def test_one_page_in_flight_is_sequential(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["documents"] = make_records(10)
    api.per_page = 2
    api.latency = 0.01
    pages = make_client(max_pages_in_flight=1).fetch("documents")
    assert len(pages) == 5
    assert api.max_in_flight == 1
    assert api.pages_requested("documents") == [1, 2, 3, 4, 5, 6]  # 6: the full page 5's probe


def test_checking_a_body_does_not_hold_back_the_next_request(
    api: FakeTascomi, make_client: Callable[..., TascomiClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound is on requests in flight: a body is split and checked after its request's
    slot is given back, so the next request is already on its way."""
    from lbh_platform.tascomi import client as client_module

    api.resources["documents"] = make_records(10)
    api.per_page = 2
    served_while_checking: list[int] = []
    real_split = client_module.split_body

    def slow_split(body: bytes) -> Any:
        before = len(api.request_log)
        time.sleep(0.2)
        served_while_checking.append(len(api.request_log) - before)
        return real_split(body)

    monkeypatch.setattr(client_module, "split_body", slow_split)
    pages = make_client(max_pages_in_flight=1).fetch("documents")
    assert all_ids(pages) == [str(i) for i in range(1, 11)]
    assert api.max_in_flight == 1  # still one request at a time
    assert max(served_while_checking) >= 1


def test_headers_are_recomputed_for_every_request_and_retry(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["wards"] = make_records(15)
    api.inject("503", "wards", 1)
    london = ZoneInfo("Europe/London")
    ticks = iter(NOW + timedelta(minutes=i) for i in range(10))
    api.accepted_minutes = {
        (NOW + timedelta(minutes=i)).astimezone(london).strftime("%Y%m%d%H%M") for i in range(10)
    }
    pages = make_client(clock=lambda: next(ticks)).fetch("wards")
    assert len(pages) == 2
    hashes = [h for _, _, _, h in api.request_log]
    assert len(hashes) == 3  # page 1 twice (one 503), page 2 once
    assert len(set(hashes)) == 3
    assert hashes[0] == x_hash(PUBLIC, PRIVATE, "202109161310")
    assert hashes[1] == x_hash(PUBLIC, PRIVATE, "202109161311")


def test_fetch_window_fetches_each_day_in_order_and_logs_progress(
    api: FakeTascomi, make_client: Callable[..., TascomiClient], caplog: pytest.LogCaptureFixture
) -> None:
    api.resources["applications"] = make_records(12, "2021-09-13") + make_records(
        3, "2021-09-15", start=50
    )
    days = [date(2021, 9, 13), date(2021, 9, 14), date(2021, 9, 15)]
    with caplog.at_level(logging.INFO, logger="lbh_platform"):
        pages = make_client().fetch_window("applications", days)
    assert [p.url.rsplit("last_updated=", 1)[1] for p in pages] == [
        "2021-09-13",
        "2021-09-13",
        "2021-09-15",
    ]
    assert all_ids(pages) == [str(i) for i in range(1, 13)] + ["50", "51", "52"]
    progress = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert progress == [
        "tascomi applications last_updated=2021-09-13: 2 page(s), 12 record(s)",
        "tascomi applications last_updated=2021-09-14: 0 page(s), 0 record(s)",
        "tascomi applications last_updated=2021-09-15: 1 page(s), 3 record(s)",
    ]


def test_credentials_never_leak(
    api: FakeTascomi, make_client: Callable[..., TascomiClient], caplog: pytest.LogCaptureFixture
) -> None:
    secret_hash = x_hash(PUBLIC, PRIVATE, NOW_MINUTE)
    api.resources["applications"] = make_records(25)
    for kind in ("500", "drop", "truncated", "not_json", "429"):
        api.inject(kind, "applications", 2)
    api.inject("503", "applications", 3, times=10)
    client = make_client(policy=RetryPolicy(max_attempts=6, backoff_base=0.0))
    errors: list[str] = [repr(client), str(client)]
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ApiRequestError) as caught:
            client.fetch("applications")
        errors.append(str(caught.value))
        errors.append(repr(caught.value))
        with pytest.raises(AuthenticationError) as auth_failure:
            make_client(private_key="another-private-key-xyz").fetch("applications")
        errors.append(str(auth_failure.value))
    assert api.pages_requested("applications").count(2) == 6  # five faults, then success
    for text in [*errors, caplog.text]:
        assert PRIVATE not in text
        assert "another-private-key-xyz" not in text
        assert secret_hash not in text
    assert PUBLIC not in repr(client)
    assert "TascomiClient" in repr(client)


def test_session_pool_fits_the_concurrency(make_client: Callable[..., TascomiClient]) -> None:
    client = make_client(max_pages_in_flight=16)
    adapter = client._session.get_adapter("https://example.org/")
    assert adapter._pool_maxsize >= 16  # type: ignore[attr-defined]


def test_base_url_without_trailing_slash(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["wards"] = make_records(2)
    pages = make_client(base_url=api.base_url.rstrip("/")).fetch("wards")
    assert all_ids(pages) == ["1", "2"]


def test_invalid_arguments(make_client: Callable[..., TascomiClient]) -> None:
    with pytest.raises(ConfigurationError):
        make_client(max_pages_in_flight=0)
    with pytest.raises(ConfigurationError):
        make_client().fetch("applications?page=9")


def test_an_empty_page_is_asked_for_again_before_it_is_believed(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["fees"] = make_records(25)
    api.inject("gone", "fees", 3)  # a 202 where five records were announced, once
    api.inject("empty", "fees", 2)  # an empty 200, once
    pages = make_client().fetch("fees")
    assert all_ids(pages) == [str(i) for i in range(1, 26)]
    assert sorted(api.pages_requested("fees")) == [1, 2, 2, 3, 3]


def test_records_after_an_empty_page_fail_naming_both_pages(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["fees"] = make_records(25)
    api.inject("empty", "fees", 2, times=2)
    with pytest.raises(ApiRequestError, match=r"fees page 2: empty, yet page 3 has records"):
        make_client().fetch("fees")


def test_a_server_ignoring_the_page_parameter_past_the_count_is_refused(
    api: FakeTascomi, make_client: Callable[..., TascomiClient]
) -> None:
    api.resources["fees"] = make_records(30)  # three full pages: page 4 is asked for
    api.inject("page_one", "fees", 4)
    with pytest.raises(ApiRequestError, match=r"fees page 4: repeats page 1"):
        make_client().fetch("fees")


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_slot_given_up_goes_to_the_lowest_page_waiting() -> None:
    slots = client_module._OrderedSlots(1)
    slots.acquire(1)
    order: list[int] = []

    def take(page: int) -> None:
        slots.acquire(page)
        order.append(page)
        slots.went_out()
        slots.release()

    threads = [threading.Thread(target=take, args=(page,)) for page in (5, 3, 4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(slots._waiting) == 3)
    slots.went_out()
    slots.release()
    for thread in threads:
        thread.join(5)
    assert order == [3, 4, 5]
    slots.acquire(9)  # all given back: a free slot is taken at once
    assert slots._free == 0 and not slots._waiting


def test_settle_waits_until_the_request_handed_a_slot_has_gone_out() -> None:
    slots = client_module._OrderedSlots(1)
    slots.acquire(1)
    slots.went_out()
    events: list[str] = []

    def next_page() -> None:
        slots.acquire(2)
        time.sleep(0.1)  # building and sending the request
        events.append("sent")
        slots.went_out()

    thread = threading.Thread(target=next_page)
    thread.start()
    wait_until(lambda: bool(slots._waiting))
    slots.release()
    slots.settle(timeout=5)
    events.append("settled")
    thread.join(5)
    assert events == ["sent", "settled"]
    slots.release()
    started = time.monotonic()
    slots.settle()  # nothing starting: no wait
    slots.acquire(3)  # a request that never reports going out only delays settle a little
    slots.settle(timeout=0.05)
    assert time.monotonic() - started < 1


def test_a_waiter_interrupted_after_it_was_handed_the_slot_gives_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Interrupted(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            super().wait(timeout)
            raise KeyboardInterrupt

    monkeypatch.setattr(client_module._OrderedSlots, "_event", Interrupted)
    slots = client_module._OrderedSlots(1)
    slots.acquire(1)
    raised: list[BaseException] = []

    def waiter() -> None:
        try:
            slots.acquire(2)
        except KeyboardInterrupt as exc:
            raised.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until(lambda: bool(slots._waiting))
    slots.went_out()
    slots.release()  # handed to page 2, which is interrupted as it wakes
    thread.join(5)
    assert raised and slots._free == 1 and slots._starting == 0 and not slots._waiting


def test_a_session_the_client_makes_reads_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.example login user password pass\n")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "other.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/council.pem")
    with TascomiClient("https://api.example/rest/", PUBLIC, PRIVATE) as client:
        session = client._session
        assert session.trust_env is False  # read now, not on every page
        assert session.proxies["https"] == "http://proxy.example:3128"
        assert session.verify == "/etc/ssl/council.pem"
        assert session.auth == ("user", "pass")
    monkeypatch.setenv("NO_PROXY", "api.example")
    with TascomiClient("https://api.example/rest/", PUBLIC, PRIVATE) as client:
        assert "https" not in client._session.proxies  # bypassed, as requests would
    given = requests.Session()
    given.verify = False
    with TascomiClient("https://api.example/rest/", PUBLIC, PRIVATE, session=given) as client:
        assert client._session is given and given.trust_env and given.verify is False
