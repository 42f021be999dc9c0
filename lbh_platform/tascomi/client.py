"""Tascomi API client: signed, paged, retried and bounded in concurrency.

Page 1 tells us how many pages exist; the rest are fetched in parallel, but never more than
`max_pages_in_flight` at once so the vendor API is not hammered. All HTTP goes through
`send_with_retries`, so timeouts, backoff and secret-free messages are shared with other clients.
"""

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from lbh_platform.common import json_body
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.http import ApiRequestError, RetryPolicy, send_with_retries
from lbh_platform.tascomi.auth import auth_headers

__all__ = ["DROPPED_FIELDS", "Page", "TascomiClient"]

# Huge base64 map images: the original dropped them and nothing downstream wants them.
DROPPED_FIELDS = ("gis_map_image_base64",)

_RESOURCE = re.compile(r"^[A-Za-z0-9_\-]+$")
_DEFAULT_LOG = logging.getLogger("lbh_platform.tascomi.client")
# Frozen, so one shared default instance is safe (same as `policy=RetryPolicy()`).
DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Page:
    """One fetched page; `url` is what we requested (auth lives in headers, so no secrets)."""

    number: int
    url: str
    status: int
    records: list[dict]


class TascomiClient:
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
    ) -> None:
        if max_pages_in_flight < 1:
            raise ConfigurationError(f"max_pages_in_flight must be >= 1, got {max_pages_in_flight}")
        if not base_url:
            raise ConfigurationError("Tascomi base_url is empty")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._public_key = public_key
        self._private_key = private_key
        self.policy = policy
        self.max_pages_in_flight = max_pages_in_flight
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session()
        self._clock = clock
        self._log = log if log is not None else _DEFAULT_LOG
        self._sleep = sleep

    def __repr__(self) -> str:
        return (
            f"TascomiClient(base_url={self.base_url!r}, "
            f"max_pages_in_flight={self.max_pages_in_flight})"
        )

    def __enter__(self) -> "TascomiClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections, but only of a session we created ourselves."""
        if self._owns_session:
            self._session.close()

    def _new_session(self) -> requests.Session:
        """A session whose pool can hold one connection per page in flight (no churn)."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, self.max_pages_in_flight))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def fetch(self, resource: str, last_updated: date | None = None) -> list[Page]:
        """All pages of `resource` (optionally only records updated on `last_updated`).

        Returns pages in page order; an empty list when the API answers 202 (nothing matched).
        """
        if not _RESOURCE.match(resource):
            raise ConfigurationError(f"invalid Tascomi resource name {resource!r}")
        first, page_count = self._fetch_page(resource, 1, last_updated)
        if first is None:
            return []
        self._log.debug("tascomi %s: %d page(s) to fetch", resource, page_count)
        if page_count <= 1:
            return [first]

        pages = [first]
        with ThreadPoolExecutor(
            max_workers=min(self.max_pages_in_flight, page_count - 1),
            thread_name_prefix=f"tascomi-{resource}",
        ) as pool:
            futures: list[Future[tuple[Page | None, int]]] = [
                pool.submit(self._fetch_page, resource, number, last_updated)
                for number in range(2, page_count + 1)
            ]
            try:
                for number, future in enumerate(futures, start=2):
                    page, _ = future.result()
                    if page is None:
                        # 202 part-way through: the data changed under us; report, don't guess.
                        raise ApiRequestError(
                            f"tascomi {resource} page {number}: HTTP 202 (no results) after "
                            f"page 1 announced {page_count} pages",
                            describe=f"tascomi {resource} page {number}",
                            status=202,
                        )
                    pages.append(page)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return pages

    def fetch_window(self, resource: str, days: list[date]) -> list[Page]:
        """Fetch one `last_updated` filter per day, in order: how the daily increment works."""
        pages: list[Page] = []
        for day in days:
            day_pages = self.fetch(resource, last_updated=day)
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

    def _fetch_page(
        self, resource: str, number: int, last_updated: date | None
    ) -> tuple[Page | None, int]:
        """One page and the page count it announces; `(None, 0)` for a 202."""
        url = f"{self.base_url}{resource}"
        params: dict[str, str] = {"page": str(number)}
        if last_updated is not None:
            params["last_updated"] = last_updated.isoformat()
        describe = f"tascomi {resource} page {number}"
        if last_updated is not None:
            describe += f" (last_updated={params['last_updated']})"
        parsed: dict[str, Any] = {}

        def validate(response: requests.Response) -> str | None:
            """A usable page is a JSON array of objects (page 1 also needs paging headers)."""
            if response.status_code == 202:
                return None
            try:
                body = json_body.loads(response.content)
            except ValueError:
                return "body is not JSON"
            if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
                return "body is not a JSON array of objects"
            if number == 1:
                count = _page_count(response.headers)
                if isinstance(count, str):
                    return count
                parsed["page_count"] = count
            parsed["records"] = body
            return None

        response = send_with_retries(
            self._session,
            "GET",
            url,
            policy=self.policy,
            describe=describe,
            headers=self._headers,
            params=params,
            sleep=self._sleep,
            log=self._log,
            validate=validate,
        )
        if response.status_code == 202:
            return None, 0
        records: list[dict] = parsed["records"]
        for record in records:
            for field in DROPPED_FIELDS:
                record.pop(field, None)
        page = Page(
            number=number,
            url=f"{url}?{urlencode(params)}",
            status=response.status_code,
            records=records,
        )
        return page, parsed.get("page_count", 0)

    def _headers(self) -> dict[str, str]:
        """Fresh auth headers: the hash is only valid for the current London minute."""
        return auth_headers(self._public_key, self._private_key, self._clock())


def _page_count(headers: Any) -> int | str:
    """Pages announced by page 1, or the reason the paging headers are unusable."""
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
    if total == 0:
        return 1
    return -(-total // per_page)
