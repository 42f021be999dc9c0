"""The Tascomi simulator behaves like the real API over a real socket.

These tests talk to it with plain ``requests`` and their own copy of the auth hash, so they pin
the wire contract the client is written against, not the simulator's internals.
"""

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import TascomiTable, load_tables
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

LONDON = ZoneInfo("Europe/London")
PUBLIC, PRIVATE = "sim-public-key", "sim-private-key"
EPOCH = date(2021, 9, 1)
PAGE_SIZE = 40
VALID = {
    "integer": re.compile(r"^\d+$"),
    "long": re.compile(r"^\d+$"),
    "float": re.compile(r"^\d+\.\d+$"),
    "double": re.compile(r"^\d+\.\d+$"),
    "boolean": re.compile(r"^[tf]$"),
    "timestamp": re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def x_hash(public: str, private: str, moment: datetime) -> str:
    minute = moment.astimezone(LONDON).strftime("%Y%m%d%H%M")
    token = hashlib.sha256((public + minute).encode()).hexdigest()
    digest = hmac.new(private.encode(), token.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def auth(public: str = PUBLIC, private: str = PRIVATE, skew_minutes: int = 0) -> dict[str, str]:
    moment = datetime.now(UTC) + timedelta(minutes=skew_minutes)
    return {"X-Public": public, "X-Hash": x_hash(public, private, moment)}


@pytest.fixture(scope="module")
def tables() -> list[TascomiTable]:
    return load_tables()


@pytest.fixture(scope="module")
def catalogue() -> ColumnTypeCatalogue:
    return ColumnTypeCatalogue.load()


@pytest.fixture(scope="module")
def server(
    tables: list[TascomiTable], catalogue: ColumnTypeCatalogue
) -> Iterator[TascomiSimulator]:
    with TascomiSimulator(tables, catalogue, page_size=PAGE_SIZE, seed=7) as simulator:
        yield simulator


@pytest.fixture
def sim(server: TascomiSimulator) -> Iterator[TascomiSimulator]:
    """The shared server, reset to a fixed now with no faults for each test."""
    server.set_now(london(2021, 9, 20, 12))
    server.clear_faults()
    server.latency = 0.0
    yield server
    server.clear_faults()
    server.latency = 0.0


def get(
    sim: TascomiSimulator,
    resource: str,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    **params: object,
) -> requests.Response:
    url = f"{sim.base_url}{resource}"
    return requests.get(
        url, params=params, headers=auth() if headers is None else headers, timeout=timeout
    )


def fetch_all(sim: TascomiSimulator, resource: str, **params: object) -> list[dict]:
    """Every record across all pages, checking the paging headers on the way."""
    first = get(sim, resource, page=1, **params)
    if first.status_code == 202:
        return []
    assert first.status_code == 200
    total = int(first.headers["X-Number-Of-Results"])
    per_page = int(first.headers["X-Results-Per-Page"])
    assert per_page == PAGE_SIZE
    pages = -(-total // per_page)
    records = first.json()
    for number in range(2, pages + 1):
        response = get(sim, resource, page=number, **params)
        assert response.status_code == 200
        assert int(response.headers["X-Number-Of-Results"]) == total
        body = response.json()
        assert len(body) == (per_page if number < pages else total - per_page * (pages - 1))
        records += body
    assert len(records) == total
    return records


# --- auth ------------------------------------------------------------------------------------


def test_test_hash_matches_the_documented_vector() -> None:
    moment = datetime(2021, 9, 16, 13, 10, tzinfo=LONDON)
    assert x_hash("test-public-key", "test-private-key", moment) == (
        "NDcxYjcwODI0N2RhZGRhZmZmMzBlOGI2ZDA0MzQ5ZTliNTRkNWZkZDc0NDAzYjQ1NGM3N2FhMjc5NjBhMWIwMg=="
    )


def test_auth_accepts_current_minute_and_small_skew(sim: TascomiSimulator) -> None:
    assert get(sim, "wards", page=1).status_code == 200
    assert get(sim, "wards", headers=auth(skew_minutes=-1), page=1).status_code == 200
    assert get(sim, "wards", headers=auth(skew_minutes=1), page=1).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth(public="someone-else"),
        auth(private="wrong-private-key"),
        auth(skew_minutes=-10),
        {"X-Public": PUBLIC, "X-Hash": "not-a-hash"},
    ],
)
def test_auth_rejects_bad_credentials(sim: TascomiSimulator, headers: dict[str, str]) -> None:
    response = get(sim, "wards", headers=headers, page=1)
    assert response.status_code == 401
    assert "error" in response.json()


def test_unknown_resource_is_404(sim: TascomiSimulator) -> None:
    response = get(sim, "no_such_table", page=1)
    assert response.status_code == 404
    assert "no_such_table" in response.json()["error"]


# --- paging and filters ----------------------------------------------------------------------


def test_pages_partition_the_full_result_and_match_state(sim: TascomiSimulator) -> None:
    records = fetch_all(sim, "applications")
    ids = [int(r["id"]) for r in records]
    assert len(ids) > PAGE_SIZE * 3
    assert ids == sorted(set(ids)), "pages must be ordered by id with no duplicates"
    assert records == sim.state("applications", sim.now)


def test_page_beyond_last_is_empty_and_no_match_is_202(sim: TascomiSimulator) -> None:
    response = get(sim, "wards", page=99)
    assert response.status_code == 200
    assert response.json() == []
    for day in ("2000-01-01", "2030-01-01"):
        response = get(sim, "applications", page=1, last_updated=day)
        assert response.status_code == 202
        assert response.content == b""


def test_bad_page_parameter_is_400(sim: TascomiSimulator) -> None:
    assert get(sim, "wards", page="x").status_code == 400
    assert get(sim, "wards", page=0).status_code == 400
    assert get(sim, "wards", page=1, last_updated="20210901").status_code == 400


def test_last_updated_filter_selects_by_london_date(sim: TascomiSimulator) -> None:
    day = "2021-09-10"
    filtered = fetch_all(sim, "documents", last_updated=day)
    expected = [r for r in sim.state("documents", sim.now) if r["last_updated"][:10] == day]
    assert filtered == expected
    assert len(filtered) >= 2  # ~5 creations and ~5 updates a day at scale 1


def test_only_versions_before_now_exist(sim: TascomiSimulator) -> None:
    now = london(2021, 9, 14, 13, 30)
    sim.set_now(now)
    stamps = [r["last_updated"] for r in fetch_all(sim, "contacts")]
    assert max(stamps) < "2021-09-14 13:30:00"
    morning = fetch_all(sim, "contacts", last_updated="2021-09-14")
    sim.set_now(london(2021, 9, 15))
    whole_day = fetch_all(sim, "contacts", last_updated="2021-09-14")
    assert len(whole_day) > len(morning)
    assert any(r["last_updated"] >= "2021-09-14 13:30:00" for r in whole_day)


def test_records_evolve_day_by_day(sim: TascomiSimulator) -> None:
    early, late = london(2021, 9, 6), london(2021, 9, 12)
    sim.set_now(early)
    before = {r["id"]: r for r in sim.state("applications", early)}
    after = {r["id"]: r for r in sim.state("applications", late)}
    assert len(after) > len(before), "new records are created every day"
    updated = [i for i in before if after[i]["last_updated"] != before[i]["last_updated"]]
    assert updated, "some existing records are updated every day"
    record_id = updated[0]
    old_day = before[record_id]["last_updated"][:10]
    new_day = after[record_id]["last_updated"][:10]
    assert old_day < new_day
    assert after[record_id] != before[record_id]

    ids_on = lambda day: {r["id"] for r in fetch_all(sim, "applications", last_updated=day)}  # noqa: E731
    assert record_id in ids_on(old_day)
    sim.set_now(late)
    assert record_id in ids_on(new_day)
    assert record_id not in ids_on(old_day), "an updated record leaves its old day's filter"


def test_same_seed_gives_identical_data(
    tables: list[TascomiTable], catalogue: ColumnTypeCatalogue
) -> None:
    as_of = london(2021, 9, 8)
    first = TascomiSimulator(tables, catalogue, seed=3)
    second = TascomiSimulator(tables, catalogue, seed=3)
    other = TascomiSimulator(tables, catalogue, seed=4)
    for resource in ("applications", "documents", "wards", "pre_applications"):
        assert first.state(resource, as_of) == second.state(resource, as_of)
    assert first.state("applications", as_of) != other.state("applications", as_of)
    integer_scale = TascomiSimulator(tables, catalogue, seed=3, scale=1)
    assert integer_scale.state("fees", as_of) == first.state("fees", as_of)


def test_state_is_the_same_however_the_log_was_grown(
    tables: list[TascomiTable], catalogue: ColumnTypeCatalogue
) -> None:
    """Lazy day-by-day generation must not depend on the order of requests."""
    stepwise = TascomiSimulator(tables, catalogue, seed=1)
    for day in range(1, 20):
        stepwise.state("fees", london(2021, 9, 1) + timedelta(days=day))
    at_once = TascomiSimulator(tables, catalogue, seed=1)
    as_of = london(2021, 9, 20)
    assert stepwise.state("fees", as_of) == at_once.state("fees", as_of)


# --- data shape ------------------------------------------------------------------------------


def test_applications_shape(sim: TascomiSimulator, catalogue: ColumnTypeCatalogue) -> None:
    records = sim.state("applications", sim.now)
    assert all(740 <= len(r) <= 760 for r in records)
    typed = catalogue.columns("applications")
    assert set(typed) <= set(records[0])
    references = [r["application_reference_number"] for r in records]
    assert sum(ref is not None for ref in references) >= 0.99 * len(records)
    images = [r["gis_map_image_base64"] for r in records if r["gis_map_image_base64"]]
    assert images and all(len(image) > 2000 for image in images)
    base64.b64decode(images[0], validate=True)


def test_every_table_has_its_catalogue_columns_with_valid_text(
    sim: TascomiSimulator, tables: list[TascomiTable], catalogue: ColumnTypeCatalogue
) -> None:
    for table in tables:
        records = sim.state(table.name, sim.now)
        assert records, table.name
        typed = catalogue.columns(table.name)
        if not typed:
            assert len(records[0]) >= 10, table.name
        for record in records[:50]:
            assert VALID["integer"].match(record["id"])
            assert VALID["timestamp"].match(record["last_updated"])
            assert set(typed) <= set(record), table.name
            for column, kind in typed.items():
                value = record[column]
                assert value is None or VALID[kind].match(value), (table.name, column, value)
            assert set(record) - set(typed), f"{table.name} has no plain string columns"
    consultations = sim.state("public_consultations", sim.now)
    assert all(r["document_id"] is not None for r in consultations)
    documents = sim.state("documents", sim.now)
    assert all(isinstance(r["file_details"], dict) for r in documents)


def test_some_values_are_null(sim: TascomiSimulator) -> None:
    record_values = [v for r in sim.state("applications", sim.now) for v in r.values()]
    nulls = sum(v is None for v in record_values)
    assert 0.05 < nulls / len(record_values) < 0.6


def test_last_updated_is_london_local_time(
    tables: list[TascomiTable], catalogue: ColumnTypeCatalogue
) -> None:
    """Just after midnight in BST the UTC date is still yesterday; the API shows London."""
    simulator = TascomiSimulator(tables, catalogue, epoch=date(2022, 6, 1))
    table = simulator.data.table("emails")
    table.matching(london(2022, 6, 30).timestamp())
    log = table.log
    for position in range(len(log.ts)):
        utc = datetime.fromtimestamp(log.ts[position], UTC)
        shown = table.render(log.ids[position], log.versions[position], log.ts[position])
        assert shown["last_updated"] == utc.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S")
        if log.days[position] >= 0:
            expected_day = date(2022, 6, 1) + timedelta(days=log.days[position])
            assert shown["last_updated"][:10] == expected_day.isoformat()


def test_bad_value_rate_makes_some_typed_values_unparseable(
    tables: list[TascomiTable], catalogue: ColumnTypeCatalogue
) -> None:
    simulator = TascomiSimulator(tables, catalogue, bad_value_rate=0.2)
    typed = catalogue.columns("fees")
    bad = 0
    for record in simulator.state("fees", london(2021, 9, 10)):
        assert VALID["integer"].match(record["id"])
        assert VALID["timestamp"].match(record["last_updated"])
        bad += sum(
            1
            for column, kind in typed.items()
            if record[column] is not None and not VALID[kind].match(record[column])
        )
    assert bad > 20


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_error_faults_fire_then_clear(sim: TascomiSimulator, kind: str) -> None:
    sim.inject(kind, resource="wards", times=2)
    assert get(sim, "appeal_types", page=1).status_code == 200  # other resources unaffected
    for _ in range(2):
        response = get(sim, "wards", page=1)
        assert response.status_code == int(kind)
        assert "error" in response.json()
    assert get(sim, "wards", page=1).status_code == 200


def test_429_carries_retry_after(sim: TascomiSimulator) -> None:
    sim.inject("429", retry_after=7)
    response = get(sim, "wards", page=1)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    sim.inject("429")
    assert get(sim, "wards", page=1).headers["Retry-After"] == "1"


def test_fault_can_target_one_page(sim: TascomiSimulator) -> None:
    sim.inject("503", resource="applications", page=2)
    assert get(sim, "applications", page=1).status_code == 200
    assert get(sim, "applications", page=2).status_code == 503
    assert get(sim, "applications", page=2).status_code == 200


def test_slow_fault_and_latency_delay_the_answer(sim: TascomiSimulator) -> None:
    sim.inject("slow", delay=0.4)
    started = time.monotonic()
    assert get(sim, "wards", page=1).status_code == 200
    assert time.monotonic() - started >= 0.4
    with pytest.raises(requests.Timeout):
        sim.inject("slow", delay=0.6)
        get(sim, "wards", page=1, timeout=0.2)
    sim.latency = 0.2
    started = time.monotonic()
    assert get(sim, "wards", page=1).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_truncated_fault_breaks_the_body(sim: TascomiSimulator) -> None:
    sim.inject("truncated", resource="applications")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        get(sim, "applications", page=1)
    assert get(sim, "applications", page=1).status_code == 200


def test_drop_fault_closes_without_answer(sim: TascomiSimulator) -> None:
    sim.inject("drop")
    with pytest.raises(requests.ConnectionError):
        get(sim, "wards", page=1)
    assert get(sim, "wards", page=1).status_code == 200


def test_not_json_fault_answers_html(sim: TascomiSimulator) -> None:
    sim.inject("not_json")
    response = get(sim, "wards", page=1)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_clear_faults_and_unknown_kind(sim: TascomiSimulator) -> None:
    sim.inject("500", times=5)
    sim.clear_faults()
    assert get(sim, "wards", page=1).status_code == 200
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.inject("teapot")


def test_request_log_records_resource_params_and_status(sim: TascomiSimulator) -> None:
    start = len(sim.request_log)
    on_day = [r for r in sim.state("wards", sim.now) if r["last_updated"].startswith("2021-09-10")]
    get(sim, "wards", page=2, last_updated="2021-09-10")
    get(sim, "nope", page=1)
    sim.inject("drop")
    with pytest.raises(requests.ConnectionError):
        get(sim, "wards", page=1)
    assert sim.request_log[start:] == [
        ("wards", {"page": "2", "last_updated": "2021-09-10"}, 200 if on_day else 202),
        ("nope", {"page": "1"}, 404),
        ("wards", {"page": "1"}, None),
    ]


def test_real_time_is_the_default_now(
    tables: list[TascomiTable], catalogue: ColumnTypeCatalogue
) -> None:
    simulator = TascomiSimulator(tables, catalogue, scale=0.2)
    assert abs((simulator.now - datetime.now(UTC)).total_seconds()) < 5
    simulator.set_now(datetime(2021, 9, 5, 12))  # naive means UTC
    assert simulator.now == datetime(2021, 9, 5, 12, tzinfo=UTC)
    simulator.set_now(None)
    assert abs((simulator.now - datetime.now(UTC)).total_seconds()) < 5


def test_planted_versions_are_served_at_their_exact_time(catalogue: ColumnTypeCatalogue) -> None:
    appeals = [TascomiTable("appeals")]
    with TascomiSimulator(appeals, catalogue, seed=7, page_size=PAGE_SIZE) as own:
        own.set_now(london(2021, 9, 10, 3))
        untouched = {r["id"]: r for r in own.state("appeals", own.now)}
        existing = next(i for i, r in untouched.items() if r["last_updated"] < "2021-09-10")
        created = own.plant("appeals", london(2021, 9, 9, 23, 30))
        own.plant("appeals", london(2021, 9, 10, 1), existing)
        own.plant("appeals", london(2021, 9, 10, 1), created)
        after = {r["id"]: r for r in own.state("appeals", own.now)}
        assert set(after) == set(untouched) | {created}
        assert all(after[i] == r for i, r in untouched.items() if i != existing)
        served = {r["id"]: r for r in fetch_all(own, "appeals", last_updated="2021-09-10")}
        assert served[created] == after[created]
        assert served[created]["last_updated"] == "2021-09-10 01:00:00"
        assert served[existing]["last_updated"] == "2021-09-10 01:00:00"
        assert served[existing] != untouched[existing]
        before_edit = {r["id"]: r for r in own.state("appeals", london(2021, 9, 10))}
        assert before_edit[created]["last_updated"] == "2021-09-09 23:30:00"
        assert before_edit[existing] == untouched[existing]
        with pytest.raises(KeyError):
            own.plant("appeals", london(2021, 9, 10, 1), "999999")


# --- resources the table list does not ingest ----------------------------------------------


def test_every_resource_the_api_has_is_served_whether_ingested_or_not(
    catalogue: ColumnTypeCatalogue,
) -> None:
    """The real API serves every resource it has, whatever we ingest: a simulator configured
    with one table still serves every catalogued table (paused ones such as ``site_visits``
    included) and the paused names it is given; a name the API does not have is 404."""
    only = [TascomiTable("wards", cadence="weekly")]
    with TascomiSimulator(
        only, catalogue, seed=7, page_size=PAGE_SIZE, more_resources=["on_hold"]
    ) as few:
        few.set_now(london(2021, 9, 20, 12))
        for resource in ("wards", "applications", "site_visits", "action_types", "on_hold"):
            assert get(few, resource, page=1).status_code == 200, resource
        assert get(few, "no_such_table", page=1).status_code == 404
        visits = fetch_all(few, "site_visits")
        assert set(catalogue.columns("site_visits")) <= set(visits[0])
        assert len(fetch_all(few, "on_hold")[0]) >= 10  # untyped: plain string columns


def test_an_unconfigured_resource_serves_what_it_will_serve_once_configured(
    catalogue: ColumnTypeCatalogue,
) -> None:
    """So `probe` and the first run of a table added after it see the same records; a lookup
    resource (by its name) is simulated as a slowly changing one, as its cadence hint says."""
    as_of = london(2021, 10, 20)
    bare = TascomiSimulator([], catalogue, seed=7)
    configured = TascomiSimulator(
        [TascomiTable("site_visits"), TascomiTable("action_types", cadence="weekly")],
        catalogue,
        seed=7,
    )
    for resource in ("site_visits", "action_types"):
        assert bare.state(resource, as_of) == configured.state(resource, as_of), resource
    assert len(bare.state("action_types", as_of)) <= 25
    assert len(bare.state("site_visits", as_of)) > 100
