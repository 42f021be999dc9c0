"""Tascomi API client: signed, paged, retried and bounded in concurrency.

Page 1 tells us how many pages exist; the rest are fetched in parallel, but never more than
`max_pages_in_flight` at once so the vendor API is not hammered, and scheduled only a window
ahead of the pages taken. The count is not believed past sanity: a fetch refuses more pages
than `max_pages` (or, given what the table held, many times those records), and stops after
`max_empty_pages` empty pages in a row. All HTTP goes through `send_with_retries`, so
timeouts, deadlines, size limits, same-origin redirects and secret-free messages are shared
with other clients.
"""

import heapq
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from lbh_platform.common import json_body
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.http import (
    ApiRequestError,
    OwnedSession,
    RetryPolicy,
    environment_read_once,
    send_with_retries,
)
from lbh_platform.tascomi.auth import auth_headers
from lbh_platform.tascomi.page_records import (
    DROPPED_FIELDS,
    RawRecords,
    split_body,
    split_decoded,
)

__all__ = ["DROPPED_FIELDS", "Page", "RawRecords", "TascomiClient"]

_RESOURCE = re.compile(r"^[A-Za-z0-9_\-]+$")
_DEFAULT_LOG = logging.getLogger("lbh_platform.tascomi.client")
# Frozen, so one shared default instance is safe (same as `policy=RetryPolicy()`).
DEFAULT_POLICY = RetryPolicy()
# Under-reporting is followed this far past the announced last page before giving up.
MAX_PAGES_BEYOND_ANNOUNCED = 10_000
# Defaults of the sanity limits (each a setting, see README): pages one fetch may take,
# empty pages in a row believed, and records a fetch may bring per record the table held
# (never fewer than MIN_RECORDS_CAP, so a small table may still grow).
DEFAULT_MAX_PAGES = 100_000
DEFAULT_MAX_EMPTY_PAGES = 10
DEFAULT_MAX_GROWTH = 10.0
MIN_RECORDS_CAP = 10_000
# Pages scheduled ahead of the lowest not yet taken (at least four per page in flight):
# enough to keep every request slot and split thread busy, never a future per page.
PAGES_AHEAD = 32
# Longest a fetched body's split waits for the next request to go out (normally < 1 ms).
SETTLE_SECONDS = 0.05


@dataclass(frozen=True)
class Page:
    """One fetched page; `url` is what we requested (auth lives in headers, so no secrets).

    A fetched page's `records` is usually a :class:`RawRecords`: each record's JSON text as
    the API sent it (minus `DROPPED_FIELDS`) with its id and `last_updated`, decoded into
    dicts only when indexed or iterated. A body only the standard library accepts gives
    plain dicts. Either way the records read the same; the raw stage takes the texts.
    """

    number: int
    url: str
    status: int
    records: Sequence[Mapping[str, object]]


class TascomiClient(OwnedSession):
    """Reads Tascomi resources page by page; credentials never leave the request headers."""

    def __init__(
        self,
        base_url: str,
        public_key: str,
        private_key: str,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        max_pages_in_flight: int = 4,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        log: logging.Logger | logging.LoggerAdapter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_empty_pages: int = DEFAULT_MAX_EMPTY_PAGES,
        max_growth: float = DEFAULT_MAX_GROWTH,
    ) -> None:
        if max_pages_in_flight < 1:
            raise ConfigurationError(f"max_pages_in_flight must be >= 1, got {max_pages_in_flight}")
        for name, value in (
            ("max_pages", max_pages),
            ("max_empty_pages", max_empty_pages),
            ("max_growth", max_growth),
        ):
            if value <= 0:
                raise ConfigurationError(f"{name} must be > 0, got {value}")
        if not base_url:
            raise ConfigurationError("Tascomi base_url is empty")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._public_key = public_key
        self._private_key = private_key
        self.policy = policy
        self.max_pages_in_flight = max_pages_in_flight
        self.max_pages = max_pages
        self.max_empty_pages = max_empty_pages
        self.max_growth = max_growth
        self.pages_ahead = max(PAGES_AHEAD, 4 * max_pages_in_flight)
        # At most this many requests are in flight; their bodies are split and checked
        # outside it, by as many threads again, so a decode never holds a request back.
        self._in_flight = _OrderedSlots(max_pages_in_flight)
        self._adopt_session(session, self._new_session)
        self._clock = clock
        self._log = log if log is not None else _DEFAULT_LOG
        self._sleep = sleep

    def __repr__(self) -> str:
        return (
            f"TascomiClient(base_url={self.base_url!r}, "
            f"max_pages_in_flight={self.max_pages_in_flight})"
        )

    def _new_session(self) -> requests.Session:
        """A session whose pool can hold one connection per page in flight (no churn), with
        the environment's proxies and CA bundle read once rather than per page."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, self.max_pages_in_flight))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return environment_read_once(session, self.base_url)

    def fetch(
        self, resource: str, last_updated: date | None = None, *, held_records: int | None = None
    ) -> list[Page]:
        """All pages of `resource` (optionally only records updated on `last_updated`).

        Returns pages in page order; an empty list when the API answers 202 (nothing matched).
        The announced count is not trusted blindly: a full last page is followed by further
        pages until a short one (under-reporting loses nothing), empty pages at the end are
        accepted (over-reporting), and an empty page followed by records is an error. Nor is
        it trusted past sanity: more than `max_pages` pages, more than `max_growth` times the
        `held_records` the table held (if given; at least `MIN_RECORDS_CAP`), or
        `max_empty_pages` empty pages in a row raise `ApiRequestError`.
        """
        if not _RESOURCE.match(resource):
            raise ConfigurationError(f"invalid Tascomi resource name {resource!r}")
        first, paging = self._fetch_page(resource, 1, last_updated)
        if first is None or paging is None:
            return []
        limits = self._limits(resource, last_updated, held_records)
        limits.check_announced(paging)
        page_count = paging.pages
        self._log.debug("tascomi %s: %d page(s) to fetch", resource, page_count)
        pages = [first]
        if page_count > 1:
            pages.extend(self._fetch_announced(resource, paging, last_updated, limits))
        pages.extend(self._fetch_beyond(resource, pages, paging, last_updated, limits))
        _check_no_gap(resource, pages, last_updated)
        received = sum(len(page.records) for page in pages)
        if received != paging.total:
            self._log.warning(
                "tascomi %s%s: page 1 announced %d record(s) on %d page(s); %d received on "
                "%d page(s) (read until the first short page)",
                resource,
                "" if last_updated is None else f" last_updated={last_updated.isoformat()}",
                paging.total,
                page_count,
                received,
                len(pages),
            )
        return pages

    def _limits(self, resource: str, day: date | None, held_records: int | None) -> "_Limits":
        max_records = None
        if held_records is not None:
            max_records = max(int(self.max_growth * max(held_records, 0)), MIN_RECORDS_CAP)
        window = "" if day is None else f" (last_updated={day.isoformat()})"
        return _Limits(resource, window, self.max_pages, max_records, held_records, self.max_growth)

    def _fetch_announced(
        self, resource: str, paging: "_Paging", last_updated: date | None, limits: "_Limits"
    ) -> list[Page]:
        """Pages 2..n, at most `max_pages_in_flight` requests at once and `pages_ahead` pages
        scheduled ahead of the lowest not yet taken. An empty page (or a 202) is asked for
        once more, then taken as empty (the count over-reported); `max_empty_pages` of them
        in a row stop the fetch."""
        page_count = paging.pages
        pages: list[Page] = []
        numbers = iter(range(2, page_count + 1))
        ahead: deque[tuple[int, Future[tuple[Page | None, _Paging | None]]]] = deque()
        empty_run = 0
        with ThreadPoolExecutor(
            max_workers=min(2 * self.max_pages_in_flight, page_count - 1),
            thread_name_prefix=f"tascomi-{resource}",
        ) as pool:

            def schedule() -> None:
                while len(ahead) < self.pages_ahead:
                    number = next(numbers, None)
                    if number is None:
                        return
                    future = pool.submit(self._fetch_page, resource, number, last_updated)
                    ahead.append((number, future))

            try:
                schedule()
                while ahead:
                    number, future = ahead[0]
                    page, _ = future.result()
                    ahead.popleft()
                    schedule()
                    if page is None or not page.records:
                        # Empty where records were announced: believe it only when asked twice.
                        page, _ = self._fetch_page(resource, number, last_updated)
                    pages.append(page or _empty_page(self, resource, number, last_updated))
                    empty_run = 0 if pages[-1].records else empty_run + 1
                    if empty_run >= self.max_empty_pages:
                        limits.too_many_empty(number, empty_run, paging)
            except BaseException:
                for _, pending in ahead:
                    pending.cancel()
                raise
        return pages

    def _fetch_beyond(
        self,
        resource: str,
        pages: list[Page],
        paging: "_Paging",
        last_updated: date | None,
        limits: "_Limits",
    ) -> list[Page]:
        """Pages past the announced last one, while the page before was full (the count
        under-reported); stops at the first short, empty or 202 page."""
        # The server's real page size: page 1 is full whenever there is more than one page.
        size = max(paging.per_page, len(pages[0].records)) if len(pages) > 1 else paging.per_page
        extra: list[Page] = []
        last = pages[-1]
        received = sum(len(page.records) for page in pages)
        while size and len(last.records) >= size:
            number = last.number + 1
            if number > len(pages) + MAX_PAGES_BEYOND_ANNOUNCED:
                raise ApiRequestError(
                    f"tascomi {resource} page {number}: still full pages "
                    f"{MAX_PAGES_BEYOND_ANNOUNCED} pages past the {len(pages)} announced",
                    describe=f"tascomi {resource} page {number}",
                )
            limits.check_beyond(number, received)
            page, _ = self._fetch_page(resource, number, last_updated)
            if page is None or not page.records:
                break
            # RawRecords compare their texts: no decode to find a repeat.
            repeated = next((p for p in (*pages, *extra) if p.records == page.records), None)
            if repeated is not None:
                raise ApiRequestError(
                    f"tascomi {resource} page {number}: repeats page {repeated.number} (the "
                    "API ignores the page parameter)",
                    describe=f"tascomi {resource} page {number}",
                )
            self._log.warning(
                "tascomi %s page %d: %d record(s) past the announced last page %d",
                resource,
                number,
                len(page.records),
                paging.pages,
            )
            extra.append(page)
            received += len(page.records)
            last = page
        return extra

    def fetch_window(
        self, resource: str, days: list[date], *, held_records: int | None = None
    ) -> list[Page]:
        """Fetch one `last_updated` filter per day, in order: how the daily increment works."""
        pages: list[Page] = []
        for day in days:
            day_pages = self.fetch(resource, last_updated=day, held_records=held_records)
            records = sum(len(page.records) for page in day_pages)
            self._log.info(
                "tascomi %s last_updated=%s: %d page(s), %d record(s)",
                resource,
                day.isoformat(),
                len(day_pages),
                records,
            )
            pages.extend(day_pages)
        return pages

    def fetch_first_pages(self, resource: str, pages: int) -> tuple[list[Page], int]:
        """The first ``pages`` pages of ``resource`` (in order) and how many it has: a look at
        a resource without reading all of it (``probe``). ``([], 0)`` when the API answers 202."""
        if not _RESOURCE.match(resource):
            raise ConfigurationError(f"invalid Tascomi resource name {resource!r}")
        first, paging = self._fetch_page(resource, 1, None)
        if first is None or paging is None:
            return [], 0
        page_count = paging.pages
        got = [first]
        for number in range(2, min(pages, page_count) + 1):
            page, _ = self._fetch_page(resource, number, None)
            if page is None:
                break
            got.append(page)
        return got, page_count

    def _fetch_page(
        self, resource: str, number: int, last_updated: date | None
    ) -> tuple[Page | None, "_Paging | None"]:
        """One page and (page 1 only) the paging it announces; `(None, None)` for a 202."""
        url = f"{self.base_url}{resource}"
        params: dict[str, str] = {"page": str(number)}
        if last_updated is not None:
            params["last_updated"] = last_updated.isoformat()
        describe = f"tascomi {resource} page {number}"
        if last_updated is not None:
            describe += f" (last_updated={params['last_updated']})"
        parsed: dict[str, Any] = {}

        turn = self._in_flight.turn(number)

        def headers() -> dict[str, str]:
            turn.going_out()  # signed in the slot: the request goes out next
            return self._headers()

        def validate(response: requests.Response) -> str | None:
            """A usable page is a JSON array of objects (page 1 also needs paging headers)."""
            if response.status_code == 202:
                return None
            # The slot just freed is the next page's: let its request go out before this
            # body takes the interpreter lock for milliseconds of splitting.
            self._in_flight.settle()
            records: RawRecords | list[Any] | None = split_body(response.content)
            if records is None:  # what the fast split did not take: the standard library's say
                try:
                    records = json_body.loads(response.content)
                except UnicodeDecodeError as exc:
                    return f"body is not valid UTF-8 (byte {exc.start}: {exc.reason})"
                except json_body.TooDeeplyNested as exc:
                    return str(exc)
                except ValueError:
                    return "body is not JSON"
                if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                    return "body is not a JSON array of objects"
                records = split_decoded(response.content, records) or records
            if number == 1:
                paging = _paging(response.headers)
                if isinstance(paging, str):
                    return paging
                parsed["paging"] = paging
            parsed["records"] = records
            return None

        response = send_with_retries(
            self._session,
            "GET",
            url,
            policy=self.policy,
            describe=describe,
            headers=headers,
            params=params,
            sleep=self._sleep,
            log=self._log,
            validate=validate,
            slot=turn,
        )
        if response.status_code == 202:
            return None, None
        records: RawRecords | list[dict] = parsed["records"]
        if isinstance(records, list):
            for record in records:
                for field in DROPPED_FIELDS:
                    record.pop(field, None)
        page = Page(
            number=number,
            url=f"{url}?{urlencode(params)}",
            status=response.status_code,
            records=records,
        )
        return page, parsed.get("paging")

    def _headers(self) -> dict[str, str]:
        """Fresh auth headers: the hash is only valid for the current London minute."""
        return auth_headers(self._public_key, self._private_key, self._clock())


class _OrderedSlots:
    """At most ``size`` holders at once; a slot given up goes straight to the lowest page
    waiting, so pages are asked for in order (and a page being retried before later ones).

    A thread that has just given its slot up is about to split a body, holding the
    interpreter lock for milliseconds at a time; the thread handed the slot needs the lock
    to send its request, and would wait out the switch interval (5 ms) behind it, a lane
    of requests idle. ``settle`` lets the CPU work wait (off the lock) until the request
    has gone out instead. Each waiter has its own event, so a hand-over wakes one thread,
    not all of them."""

    _event = threading.Event  # what a waiter waits on (a test interrupts its wait)

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: list[tuple[int, int, threading.Event]] = []  # (page, arrival, event)
        self._arrivals = itertools.count()
        self._starting = 0  # slots taken whose request has not yet gone out
        self._lock = threading.Lock()
        self._all_sent = threading.Condition(self._lock)

    def turn(self, page: int) -> "_Turn":
        """A slot for ``page``'s request, to enter once per attempt."""
        return _Turn(self, page)

    def acquire(self, page: int) -> None:
        with self._lock:
            if self._free:  # a slot is only free while nobody waits
                self._free -= 1
                self._starting += 1
                return
            handed = self._event()
            entry = (page, next(self._arrivals), handed)
            heapq.heappush(self._waiting, entry)
        try:
            handed.wait()
        except BaseException:  # interrupted while waiting: give back a slot handed over
            with self._lock:
                if not handed.is_set():
                    self._waiting.remove(entry)
                    heapq.heapify(self._waiting)
                    raise
            self.went_out()
            self.release()
            raise

    def went_out(self) -> None:
        """A holder's request is on its way (or it gave up before sending one)."""
        with self._lock:
            self._starting -= 1
            if not self._starting:
                self._all_sent.notify_all()

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                _, _, handed = heapq.heappop(self._waiting)
                self._starting += 1
                handed.set()
            else:
                self._free += 1

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait while a slot just taken or handed over has not sent its request yet (at
        most ``timeout``: this orders work, it never blocks it)."""
        with self._lock:
            self._all_sent.wait_for(lambda: not self._starting, timeout)


class _Turn:
    """One page's entry to the slots, once per attempt; ``going_out`` marks the request sent."""

    __slots__ = ("_pending", "page", "slots")

    def __init__(self, slots: _OrderedSlots, page: int) -> None:
        self.slots = slots
        self.page = page
        self._pending = False

    def __enter__(self) -> None:
        self.slots.acquire(self.page)
        self._pending = True

    def going_out(self) -> None:
        if self._pending:
            self._pending = False
            self.slots.went_out()

    def __exit__(self, *exc_info: object) -> None:
        self.going_out()
        self.slots.release()


@dataclass(frozen=True)
class _Paging:
    """What page 1's headers announce."""

    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return 1 if self.total == 0 else -(-self.total // self.per_page)


def _paging(headers: Any) -> _Paging | str:
    """The paging page 1 announces, or the reason the paging headers are unusable."""
    total_text = headers.get("X-Number-Of-Results")
    per_page_text = headers.get("X-Results-Per-Page")
    if total_text is None or per_page_text is None:
        return "missing X-Number-Of-Results / X-Results-Per-Page headers"
    try:
        total = int(total_text)
        per_page = int(per_page_text)
    except ValueError:
        return "non-integer X-Number-Of-Results / X-Results-Per-Page headers"
    if total < 0 or per_page < 0 or (total > 0 and per_page == 0):
        return f"invalid paging headers (total={total}, per page={per_page})"
    return _Paging(total, per_page)


@dataclass(frozen=True)
class _Limits:
    """One fetch's sanity limits, and the errors that name them."""

    resource: str
    window: str  # " (last_updated=...)" or ""
    max_pages: int
    max_records: int | None  # from what the table held, when the caller said
    held_records: int | None
    growth: float

    def _error(self, number: int, what: str) -> ApiRequestError:
        return ApiRequestError(
            f"tascomi {self.resource}{self.window} page {number}: {what}",
            describe=f"tascomi {self.resource} page {number}",
        )

    def _held(self) -> str:
        return (
            f"the {self.max_records:,} records a fetch may bring ({self.growth:g} times the "
            f"{self.held_records:,} the table held, at least {MIN_RECORDS_CAP:,}; "
            "TASCOMI_MAX_GROWTH)"
        )

    def check_announced(self, paging: "_Paging") -> None:
        """Refuse page 1's count before any other page is asked for."""
        announced = (
            f"announces {paging.total:,} record(s) on {paging.pages:,} page(s) of "
            f"{paging.per_page:,}"
        )
        if paging.pages > self.max_pages:
            raise self._error(
                1,
                f"{announced}, more than the {self.max_pages:,} pages a fetch may take "
                "(TASCOMI_MAX_PAGES): the count is not believed, nothing more is asked for",
            )
        if self.max_records is not None and paging.total > self.max_records:
            raise self._error(
                1,
                f"{announced}, more than {self._held()}: the count is not believed, "
                "nothing more is asked for",
            )

    def check_beyond(self, number: int, received: int) -> None:
        """Refuse a page past the count once the fetch has as much as it may take."""
        if number > self.max_pages:
            raise self._error(
                number,
                f"full pages go on past the announced count, beyond the {self.max_pages:,} "
                "pages a fetch may take (TASCOMI_MAX_PAGES)",
            )
        if self.max_records is not None and received >= self.max_records:
            raise self._error(
                number,
                f"full pages go on past the announced count: {received:,} record(s) so far, "
                f"as many as {self._held()}",
            )

    def too_many_empty(self, number: int, run: int, paging: "_Paging") -> None:
        raise ApiRequestError(
            f"tascomi {self.resource}{self.window} pages {number - run + 1}..{number}: "
            f"{run} empty pages in a row where page 1 announced {paging.total:,} record(s) on "
            f"{paging.pages:,} page(s): the count is not believed, the fetch stops "
            "(TASCOMI_MAX_EMPTY_PAGES)",
            describe=f"tascomi {self.resource} page {number}",
        )


def _empty_page(client: TascomiClient, resource: str, number: int, day: date | None) -> Page:
    """An announced page the API answered with 202 (nothing there)."""
    params = {"page": str(number), **({} if day is None else {"last_updated": day.isoformat()})}
    return Page(number, f"{client.base_url}{resource}?{urlencode(params)}", 202, [])


def _check_no_gap(resource: str, pages: list[Page], day: date | None) -> None:
    """Records after an empty page mean the result changed while paging: refuse to guess."""
    empty = next((page for page in pages if not page.records), None)
    if empty is None:
        return
    later = next((page for page in pages if page.number > empty.number and page.records), None)
    if later is not None:
        window = "" if day is None else f" (last_updated={day.isoformat()})"
        raise ApiRequestError(
            f"tascomi {resource}{window} page {empty.number}: empty, yet page {later.number} "
            "has records: the result changed while paging; re-run the partition",
            describe=f"tascomi {resource} page {empty.number}",
            status=empty.status,
        )
