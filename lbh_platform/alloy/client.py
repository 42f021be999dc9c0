"""Alloy export client: request a CSV export, wait for its background task, download the zip.

The original polled every 60 s with no failure handling and no limit, and sent the key as a
``?token=`` query parameter. Here the key travels only in the ``Authorization`` header, polling
backs off up to a ceiling, failed or cancelled tasks raise with Alloy's own message, and a
wall-clock limit stops a stuck task from hanging a run. All HTTP goes through
`send_with_retries`, shared with the Tascomi client.

The zip's CSVs are read lazily, as streams: only the members the dataset uses are ever
decompressed or decoded, each within a size limit, and every error names the member.
"""

import codecs
import copy
import email.utils
import html
import io
import json
import logging
import time
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import requests

from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.alloy.transforms import clean_column_name
from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.common.http import ApiError, OwnedSession, RetryPolicy, send_with_retries

__all__ = [
    "AlloyClient",
    "AlloyExportError",
    "AlloyExportTimeout",
    "DEFAULT_MAX_MEMBER_BYTES",
    "ExportMember",
    "ExportMemberError",
    "ExportResult",
    "ExportZip",
    "TaskResult",
    "format_watermark",
    "incremental_query",
    "last_edit_filter",
    "table_name",
    "unzip_tables",
]

_DEFAULT_LOG = logging.getLogger("lbh_platform.alloy.client")
DEFAULT_POLICY = RetryPolicy()
DOWNLOAD_DEADLINE_SECONDS = 3600.0
DISCRIMINATOR = "CsvExportWebRequestModel"
COMPLETE = "Complete"
FAILED_STATUSES = ("Failed", "Cancelled")
# Where a task may report how many rows it exported (Alloy does not document one field).
_COUNT_KEYS = ("itemCount", "rowCount", "totalCount", "processedItemCount")
# Largest uncompressed CSV read from an export zip; a generous bound (ALLOY_MAX_MEMBER_BYTES).
DEFAULT_MAX_MEMBER_BYTES = 2 * 1024**3
# What Alloy puts before a joined design's CSV name (any case); the table names leave it out.
JOINED_PREFIX = "joineddesign_"


class AlloyExportError(ApiError):
    """Alloy accepted the export but its background task failed, was cancelled or timed out."""

    def __init__(self, message: str, *, task_id: str, task_status: str | None = None) -> None:
        super().__init__(message, describe=f"alloy export task {task_id}")
        self.task_id = task_id
        self.task_status = task_status


class AlloyExportTimeout(AlloyExportError):
    """The export task did not finish within ``max_wait`` seconds."""


@dataclass(frozen=True)
class TaskResult:
    """A finished export task; ``row_count`` only if the task reported one."""

    task_id: str
    status: str
    polls: int
    waited_seconds: float
    row_count: int | None
    task: dict[str, Any]


class ExportMemberError(DataError):
    """A CSV in the export zip is too large, corrupt or not UTF-8; the message names it."""


class ExportMember:
    """One CSV of an export zip, decompressed and decoded only when read, as a stream.

    ``size`` is what the zip declares; a member declaring more than ``limit`` bytes fails
    before anything is read, and reading stops at ``limit`` whatever the zip declared.
    """

    def __init__(
        self, content: bytes, info: zipfile.ZipInfo, name: str, table: str, limit: int
    ) -> None:
        self._content = content
        self._info = info
        self.name = name
        self.table = table
        self.size = info.file_size
        self.limit = limit

    def __repr__(self) -> str:
        return f"ExportMember({self.name!r}, table={self.table!r}, size={self.size})"

    def lines(self) -> Iterator[str]:
        """The CSV's lines, decoded from UTF-8 (a leading BOM dropped) one at a time."""
        if self.size > self.limit:
            raise ExportMemberError(
                f"export member {self.name!r} is {self.size:,} bytes uncompressed, more than "
                f"the limit of {self.limit:,} (ALLOY_MAX_MEMBER_BYTES), so it was not read"
            )
        read = 0
        number = 0
        try:
            with (
                zipfile.ZipFile(io.BytesIO(self._content)) as archive,
                archive.open(self._info) as stream,
            ):
                for number, raw in enumerate(stream, start=1):
                    if number == 1:
                        raw = raw.removeprefix(codecs.BOM_UTF8)
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise ExportMemberError(
                            f"export member {self.name!r} is not valid UTF-8: line "
                            f"{number}, byte offset {read + exc.start:,} ({exc.reason}: "
                            f"{raw[exc.start : exc.start + 4]!r}); export as UTF-8"
                        ) from None
                    read += len(raw)
                    if read > self.limit:
                        raise ExportMemberError(
                            f"export member {self.name!r} holds more than the limit of "
                            f"{self.limit:,} bytes (ALLOY_MAX_MEMBER_BYTES) although the "
                            f"zip declares {self.size:,}; reading stopped"
                        )
                    yield text
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise ExportMemberError(
                f"export member {self.name!r} is corrupt after {read:,} bytes (line {number}): "
                f"{exc}"
            ) from exc

    def text(self) -> str:
        """The whole CSV as text (within the same limit)."""
        return "".join(self.lines())


@dataclass(frozen=True)
class ExportZip:
    """An export zip's CSVs by output table, and the files left unread (named as in the zip)."""

    tables: dict[str, ExportMember]
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportResult:
    """One export: each output table's CSV (root named after the dataset), as a member of
    the zip to read as a stream, or as text (a stand-in export)."""

    dataset: str
    requested_at: datetime
    task_id: str
    tables: Mapping[str, "ExportMember | str"]
    reported_count: int | None
    query: dict[str, Any]
    ignored_members: list[str] = field(default_factory=list)


def format_watermark(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC (naive means UTC), the form AQS DateTime expects."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def last_edit_filter(watermark: datetime) -> dict[str, Any]:
    """The AQS node ``lastEditDate GreaterThan <watermark>``."""
    return {
        "type": "GreaterThan",
        "children": [
            {"type": "ItemProperty", "properties": {"itemPropertyName": "lastEditDate"}},
            {"type": "DateTime", "properties": {"value": [format_watermark(watermark)]}},
        ],
    }


def incremental_query(query: dict[str, Any], watermark: datetime) -> dict[str, Any]:
    """A copy of ``query`` that also requires ``lastEditDate > watermark``.

    The original replaced ``aqs.children`` with the date filter, silently dropping the query's
    own filters; here the existing children are ANDed with it. ``query`` is not modified.
    """
    if not isinstance(query, dict) or not isinstance(query.get("aqs"), dict):
        raise ConfigurationError('an AQS document must look like {"aqs": {...}}')
    combined = copy.deepcopy(query)
    aqs = combined["aqs"]
    existing = aqs.get("children") or []
    date_filter = last_edit_filter(watermark)
    aqs["children"] = (
        [{"type": "And", "children": [*existing, date_filter]}] if existing else [date_filter]
    )
    return combined


def table_name(member: str) -> str:
    """The output table a joined design's CSV feeds: its cleaned file stem without Alloy's
    ``JoinedDesign_`` prefix (``JoinedDesign_Task Statuses_1.csv`` -> ``task_statuses_1``)."""
    cleaned = clean_column_name(PurePosixPath(member).stem)
    return cleaned[len(JOINED_PREFIX) :] if cleaned.startswith(JOINED_PREFIX) else cleaned


def unzip_tables(
    zip_bytes: bytes,
    file_name: str,
    root_name: str | None = None,
    *,
    wanted: Collection[str] | None = None,
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
) -> ExportZip:
    """The CSVs of an export zip by output table, unread until asked for.

    The root CSV sits at ``<stem>/<fileName>`` and becomes ``root_name`` (default: the cleaned
    stem); every other CSV is named by :func:`table_name`. Member names are HTML-unescaped
    first: Alloy writes ``&`` as ``&amp;``. Only tables in ``wanted`` (default: every CSV) are
    kept; any other file is listed in ``ignored`` and never decompressed, so it cannot fail
    the export.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except zipfile.BadZipFile as exc:
        raise DataError(f"alloy export {file_name!r}: the download is not a zip file") from exc
    stem = PurePosixPath(file_name).stem
    root_name = root_name or clean_column_name(stem)
    root_member = f"{stem}/{file_name}"
    tables: dict[str, ExportMember] = {}
    ignored: list[str] = []
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
    for member in members:
        name = html.unescape(member.filename)
        is_root = name == root_member
        table = root_name if is_root else table_name(name)
        if (
            not name.lower().endswith(".csv")
            or not table
            or (wanted is not None and table not in wanted)
        ):
            ignored.append(name)
            continue
        if table in tables:
            raise DataError(
                f"alloy export {file_name!r}: two CSVs map to table {table!r} "
                f"({tables[table].name!r} and {name!r})"
            )
        tables[table] = ExportMember(zip_bytes, member, name, table, max_member_bytes)
    if root_name not in tables or tables[root_name].name != root_member:
        listing = [html.unescape(m.filename) for m in members]
        raise DataError(
            f"alloy export {file_name!r}: no root CSV at {root_member!r}; the zip holds {listing}"
        )
    return ExportZip({root_name: tables.pop(root_name), **tables}, ignored)


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _server_time(response: requests.Response) -> datetime | None:
    """The server's ``Date`` header (whole seconds), or None."""
    header = response.headers.get("Date")
    if not header:
        return None
    try:
        return email.utils.parsedate_to_datetime(header).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _reported_count(task: dict[str, Any]) -> int | None:
    """A row count from the task, if it reports one anywhere we know to look."""
    for holder in (task, task.get("result"), task.get("output")):
        if not isinstance(holder, dict):
            continue
        for key in _COUNT_KEYS:
            value = holder.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
    return None


class AlloyClient(OwnedSession):
    """Runs Alloy CSV exports; the API key lives only in the request headers."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        poll_interval: float = 2.0,
        poll_backoff: float = 1.5,
        max_poll_interval: float = 60.0,
        max_wait: float = 1800.0,
        max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | logging.LoggerAdapter | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not base_url:
            raise ConfigurationError("Alloy base_url is empty")
        if not api_key:
            raise ConfigurationError("Alloy API key is empty; set it in the environment")
        if poll_interval <= 0 or poll_backoff < 1 or max_poll_interval < poll_interval:
            raise ConfigurationError(
                "Alloy polling needs poll_interval > 0, poll_backoff >= 1 and "
                f"max_poll_interval >= poll_interval (got {poll_interval}, {poll_backoff}, "
                f"{max_poll_interval})"
            )
        if max_wait <= 0:
            raise ConfigurationError(f"Alloy max_wait must be > 0 seconds, got {max_wait}")
        if max_member_bytes <= 0:
            raise ConfigurationError(f"Alloy max_member_bytes must be > 0, got {max_member_bytes}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._api_key = api_key
        self.policy = policy
        self.poll_interval = poll_interval
        self.poll_backoff = poll_backoff
        self.max_poll_interval = max_poll_interval
        self.max_wait = max_wait
        self.max_member_bytes = max_member_bytes
        self._adopt_session(session)
        self._sleep = sleep
        self._clock = clock
        self._log = log if log is not None else _DEFAULT_LOG
        self._now = now
        self._last_server_time: datetime | None = None

    def __repr__(self) -> str:
        return f"AlloyClient(base_url={self.base_url!r}, max_wait={self.max_wait})"

    # --- the three API steps ------------------------------------------------------------------

    def start_export(
        self,
        query: dict[str, Any],
        file_name: str,
        header_type: str = "Name",
        parameter_values: list[Any] | None = None,
    ) -> str:
        """Ask Alloy for a CSV export of ``query`` (``{"aqs": ...}``); returns the task id."""
        if not isinstance(query, dict) or not isinstance(query.get("aqs"), dict):
            raise ConfigurationError('an AQS document must look like {"aqs": {...}}')
        if header_type not in ("Name", "Code"):
            raise ConfigurationError(
                f'exportHeaderType must be "Name" or "Code", not {header_type!r}'
            )
        body = {
            "aqs": query["aqs"],
            "parameterValues": list(parameter_values or []),
            "fileName": file_name,
            "discriminator": DISCRIMINATOR,
            "exportHeaderType": header_type,
        }
        answer = self._json(
            "POST", "export", f"alloy export {file_name!r}", "backgroundTaskId", json_body=body
        )
        return str(answer["backgroundTaskId"])

    def wait_for_task(self, task_id: str) -> TaskResult:
        """Poll the task with backoff until it is Complete; raise if it fails or takes too long."""
        started = self._clock()
        deadline = started + self.max_wait
        interval = self.poll_interval
        polls = 0
        while True:
            answer = self._json("GET", f"task/{task_id}", f"alloy task {task_id}", "task")
            polls += 1
            task = answer["task"]
            status = str(task.get("status", ""))
            if status == COMPLETE:
                waited = self._clock() - started
                count = _reported_count(task)
                self._log.info(
                    "alloy task %s complete after %d poll(s), %.1fs%s",
                    task_id,
                    polls,
                    waited,
                    "" if count is None else f", {count} row(s)",
                )
                return TaskResult(task_id, status, polls, waited, count, task)
            if status in FAILED_STATUSES:
                reason = task.get("message") or task.get("error") or "no message given"
                raise AlloyExportError(
                    self._redact(f"alloy export task {task_id} {status.lower()}: {reason}"),
                    task_id=task_id,
                    task_status=status,
                )
            now = self._clock()
            if now >= deadline:
                raise AlloyExportTimeout(
                    f"alloy export task {task_id} still {status or 'unknown'} after "
                    f"{now - started:.0f}s ({polls} polls); max_wait is {self.max_wait:.0f}s",
                    task_id=task_id,
                    task_status=status,
                )
            self._log.debug("alloy task %s is %s; next poll in %.1fs", task_id, status, interval)
            self._sleep(min(interval, max(deadline - now, 0.0)))
            interval = min(interval * self.poll_backoff, self.max_poll_interval)

    def download_export(self, task_id: str) -> bytes:
        """The finished export's zip: look up its file item, then download it."""
        answer = self._json(
            "GET", f"export/{task_id}/file", f"alloy export file of task {task_id}", "fileItemId"
        )
        file_id = str(answer["fileItemId"])

        def is_zip(response: requests.Response) -> str | None:
            return None if zipfile.is_zipfile(io.BytesIO(response.content)) else "not a zip file"

        # Alloy may answer with a redirect to its file storage on another host: followed
        # without the Authorization header (the key only ever goes to the configured API).
        # A zip may be as large as the largest CSV it can hold, and take as long to arrive.
        download = replace(
            self.policy,
            deadline=max(self.policy.deadline, DOWNLOAD_DEADLINE_SECONDS),
            max_body_bytes=max(self.policy.max_body_bytes, self.max_member_bytes),
        )
        response = self._send(
            "GET",
            f"file/{file_id}",
            f"alloy file {file_id} (task {task_id})",
            validate=is_zip,
            cross_origin_redirects=True,
            policy=download,
        )
        return response.content

    # --- the whole flow -----------------------------------------------------------------------

    def export(self, dataset: AlloyDataset, watermark: datetime | None) -> ExportResult:
        """Export ``dataset``: everything, or (incremental mode with a watermark) only items
        edited after ``watermark``. ``requested_at`` is taken just before the request, so it
        is a safe watermark for the next run (later edits are picked up again, never lost)."""
        query = dataset.query
        if dataset.mode == "incremental" and watermark is not None:
            query = incremental_query(query, watermark)
        requested_at = self._now().astimezone(UTC)
        self._last_server_time = None
        task_id = self.start_export(
            query, dataset.file_name, dataset.header_type, dataset.parameter_values
        )
        if self._last_server_time is not None:
            # Alloy's own clock decides what "edited after" means; one second earlier covers
            # the header's whole-second precision (an item taken twice, never lost).
            requested_at = self._last_server_time - timedelta(seconds=1)
        self._log.info(
            "alloy %s: export task %s requested (%s%s)",
            dataset.name,
            task_id,
            dataset.mode,
            "" if watermark is None else f", edited after {format_watermark(watermark)}",
        )
        task = self.wait_for_task(task_id)
        content = self.download_export(task_id)
        unzipped = unzip_tables(
            content,
            dataset.file_name,
            dataset.name,
            wanted=dataset.tables,
            max_member_bytes=self.max_member_bytes,
        )
        self._log.info(
            "alloy %s: %d table(s) downloaded (%s bytes zipped): %s%s",
            dataset.name,
            len(unzipped.tables),
            f"{len(content):,}",
            sorted(unzipped.tables),
            f"; not used: {unzipped.ignored}" if unzipped.ignored else "",
        )
        return ExportResult(
            dataset.name,
            requested_at,
            task_id,
            unzipped.tables,
            task.row_count,
            query,
            unzipped.ignored,
        )

    # --- plumbing -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***")

    def _send(
        self,
        method: str,
        path: str,
        describe: str,
        *,
        json_body: Any = None,
        validate: Callable[[requests.Response], str | None] | None = None,
        cross_origin_redirects: bool = False,
        policy: RetryPolicy | None = None,
    ) -> requests.Response:
        """One retried request; any error message is scrubbed of the key, even a bare echo. A
        redirect off the API's origin is refused unless ``cross_origin_redirects`` (then it is
        followed without the key)."""
        try:
            return send_with_retries(
                self._session,
                method,
                self.base_url + path,
                policy=policy or self.policy,
                cross_origin_redirects=cross_origin_redirects,
                describe=describe,
                headers=self._headers,
                json=json_body,
                sleep=self._sleep,
                log=self._log,
                validate=validate,
            )
        except ApiError as exc:
            message = str(exc)
            if self._api_key not in message:
                raise
            raise type(exc)(
                self._redact(message), describe=exc.describe, status=exc.status, url=exc.url
            ) from None

    def _json(
        self, method: str, path: str, describe: str, key: str, *, json_body: Any = None
    ) -> dict[str, Any]:
        """A JSON object holding ``key``; anything else is retried like a 5xx, then fails."""
        parsed: dict[str, Any] = {}

        def validate(response: requests.Response) -> str | None:
            body = _json_object(response)
            if body is None:
                return "body is not a JSON object"
            value = body.get(key)
            if value is None or value == "":
                return f"no {key!r} in the answer"
            if key == "task" and not isinstance(value, dict):
                return "'task' is not an object"
            parsed.update(body)
            return None

        response = self._send(method, path, describe, json_body=json_body, validate=validate)
        self._last_server_time = _server_time(response)
        return parsed
