"""AlloySimulator: Alloy's export API as a real HTTP server on loopback.

Tests and demos run the real client (Bearer auth, task polling, zip download, retries) against
it: tasks take a set number of polls, can be told to fail, and exports honour a
``lastEditDate GreaterThan`` filter, over deterministic items that change day by day. The zip
is laid out as Alloy's: the root CSV at ``<stem>/<fileName>``, each joined design's CSV named
``JoinedDesign_<design>_<n>.csv``.
"""

import csv
import email.utils
import hmac
import html
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform_devkit.alloy.simulator.data import DEFAULT_EPOCH, DatasetData, Table, item_id
from lbh_platform_devkit.loopback import LoopbackHandler, LoopbackService, aware

API_PREFIX = "/api/"
JOINED_PREFIX = "JoinedDesign_"
Members = dict[str, bytes]  # an export zip's files by name, before HTML escaping


def find_last_edit_after(node: Any) -> datetime | None:
    """The latest ``lastEditDate GreaterThan <DateTime>`` threshold anywhere under ``node``."""
    found: list[datetime] = []

    def walk(current: Any) -> None:
        if isinstance(current, list):
            for child in current:
                walk(child)
            return
        if not isinstance(current, dict):
            return
        children = current.get("children") or []
        if current.get("type") == "GreaterThan" and len(children) == 2:
            prop, value = children
            values = (value.get("properties") or {}).get("value") or [None]
            if (
                prop.get("type") == "ItemProperty"
                and (prop.get("properties") or {}).get("itemPropertyName") == "lastEditDate"
                and value.get("type") == "DateTime"
                and isinstance(values[0], str)
            ):
                found.append(aware(datetime.fromisoformat(values[0].replace("Z", "+00:00"))))
        walk(children)

    walk(node)
    return max(found) if found else None


def _csv(table: Table) -> bytes:
    header, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


@dataclass
class _Task:
    id: str
    file_id: str
    content: bytes
    rows: int
    polls_needed: int
    failure: str | None
    polls: int = 0


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, body: object) -> _Response:
    return _Response(status, json.dumps(body).encode())


def _error(status: int, message: str) -> _Response:
    return _json(status, {"errorCode": status, "message": message})


class AlloySimulator(LoopbackService):
    """A loopback Alloy export API over synthetic, time-evolving items."""

    def __init__(
        self,
        datasets: list[AlloyDataset],
        *,
        api_key: str = "sim-alloy-key",
        seed: int = 0,
        scale: float = 1.0,
        epoch: date = DEFAULT_EPOCH,
        polls_to_complete: int = 2,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.datasets = {d.name: d for d in datasets}
        self.data = {d.name: DatasetData(d, seed=seed, scale=scale, epoch=epoch) for d in datasets}
        self.api_key = api_key
        self.epoch = epoch
        self.polls_to_complete = polls_to_complete
        self.latency = 0.0
        self.report_counts = True
        self.request_log: list[tuple[str, str, int]] = []
        self.export_requests: list[dict[str, Any]] = []
        self._tasks: dict[str, _Task] = {}
        self._files: dict[str, str] = {}
        self._fail_next: str | None = None
        self._repeat_next = 0
        self._tamper_next: Callable[[Members], Members] | None = None
        self._faults: list[list[Any]] = []
        self._lock = threading.Lock()
        self._init_service(host, port)

    def __repr__(self) -> str:
        return f"AlloySimulator(url={self.base_url!r}, datasets={sorted(self.datasets)})"

    # --- control ------------------------------------------------------------------------------

    def fail_next_task(self, message: str = "Export failed: internal error") -> None:
        """The next export task will end as ``Failed`` with ``message``."""
        with self._lock:
            self._fail_next = message

    def repeat_in_next_export(self, items: int = 1) -> None:
        """The next export lists ``items`` edited items twice: at the end of the root CSV
        once more, as their previous version (older last edit). Ground truth is unchanged."""
        with self._lock:
            self._repeat_next = items

    def tamper_next_export(self, edit: Callable[[Members], Members]) -> None:
        """The next export's zip holds ``edit(files)`` instead of its files (name -> bytes):
        to re-encode a CSV, add a member, inflate one."""
        with self._lock:
            self._tamper_next = edit

    def state(
        self, dataset: str, as_of: datetime, header_type: str | None = None
    ) -> dict[str, list[dict[str, str]]]:
        """Ground truth: each output table's rows, as a full export at ``as_of`` would hold
        them (CSV headers of ``header_type``, default the dataset's), sorted by item id."""
        if dataset not in self.data:
            raise KeyError(f"unknown Alloy dataset {dataset!r}")
        kind = header_type or self.datasets[dataset].header_type
        tables = self.data[dataset].tables(aware(as_of), kind)
        return {
            name: [dict(zip(header, row, strict=True)) for row in rows]
            for name, (header, rows) in tables.items()
        }

    # --- the API ------------------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        expected = f"Bearer {self.api_key}".encode()
        return header is not None and hmac.compare_digest(header.encode(), expected)

    def _start_export(self, body: Any) -> _Response:
        if not isinstance(body, dict) or not isinstance(body.get("aqs"), dict):
            return _error(400, "body must be a CsvExportWebRequestModel with an 'aqs' object")
        if body.get("discriminator") != "CsvExportWebRequestModel":
            return _error(400, "discriminator must be CsvExportWebRequestModel")
        header_type = body.get("exportHeaderType", "Name")
        file_name = body.get("fileName")
        if (
            header_type not in ("Name", "Code")
            or not isinstance(file_name, str)
            or not (file_name.endswith(".csv"))
        ):
            return _error(400, "exportHeaderType must be Name or Code; fileName must end .csv")
        design = (body["aqs"].get("properties") or {}).get("dodiCode")
        matches = [d for d in self.datasets.values() if d.root_design == design]
        if not matches:
            return _error(400, f"unknown design {design!r}")
        dataset = next((d for d in matches if d.file_name == file_name), matches[0])
        after = find_last_edit_after(body["aqs"].get("children"))
        with self._lock:
            repeat, self._repeat_next = self._repeat_next, 0
            tamper, self._tamper_next = self._tamper_next, None
        tables = self.data[dataset.name].tables(self.now, header_type, after, repeat)
        stem = file_name[: -len(".csv")]
        # Alloy names each joined CSV after its design, numbered in join order.
        designs = ["", *dataset.join_design_names.values()]
        members: Members = {}
        for number, table in enumerate(tables.values()):
            member = file_name if number == 0 else f"{JOINED_PREFIX}{designs[number]}_{number}.csv"
            members[f"{stem}/{member}"] = _csv(table)
        if tamper is not None:
            members = tamper(members)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in members.items():
                archive.writestr(html.escape(name, quote=False), content)
        with self._lock:
            self.export_requests.append(body)
            task_id = item_id("task", len(self._tasks), time.time_ns())
            task = _Task(
                id=task_id,
                file_id=item_id("file", task_id),
                content=buffer.getvalue(),
                rows=len(tables[dataset.name][1]),
                polls_needed=self.polls_to_complete,
                failure=self._fail_next,
            )
            self._fail_next = None
            self._tasks[task_id] = task
            self._files[task.file_id] = task_id
        return _json(200, {"backgroundTaskId": task_id})

    def _task_status(self, task_id: str) -> _Response:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return _error(404, f"no task {task_id!r}")
            task.polls += 1
            done = task.polls >= task.polls_needed
        body: dict[str, Any] = {"id": task.id, "type": "Export"}
        if not done:
            body["status"] = "Queued" if task.polls == 1 else "Processing"
        elif task.failure is not None:
            body.update(status="Failed", message=task.failure)
        else:
            body["status"] = "Complete"
            if self.report_counts:
                body["itemCount"] = task.rows
        return _json(200, {"task": body})

    def _task_done(self, task: _Task) -> bool:
        return task.polls >= task.polls_needed and task.failure is None

    def inject(self, status: int, *, path: str = "", times: int = 1, retry_after: int = 0) -> None:
        """Answer the next ``times`` requests whose path (after ``/api/``) starts with ``path``
        with ``status`` (e.g. 503, or 429 with ``Retry-After``)."""
        with self._lock:
            self._faults.append([status, path, times, retry_after])

    def _take_fault(self, path: str) -> _Response | None:
        with self._lock:
            for fault in self._faults:
                status, prefix, times, retry_after = fault
                if path[len(API_PREFIX) :].startswith(prefix):
                    fault[2] -= 1
                    if fault[2] <= 0:
                        self._faults.remove(fault)
                    response = _error(status, f"injected fault {status}")
                    if retry_after:
                        response.headers["Retry-After"] = str(retry_after)
                    return response
        return None

    def respond(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        """The answer to one request (no I/O: the handler does the socket work)."""
        fault = self._take_fault(path)
        if fault is not None:
            return fault
        if not self._authorised(headers.get("Authorization")):
            return _error(401, "Unauthorised: send Authorization: Bearer <api key>")
        if not path.startswith(API_PREFIX):
            return _error(404, f"no such path {path!r}")
        parts = path[len(API_PREFIX) :].strip("/").split("/")
        if method == "POST" and parts == ["export"]:
            try:
                return self._start_export(json.loads(body or b"null"))
            except ValueError:
                return _error(400, "body is not JSON")
        if method == "GET" and len(parts) == 2 and parts[0] == "task":
            return self._task_status(parts[1])
        if method == "GET" and len(parts) == 3 and parts[0] == "export" and parts[2] == "file":
            with self._lock:
                task = self._tasks.get(parts[1])
            if task is None:
                return _error(404, f"no export task {parts[1]!r}")
            if not self._task_done(task):
                return _error(400, f"export task {parts[1]} is not complete")
            return _json(200, {"fileItemId": task.file_id})
        if method == "GET" and len(parts) == 2 and parts[0] == "file":
            with self._lock:
                task_id = self._files.get(parts[1])
                task = self._tasks.get(task_id) if task_id else None
            if task is None:
                return _error(404, f"no file {parts[1]!r}")
            return _Response(200, task.content, "application/zip")
        return _error(404, f"no route for {method} {path}")


class _Handler(LoopbackHandler):
    """Hands each request to the simulator and writes its answer."""

    server_version = "AlloySimulator/1.0"

    @property
    def simulator(self) -> AlloySimulator:
        return self.server.simulator  # type: ignore[attr-defined]

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header follows the simulated clock, as the real server's own clock."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        return email.utils.format_datetime(self.simulator.now.astimezone(UTC), usegmt=True)

    def _handle(self, method: str) -> None:
        sim = self.simulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = unquote(urlsplit(self.path).path)
        if sim.latency:
            time.sleep(sim.latency)
        response = sim.respond(method, path, self.headers, body)
        with sim._lock:
            sim.request_log.append((method, path, response.status))
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except ConnectionError:
            self.close_connection = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


AlloySimulator.api_prefix = API_PREFIX
AlloySimulator.handler_class = _Handler
AlloySimulator.thread_name = "alloy-simulator"
