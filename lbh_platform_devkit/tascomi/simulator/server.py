"""TascomiSimulator: the Tascomi REST API as a real HTTP server on loopback.

Tests and demos run the real client (auth, paging, retries, timeouts) against it, with
deterministic data, a controllable "now" and injectable faults, so failures that only show up
over a real socket (truncated bodies, dropped connections, slow pages) can be reproduced.
"""

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform_devkit.loopback import LoopbackHandler, LoopbackService, aware
from lbh_platform_devkit.tascomi.simulator.records import (
    DEFAULT_EPOCH,
    LONDON,
    SyntheticData,
)

API_PREFIX = "/rest/v1/"
# Transport faults, then bad input (the answer arrives, but lies or is malformed):
# under_count / over_count  X-Number-Of-Results reports ``count`` results fewer / more
#                           (default one page) than exist
# int_ids                   ids as JSON integers instead of strings
# no_id                     the page's first record has no ``id``
# not_utf8                  a Latin-1 byte in the body (not valid UTF-8)
# edited_during_paging      the page also carries a newer version (later ``last_updated``, same
#                           day) of page 1's first record, as if edited while the client paged
FAULT_KINDS = (
    "500",
    "503",
    "429",
    "slow",
    "truncated",
    "drop",
    "not_json",
    "under_count",
    "over_count",
    "int_ids",
    "no_id",
    "not_utf8",
    "edited_during_paging",
)
_BAD_INPUT = FAULT_KINDS[7:]
CLOCK_SKEW_MINUTES = 2
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def london_minute(moment: datetime) -> str:
    """``YYYYMMDDHHMM`` in London local time (naive means UTC), as the API hashes it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LONDON).strftime("%Y%m%d%H%M")


def expected_hash(public_key: str, private_key: str, minute: str) -> str:
    """The X-Hash the real API expects (its own copy, independent of the client's)."""
    token = hashlib.sha256((public_key + minute).encode()).hexdigest()
    digest = hmac.new(private_key.encode(), token.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


@dataclass
class FaultRule:
    """One injected fault: fires on matching requests until ``remaining`` reaches zero."""

    kind: str
    resource: str | None
    page: int | None
    remaining: int
    retry_after: float | None
    delay: float | None
    count: int | None = None

    def matches(self, resource: str, page: int | None) -> bool:
        return (self.resource is None or self.resource == resource) and (
            self.page is None or self.page == page
        )


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]


class TascomiSimulator(LoopbackService):
    """A loopback Tascomi API with synthetic, time-evolving data and fault injection.

    It serves ``tables``, every catalogue table and ``more_resources``, as the real API serves
    resources whether or not they are ingested (:class:`SyntheticData`); other names are 404.
    """

    def __init__(
        self,
        tables: list[TascomiTable],
        catalogue: ColumnTypeCatalogue,
        *,
        more_resources: Collection[str] = (),
        public_key: str = "sim-public-key",
        private_key: str = "sim-private-key",
        scale: float = 1.0,
        seed: int = 0,
        epoch: date = DEFAULT_EPOCH,
        page_size: int = 100,
        host: str = "127.0.0.1",
        port: int = 0,
        bad_value_rate: float = 0.0,
    ):
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.public_key = public_key
        self.private_key = private_key
        self.page_size = page_size
        self.epoch = epoch
        self.data = SyntheticData(
            tables,
            catalogue,
            more_resources=more_resources,
            seed=seed,
            scale=scale,
            epoch=epoch,
            bad_value_rate=bad_value_rate,
        )
        self.latency = 0.0
        self.request_log: list[tuple[str, dict[str, str], int | None]] = []
        self._log_lock = threading.Lock()
        self._faults: list[FaultRule] = []
        self._fault_lock = threading.Lock()
        self._init_service(host, port)

    def __repr__(self) -> str:
        return f"TascomiSimulator(url={self.base_url!r}, scale={self.data.scale})"

    # --- faults ----------------------------------------------------------------------------

    def inject(
        self,
        kind: str,
        *,
        resource: str | None = None,
        page: int | None = None,
        times: int = 1,
        retry_after: float | None = None,
        delay: float | None = None,
        count: int | None = None,
    ) -> None:
        """Make the next ``times`` matching requests fail (or stall, or lie) as ``kind`` says;
        ``count`` is how many results under_count / over_count misreport."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._fault_lock:
            self._faults.append(FaultRule(kind, resource, page, times, retry_after, delay, count))

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._faults.clear()

    def _take_fault(self, resource: str, page: int | None) -> FaultRule | None:
        with self._fault_lock:
            for rule in self._faults:
                if rule.matches(resource, page):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._faults.remove(rule)
                    return rule
        return None

    def _record(self, resource: str, params: dict[str, str], status: int | None) -> None:
        with self._log_lock:
            self.request_log.append((resource, params, status))

    # --- data ------------------------------------------------------------------------------

    def state(self, resource: str, as_of: datetime) -> list[dict]:
        """Ground truth: the newest version of each record with last_updated < as_of, by id,
        exactly as the API serves it."""
        if resource not in self.data:
            raise KeyError(f"unknown Tascomi resource {resource!r}")
        table = self.data.table(resource)
        positions = table.matching(aware(as_of).timestamp())
        return [json.loads(table.fragment(position)) for position in positions]

    def plant(self, resource: str, at: datetime, record_id: str | int | None = None) -> str:
        """Add a version of a record at ``at`` (a new record when ``record_id`` is None), so
        a test can stage exact timings, e.g. an edit between midnight and the 03:00 run.
        Returns the record's id."""
        if resource not in self.data:
            raise KeyError(f"unknown Tascomi resource {resource!r}")
        table = self.data.table(resource)
        known = None if record_id is None else int(record_id)
        return str(table.plant(aware(at).timestamp(), known))

    def _authorised(self, public: str | None, given_hash: str | None) -> bool:
        if public is None or given_hash is None:
            return False
        if not hmac.compare_digest(public.encode(), self.public_key.encode()):
            return False
        wall = datetime.now(UTC)
        for skew in range(-CLOCK_SKEW_MINUTES, CLOCK_SKEW_MINUTES + 1):
            minute = london_minute(wall + timedelta(minutes=skew))
            expected = expected_hash(self.public_key, self.private_key, minute)
            if hmac.compare_digest(given_hash.encode(), expected.encode()):
                return True
        return False

    def _respond(self, resource: str, params: dict[str, str], headers: Any) -> _Response:
        """The normal (fault-free) answer to one request."""
        if not self._authorised(headers.get("X-Public"), headers.get("X-Hash")):
            return _error(401, "authentication failed: bad X-Public or X-Hash")
        if resource not in self.data:
            return _error(404, f"unknown resource {resource!r}")
        page_text = params.get("page", "1")
        try:
            page = int(page_text)
        except ValueError:
            return _error(400, f"page must be a positive integer, got {page_text!r}")
        if page < 1:
            return _error(400, f"page must be a positive integer, got {page_text!r}")
        on = None
        if "last_updated" in params:
            text = params["last_updated"]
            try:
                if not _ISO_DATE.match(text):
                    raise ValueError(text)
                on = date.fromisoformat(text)
            except ValueError:
                return _error(400, f"last_updated must be YYYY-MM-DD, got {text!r}")
        table = self.data.table(resource)
        positions = table.matching(self.now.timestamp(), on)
        total = len(positions)
        paging = {"X-Number-Of-Results": str(total), "X-Results-Per-Page": str(self.page_size)}
        if total == 0:
            return _Response(202, b"", paging)
        chosen = positions[(page - 1) * self.page_size : page * self.page_size]
        body = _json_array([table.fragment(p) for p in chosen])
        return _Response(200, body, {"Content-Type": "application/json", **paging})


def _json_array(items: list[bytes]) -> bytes:
    """``[a,b,...]`` built by one join: concatenating around a joined page would copy its
    megabytes twice more (fresh allocations, each paid in page faults)."""
    if not items:
        return b"[]"
    parts = [b","] * (2 * len(items) + 1)
    parts[1::2] = items
    parts[0], parts[-1] = b"[", b"]"
    return b"".join(parts)


def _error(status: int, message: str) -> _Response:
    body = json.dumps({"error": message, "status": status}).encode()
    return _Response(status, body, {"Content-Type": "application/json"})


def _bad_input(fault: FaultRule, response: _Response, first_page: bytes, size: int) -> _Response:
    """The answer with a lying header or a malformed body, as ``fault.kind`` says."""
    if fault.kind in ("under_count", "over_count"):
        total = int(response.headers["X-Number-Of-Results"])
        by = size if fault.count is None else fault.count
        told = max(0, total - by) if fault.kind == "under_count" else total + by
        return _Response(
            response.status, response.body, {**response.headers, "X-Number-Of-Results": str(told)}
        )
    if response.status != 200:
        return response
    if fault.kind == "not_utf8":  # a Latin-1 "é" after the first string value
        return _Response(200, response.body.replace(b'","', b'\xe9","', 1), response.headers)
    records = json.loads(response.body)
    if fault.kind == "int_ids":
        for record in records:
            if str(record.get("id", "")).isdigit():
                record["id"] = int(record["id"])
    elif fault.kind == "no_id" and records:
        del records[0]["id"]
    elif fault.kind == "edited_during_paging":
        original = next(
            (r for r in json.loads(first_page) if r["last_updated"][11:] < "23:59:59"), None
        )
        if original is not None:
            newer = original["last_updated"][:10] + " 23:59:59"
            records.append({**original, "last_updated": newer})
    return _Response(200, json.dumps(records, separators=(",", ":")).encode(), response.headers)


_NOT_JSON = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    b"<body><h1>Temporarily down for maintenance</h1></body></html>"
)


class _Handler(LoopbackHandler):
    """Routes ``GET /rest/v1/<resource>`` to the simulator, applying faults first."""

    server_version = "TascomiSimulator/1.0"

    @property
    def simulator(self) -> TascomiSimulator:
        return self.server.simulator  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        sim = self.simulator
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        resource = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            page: int | None = int(params.get("page", "1"))
        except ValueError:
            page = None
        if sim.latency:
            time.sleep(sim.latency)
        fault = sim._take_fault(resource, page)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "slow":
            time.sleep(2.0 if fault.delay is None else fault.delay)
        if kind == "drop":
            sim._record(resource, params, None)
            self._drop()
            return
        if kind in ("500", "503"):
            response = _error(int(kind), f"injected fault: HTTP {kind}")
        elif kind == "429":
            assert fault is not None
            wait = 1 if fault.retry_after is None else fault.retry_after
            response = _error(429, "injected fault: too many requests")
            response.headers["Retry-After"] = (
                str(int(wait)) if float(wait).is_integer() else str(wait)
            )
        elif kind == "not_json":
            response = _Response(200, _NOT_JSON, {"Content-Type": "text/html"})
        elif not path.startswith(API_PREFIX) or not resource or "/" in resource:
            response = _error(404, f"no such path {path!r}; use {API_PREFIX}<resource>")
        else:
            response = sim._respond(resource, params, self.headers)
            if kind in _BAD_INPUT and response.status in (200, 202):
                assert fault is not None
                first = sim._respond(resource, {**params, "page": "1"}, self.headers)
                response = _bad_input(fault, response, first.body, sim.page_size)
        sim._record(resource, params, response.status)
        try:
            if kind == "truncated":
                self._send_truncated(response)
            else:
                self._send(response)
        except ConnectionError:
            # The client gave up (e.g. its read timeout beat a "slow" fault): nothing to do.
            self.close_connection = True

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _send_truncated(self, response: _Response) -> None:
        """Promise the whole body (and more), send half of it, then hang up."""
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body) + 1024))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body[: len(response.body) // 2])
        self.wfile.flush()
        self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


TascomiSimulator.api_prefix = API_PREFIX
TascomiSimulator.handler_class = _Handler
TascomiSimulator.thread_name = "tascomi-simulator"
