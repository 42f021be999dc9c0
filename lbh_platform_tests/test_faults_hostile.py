"""Fault injection, hostile servers (issue 24): a redirect elsewhere, a lying page count, a
stalled body, an unbounded body, deep JSON. Each run ends in one clear error naming table,
partition and page; nothing is published and no credential leaves the configured origin.
"""

import json
import threading
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlencode

import pytest

from lbh_platform.cli import probe as probe_cli
from lbh_platform.common.http import ApiRequestError, RetryPolicy
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.client import TascomiClient
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform_tests.hostile_api import (
    Answer,
    Handler,
    HostileServer,
    Seen,
    announcing,
    dripping,
    nested,
    records,
    redirect_to,
    serving,
    tascomi_pages,
)

pytestmark = pytest.mark.faults
DAY = date(2024, 3, 6)
PARTITION = "20240306"
TABLE = TascomiTable("appeals")
PUBLIC, PRIVATE = "hostile-test-public-key", "hostile-test-private-key-never-sent"
FAST = RetryPolicy(max_attempts=2, backoff_base=0.0, read_timeout=5.0)
SERVED = records(30, day="2024-03-06")


@pytest.fixture()
def lake(tmp_path) -> Lake:
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def client(server: HostileServer, **kwargs) -> TascomiClient:
    kwargs.setdefault("policy", FAST)
    kwargs.setdefault("max_pages_in_flight", 3)
    return TascomiClient(server.base_url, PUBLIC, PRIVATE, **kwargs)


PAGES = tascomi_pages(SERVED, 10)


def page_two(bad: Answer, good: Answer = PAGES) -> Answer:
    """Pages as ``good`` serves them, but page 2 as ``bad`` does."""

    def answer(handler: Handler, seen: Seen) -> None:
        (bad if seen.page == 2 else good)(handler, seen)

    return answer


def ingest_fails(lake: Lake, server: HostileServer, **kwargs) -> str:
    """The stage's error message; asserts nothing was published."""
    with client(server, **kwargs) as api, pytest.raises(ApiRequestError) as caught:
        stages.ingest(lake, TABLE, DAY, api.fetch)
    assert tascomi_table(lake, "api_response", "appeals").partitions() == []
    return str(caught.value)


def credentials_in(server: HostileServer) -> bool:
    return any("X-Public" in s.headers or "X-Hash" in s.headers for s in server.seen)


@pytest.fixture()
def elsewhere() -> Iterator[HostileServer]:
    """Another host serving plausible data, hoping for credentials."""
    with serving(tascomi_pages(records(30, start=900, day="2024-03-06"), 10)) as server:
        yield server


# ----------------------------------------------------------------------------- redirects


def test_a_redirect_to_another_host_fails_the_run_and_sends_no_credentials_there(
    lake, elsewhere, faults
):
    follow = redirect_to(lambda seen: f"{elsewhere.base_url}appeals?{urlencode(seen.query)}")
    with serving(page_two(follow)) as origin:
        message = ingest_fails(lake, origin)
    leaked = credentials_in(elsewhere)
    named = all(s in message for s in ("appeals", PARTITION, "page 2", elsewhere.host))
    faults.record(survived=named and not leaked and not elsewhere.seen)
    assert elsewhere.seen == [] and not leaked
    assert named, message


@pytest.fixture()
def probe_env(monkeypatch) -> Iterator[None]:
    monkeypatch.delenv("LBH_TASCOMI_TABLES_FILE", raising=False)
    monkeypatch.delenv("LBH_TASCOMI_COLUMN_TYPES_FILE", raising=False)
    monkeypatch.delenv("TASCOMI_SECRET_ID", raising=False)
    monkeypatch.setenv("TASCOMI_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", PRIVATE)
    yield


def probe(monkeypatch, capsys, server: HostileServer) -> tuple[int, str]:
    monkeypatch.setenv("TASCOMI_API_URL", server.base_url)
    status = probe_cli.run(["street_works"])
    out, err = capsys.readouterr()
    return status, out + err


def test_probe_refuses_a_redirect_to_another_host_in_one_line(
    probe_env, monkeypatch, capsys, elsewhere, faults
):
    follow = redirect_to(lambda seen: f"{elsewhere.base_url}street_works?page=1")
    with serving(follow) as origin:
        status, output = probe(monkeypatch, capsys, origin)
    one_line = output.count("\n") <= 1 and "Traceback" not in output
    faults.record(survived=status == 1 and one_line and not elsewhere.seen)
    assert status == 1 and one_line, output
    assert output.startswith("probe: ") and elsewhere.host in output
    assert elsewhere.seen == []


# ----------------------------------------------------------------------------- lying counts


def test_a_page_count_past_the_limit_is_refused_after_page_one(lake, faults):
    # 1,000,000 announced at one record a page: a million requests if believed.
    with serving(tascomi_pages(SERVED, 1, announced=1_000_000)) as origin:
        message = ingest_fails(lake, origin)
        asked = origin.pages()
    faults.record(survived=asked == [1] and "1,000,000" in message)
    assert asked == [1]
    assert "1,000,000 record(s) on 1,000,000 page(s)" in message and "page 1" in message
    assert "100,000 pages" in message and PARTITION in message


def test_a_count_far_past_what_the_table_held_is_refused_after_page_one(faults):
    with (
        serving(tascomi_pages(SERVED, 10, announced=900_000)) as origin,
        client(origin) as api,
        pytest.raises(ApiRequestError) as caught,
    ):
        api.fetch("appeals", DAY, held_records=2_000)
    message = str(caught.value)
    faults.record(survived=origin.pages() == [1])
    assert origin.pages() == [1]
    assert "900,000 record(s)" in message and "2,000" in message and "page 1" in message


def test_empty_pages_in_a_row_stop_the_run_with_few_requests(lake, faults):
    # 50,000 announced, 10 a page; only the first 3 pages hold records.
    served = records(25, day="2024-03-06")
    with serving(tascomi_pages(served, 10, announced=50_000)) as origin:
        message = ingest_fails(lake, origin, max_empty_pages=4)
        asked = origin.pages()
    with client(origin) as api:
        window = api.pages_ahead
    bounded = len(asked) <= 3 + 2 * 4 + window + 6
    faults.record(survived=bounded and "4 empty pages in a row" in message)
    assert "pages 4..7" in message and "4 empty pages in a row" in message, message
    assert PARTITION in message and bounded, len(asked)


def test_pages_are_scheduled_a_bounded_window_ahead(faults):
    """While page 2 is held back, later pages are asked for only up to the window."""
    served = records(500, day="2024-03-06")
    holding, ran_ahead = threading.Event(), threading.Event()
    pages = tascomi_pages(served, 1)
    window: list[int] = []

    def answer(handler: Handler, seen: Seen) -> None:
        if holding.is_set() and seen.page > window[0] + 1:
            ran_ahead.set()
        if seen.page == 2:
            holding.set()
            ran_ahead.wait(1.0)  # cut short only if the client runs past the window
            holding.clear()
        pages(handler, seen)

    with serving(answer) as origin, client(origin, max_pages_in_flight=4) as api:
        window.append(api.pages_ahead)
        got = api.fetch("appeals")
    faults.record(survived=not ran_ahead.is_set() and len(got) == 500)
    assert not ran_ahead.is_set()
    assert [page.number for page in got] == list(range(1, 501))


# ----------------------------------------------------------------------------- stalls, sizes


def test_a_body_dripped_within_the_read_timeout_fails_at_the_deadline(lake, faults):
    policy = RetryPolicy(max_attempts=2, backoff_base=0.0, read_timeout=5.0, deadline=0.5)
    drip = dripping(json.dumps(SERVED[10:20]).encode(), every=0.1)
    with serving(page_two(drip)) as origin:
        message = ingest_fails(lake, origin, policy=policy)
    named = all(s in message for s in ("appeals", PARTITION, "page 2", "request deadline"))
    faults.record(survived=named)
    assert named, message


def test_a_body_over_the_size_limit_fails_clearly_without_being_read(lake, faults):
    policy = RetryPolicy(max_attempts=3, backoff_base=0.0, max_body_bytes=5_000_000)
    with serving(page_two(announcing(2_000_000_000))) as origin:
        message = ingest_fails(lake, origin, policy=policy)
        asked = origin.pages()
    named = all(s in message for s in ("appeals", PARTITION, "page 2", "5,000,000-byte limit"))
    faults.record(survived=named and asked.count(2) == 1)
    assert named, message
    assert asked.count(2) == 1


# ----------------------------------------------------------------------------- deep JSON


def deep(page: int, text: bytes) -> bytes:
    return nested(100_000) if page == 2 else text


def test_a_page_of_deep_json_fails_clearly_naming_table_and_page(lake, faults):
    with serving(tascomi_pages(SERVED, 10, body=deep)) as origin:
        try:
            message = ingest_fails(lake, origin)
        except RecursionError:
            message = "RecursionError"
    named = all(s in message for s in ("appeals", PARTITION, "page 2", "nested too deeply"))
    faults.record(survived=named)
    assert named, message
    assert "\n" not in message and len(message) < 1000


def test_probe_reports_deep_json_in_one_line(probe_env, monkeypatch, capsys, faults):
    with serving(tascomi_pages(SERVED, 10, body=lambda page, text: nested(100_000))) as origin:
        status, output = probe(monkeypatch, capsys, origin)
    one_line = output.count("\n") <= 1 and "Traceback" not in output
    faults.record(survived=status == 1 and one_line)
    assert status == 1 and one_line, output[-2000:]
    assert "street_works page 1" in output and "nested too deeply" in output
