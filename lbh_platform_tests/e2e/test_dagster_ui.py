"""The Dagster UI as users use it, end to end in headless Chromium.

Against a real webserver and daemon (``make dev`` in a sandbox, with the simulators):

1. the asset graph shows every group (Tascomi, Alloy, Tenure when present) with its stages;
2. a partition backfill of one Tascomi table's four stages and its history over four recent
   days is launched by clicking (Materialize all… → partition range → Launch backfill),
   completes in one run, and builds the snapshots in date order, each on the one before;
3. a duplicate planted in the next day's raw partition fails the blocking
   ``id_import_date_unique`` check when ``parsed`` + ``increment`` are launched from the UI, and
   ``increment`` is not materialised for that day;
4. the checks pages show the per-partition results, including that failure, and each check's
   Partitions tab shows every backfilled day as passed (the planted day as failed), never
   Missing; every backfilled day's materialisation has its own row count; the snapshot's
   Checks tab has its freshness check;
5. the schedules and sensors are listed on the Automation page and a schedule switches on;
6. the alert sensors posted the blocking failure (and the overdue snapshot) to a loopback
   webhook, with a link to the run in this UI.

Screenshots: the Tascomi group's graph (after all that), the backfill, the checks page, a
check's Partitions tab, the Automation page. Each step prints its duration with ``-s``; on
failure the page is saved to ``$TMPDIR/lbh-e2e-failure.png`` and the server log to
``$TMPDIR/lbh-e2e-dev.log``.

Screenshots go to a temporary folder; ``LBH_E2E_SCREENSHOTS=docs/screenshots`` refreshes
the documentation's images.
"""

import json
import re
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from playwright.sync_api import Page, expect

from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.e2e.harness import SCREENSHOTS, DagsterDev, wait_for
from lbh_platform_tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

LONDON = ZoneInfo("Europe/London")
TABLE = "appeals"
STAGES = ("api_response", "parsed", "increment", "snapshot")
SCHEDULE = "tascomi_daily_0300"
UI_TIMEOUT = 60_000  # ms: generous, the UI polls and a 2-core machine is busy running assets


def key(stage: str, table: str = TABLE) -> list[str]:
    return ["tascomi", stage, f"{table}_{stage}"]


def yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


@contextmanager
def step(name: str):
    """Report each step's duration (shown with ``-s`` or on failure)."""
    started = time.monotonic()
    yield
    print(f"e2e step {name!r}: {time.monotonic() - started:.0f}s")


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover highlight
    page.screenshot(path=str(SCREENSHOTS / name))


def test_dagster_ui_end_to_end(dagster_dev: DagsterDev, page: Page, webhook: WebhookReceiver):
    today = datetime.now(LONDON).date()  # the newest partition (end_offset=1)
    # Older than the newest partition, so declarative automation (latest partition only)
    # never runs anything of its own in these days.
    days = [today - timedelta(days=n) for n in (5, 4, 3, 2)]
    planted_day = today - timedelta(days=1)
    lake = Lake({"raw": str(dagster_dev.raw_zone), "refined": str(dagster_dev.refined_zone)})

    with step("asset graph"):
        asset_graph_shows_groups_and_stages(dagster_dev, page)
    with step("backfill"):
        backfill_from_the_ui_builds_snapshots_in_order(dagster_dev, page, lake, days)
    with step("planted failure"):
        planted_duplicate_blocks_increment(dagster_dev, page, lake, planted_day)
    with step("checks pages"):
        checks_pages_show_results_per_partition(dagster_dev, page, days, planted_day)
    with step("check partitions"):
        check_partitions_tab_shows_every_backfilled_day(dagster_dev, page, days, planted_day)
    with step("automation"):
        schedules_and_sensors_are_listed_and_switch_on(dagster_dev, page)
    with step("alerts"):
        alerts_reach_the_webhook(dagster_dev, webhook, planted_day)
    tascomi_graph_screenshot(dagster_dev, page)


# -- 1. the asset graph ------------------------------------------------------------------------


def asset_graph_shows_groups_and_stages(dev: DagsterDev, page: Page) -> None:
    groups: dict[tuple[str, str], list[list[str]]] = {}  # (location, group): asset keys
    for node in dev.asset_nodes():
        where = (node["repository"]["location"]["name"], node["groupName"])
        groups.setdefault(where, []).append(node["assetKey"]["path"])
    names = {group for _, group in groups}
    assert {"tascomi", "alloy"} <= names, f"asset groups: {sorted(names)}"
    for (_, group), paths in groups.items():
        if group == "tascomi":
            tables = {path[2].removesuffix(f"_{path[1]}") for path in paths}
            for table in tables:
                stages = {path[1] for path in paths if path[2] == f"{table}_{path[1]}"}
                assert stages == {*STAGES, "history"}, (
                    f"tascomi {table} has stages {sorted(stages)}"
                )
        elif group == "alloy":
            assert {path[1] for path in paths} == {"api_response", "snapshot", "history"}

    # The whole graph: one box per group (tascomi, alloy and, once it lands, tenure).
    page.goto(f"{dev.url}/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible(timeout=UI_TIMEOUT)
    # Hide the asset list beside the graph (not the navigation), so names are the graph's.
    toggles = page.locator("button", has=page.locator("[aria-label=panel_show_right]"))
    toggles.filter(has_not_text="Hide navigation").click(timeout=UI_TIMEOUT)
    for group in names:
        expect(page.get_by_text(group, exact=True).first).to_be_visible(timeout=UI_TIMEOUT)
    # Each group's own graph (fitted to the window): every asset is a node linking to its
    # page, so every stage of every table is there.
    for (location, group), paths in groups.items():
        page.goto(f"{dev.url}/locations/{location}/asset-groups/{group}")
        for path in paths:
            node = page.locator(f'a[href^="/assets/{"/".join(path)}?"]').first
            expect(node).to_be_attached(timeout=UI_TIMEOUT)


def tascomi_graph_screenshot(dev: DagsterDev, page: Page) -> None:
    """The Tascomi group's graph after the backfill and the planted failure (for the README)."""
    page.goto(f"{dev.url}/locations/lbh_platform/asset-groups/tascomi")
    for stage in STAGES:
        expect(
            page.locator(f'a[href^="/assets/tascomi/{stage}/{TABLE}_{stage}?"]').first
        ).to_be_visible(timeout=UI_TIMEOUT)
    page.wait_for_timeout(1_000)  # let the graph finish zooming to fit
    shoot(page, "asset-graph.png")


# -- 2. a backfill launched from the UI -------------------------------------------------------


def select_assets(dev: DagsterDev, page: Page, query: str, count: int) -> None:
    """Lineage page → type an asset selection → Materialize… (the launch dialog)."""
    page.goto(f"{dev.url}/asset-groups")
    page.locator(".CodeMirror").first.click(timeout=UI_TIMEOUT)
    page.keyboard.type(query)
    page.keyboard.press("Enter")
    # "Materialize all…" for several assets, "Materialize…" for one.
    page.get_by_role("button", name=re.compile(r"Materialize( all)?…$")).click()
    title = f"materialize {count} assets" if count > 1 else "materialize tascomi / "
    expect(page.get_by_role("dialog")).to_contain_text(title, timeout=UI_TIMEOUT)


def choose_partitions(page: Page, text: str, count: int) -> None:
    dialog = page.get_by_role("dialog")
    partitions = dialog.get_by_placeholder("No matching partitions")
    partitions.fill(text)
    partitions.press("Enter")
    label = "1 partition" if count == 1 else f"{count} partitions"
    expect(dialog).to_contain_text(label)


def backfill_from_the_ui_builds_snapshots_in_order(
    dev: DagsterDev, page: Page, lake: Lake, days: list[date]
) -> None:
    select_assets(dev, page, f'key:"tascomi/*/{TABLE}_*"', count=len(STAGES) + 1)  # + history
    choose_partitions(page, f"[{days[0].isoformat()}...{days[-1].isoformat()}]", len(days))
    page.get_by_role("dialog").get_by_role("button", name="Launch backfill").click()
    toast = page.get_by_text(re.compile(r"Created backfill \w+"))
    expect(toast).to_be_visible(timeout=UI_TIMEOUT)
    backfill_id = re.search(r"Created backfill (\w+)", toast.inner_text()).group(1)
    page.get_by_text("View", exact=True).click()
    expect(page).to_have_url(re.compile(f"/runs/b/{backfill_id}"), timeout=UI_TIMEOUT)

    backfill = dev.wait_for_backfill(backfill_id)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert backfill["partitionNames"] == [d.isoformat() for d in days]
    # One ordered run for the whole range (single-run backfill policy), not one per day.
    assert len(backfill["runs"]) == 1, backfill["runs"]
    run_id = backfill["runs"][0]["runId"]

    page.reload()
    expect(page.get_by_text("Succeeded").first).to_be_visible(timeout=UI_TIMEOUT)
    for stage in (*STAGES, "history"):
        expect(page.get_by_text(f"tascomi / {stage} / {TABLE}_{stage}").first).to_be_visible()
    expect(page.get_by_text("100% completed")).to_have_count(len(STAGES) + 1, timeout=UI_TIMEOUT)
    shoot(page, "backfill.png")

    # Every stage materialised each day, in date order, each day with its own row count.
    for stage in STAGES:
        assert dev.materialized_partitions(key(stage)) == [d.isoformat() for d in days], stage
        counts = dev.row_counts(key(stage))
        stored = {
            d.isoformat(): tascomi_table(lake, stage, TABLE).read(yyyymmdd(d)).num_rows
            for d in days
        }
        assert counts == stored, stage
    # The history followed each day in the same run.
    assert dev.materialized_partitions(key("history")) == [d.isoformat() for d in days]
    first_full_load = dev.row_counts(key("api_response"))
    assert len(set(first_full_load.values())) > 1, first_full_load
    # The run built the snapshots day by day, oldest first ...
    built = [
        m.split()[1]
        for m in dev.run_messages(run_id)
        if m.startswith(f"tascomi/snapshot/{TABLE}_snapshot ")
    ]
    assert built == [yyyymmdd(d) for d in days], built
    # ... each on the one before: a snapshot holds the previous snapshot's ids plus its
    # increment's (the first day is a full load).
    snapshots, increments = (
        tascomi_table(lake, "snapshot", TABLE),
        tascomi_table(lake, "increment", TABLE),
    )
    assert snapshots.partitions() == [yyyymmdd(d) for d in days]
    previous: set[str] = set()
    for day in days:
        ids = set(snapshots.read(yyyymmdd(day), columns=["id"])["id"].to_pylist())
        new = set(increments.read(yyyymmdd(day), columns=["id"])["id"].to_pylist())
        assert ids == previous | new, f"snapshot {day} is not built on the snapshot before it"
        previous = ids
    assert previous, "the snapshots are empty"


# -- 3. a planted duplicate blocks the downstream stage ---------------------------------------


def planted_duplicate_blocks_increment(dev: DagsterDev, page: Page, lake: Lake, day: date) -> None:
    # The raw partition for the day, from the asset's own page.
    before = dev.run_ids()
    page.goto(f"{dev.url}/assets/tascomi/api_response/{TABLE}_api_response")
    page.get_by_role("button", name="Materialize…").click(timeout=UI_TIMEOUT)
    choose_partitions(page, day.isoformat(), 1)
    page.get_by_role("dialog").get_by_role("button", name="Launch 1 run").click()
    run = dev.wait_for_new_run(before)
    assert run["status"] == "SUCCESS", run

    # Plant: the same record again with a different last_updated.
    raw_store = tascomi_table(lake, "api_response", TABLE)
    raw = raw_store.read(yyyymmdd(day))
    assert raw.num_rows > 0, f"the simulator served no {TABLE} records for {day}"
    record = json.loads(raw[TABLE][0].as_py())
    record["last_updated"] = "1999-01-01 00:00:00"
    column = raw.column_names.index(TABLE)
    duplicate = raw.slice(0, 1).set_column(column, TABLE, pa.array([json.dumps(record)]))
    raw_store.write(yyyymmdd(day), pa.concat_tables([raw, duplicate]))

    # parsed + increment for that day, from the lineage page.
    before = dev.run_ids()
    select_assets(
        dev,
        page,
        f'key:"tascomi/parsed/{TABLE}_parsed" or key:"tascomi/increment/{TABLE}_increment"',
        count=2,
    )
    choose_partitions(page, day.isoformat(), 1)
    page.get_by_role("dialog").get_by_role("button", name="Launch 1 run").click()
    run = dev.wait_for_new_run(before)
    assert run["status"] == "FAILURE", run
    steps = {s["stepKey"]: s["status"] for s in run["stepStats"]}
    assert steps.get(f"tascomi_{TABLE}_parsed_checks") == "FAILURE", steps
    assert f"tascomi_{TABLE}_increment" not in steps, steps  # never started
    assert any(
        m.startswith(f"Dependencies for step tascomi_{TABLE}_increment failed")
        for m in dev.run_messages(run["runId"])
    )

    evaluations = dev.check_evaluations(key("parsed"), "id_import_date_unique")
    assert evaluations.get(day.isoformat()) is False, evaluations
    assert day.isoformat() in dev.materialized_partitions(key("parsed"))
    assert day.isoformat() not in dev.materialized_partitions(key("increment"))
    assert not tascomi_table(lake, "increment", TABLE).exists(yyyymmdd(day))


# -- 4. the checks pages ------------------------------------------------------------------------


def open_check_history(dev: DagsterDev, page: Page, stage: str, check: str) -> None:
    page.goto(f"{dev.url}/assets/tascomi/{stage}/{TABLE}_{stage}")
    page.get_by_role("tab", name="Checks").click(timeout=UI_TIMEOUT)
    page.get_by_text(check, exact=True).first.click(timeout=UI_TIMEOUT)
    page.locator("button[role=tab]", has_text="Execution history").click()


def expect_result(page: Page, day: date, result: str, description: str | None = None) -> None:
    row = page.get_by_role("row").filter(has_text=day.isoformat())
    expect(row).to_have_count(1, timeout=UI_TIMEOUT)
    expect(row).to_contain_text(result)
    if description:
        expect(row).to_contain_text(description)


def checks_pages_show_results_per_partition(
    dev: DagsterDev, page: Page, days: list[date], planted_day: date
) -> None:
    open_check_history(dev, page, "snapshot", "id_unique")
    # The list of the asset's checks, with each one's latest result ...
    expect(page.get_by_text(re.compile(r"id_unique\s*Succeeded"))).to_be_visible()
    # ... and the selected check's result per partition.
    for day in days:
        expect_result(page, day, "Passed")

    open_check_history(dev, page, "parsed", "id_import_date_unique")
    expect(page.get_by_text(re.compile(r"id_import_date_unique\s*Failed"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"id_complete\s*Succeeded"))).to_be_visible()
    for day in days:
        expect_result(page, day, "Passed", "unique")
    expect_result(page, planted_day, "Failed", "1 duplicate")
    shoot(page, "checks.png")

    # The snapshot's Checks tab lists its freshness check (evaluated by tascomi_freshness).
    page.goto(f"{dev.url}/assets/tascomi/snapshot/{TABLE}_snapshot")
    page.get_by_role("tab", name="Checks").click(timeout=UI_TIMEOUT)
    expect(page.get_by_text("freshness_check", exact=True).first).to_be_visible(timeout=UI_TIMEOUT)


# -- 4b. a check's Partitions tab after the one-run backfill ---------------------------------


def check_partitions_tab_shows_every_backfilled_day(
    dev: DagsterDev, page: Page, days: list[date], planted_day: date
) -> None:
    passed = {d.isoformat(): "SUCCEEDED" for d in days}
    assert dev.check_partition_statuses(key("snapshot"), "id_unique") == passed
    unique = dev.check_partition_statuses(key("parsed"), "id_import_date_unique")
    assert unique == {**passed, planted_day.isoformat(): "FAILED"}, unique
    volume = dev.check_partition_statuses(key("api_response"), "row_count_vs_history")
    assert volume == {**passed, planted_day.isoformat(): "SUCCEEDED"}, volume

    open_check_history(dev, page, "parsed", "id_import_date_unique")
    page.locator("button[role=tab]", has_text=re.compile(r"^Partitions$")).last.click()
    expect(page.get_by_text(f"Passed ({len(days)})")).to_be_visible(timeout=UI_TIMEOUT)
    expect(page.get_by_text("Failed (1)")).to_be_visible(timeout=UI_TIMEOUT)
    # Narrow the range to the backfilled days and the planted one: none of them is Missing.
    inputs = page.locator("input")
    values = inputs.evaluate_all("(els) => els.map((e) => e.value)")
    [position] = [i for i, value in enumerate(values) if value.startswith("[")]
    inputs.nth(position).fill(f"[{days[0].isoformat()}...{planted_day.isoformat()}]")
    inputs.nth(position).press("Enter")
    expect(page.get_by_text(f"{len(days) + 1} Partitions Selected")).to_be_visible(
        timeout=UI_TIMEOUT
    )
    expect(page.get_by_text("Missing (0)")).to_be_visible()
    expect(page.get_by_text(f"Passed ({len(days)})")).to_be_visible()
    expect(page.get_by_text("Failed (1)")).to_be_visible()
    page.get_by_text(planted_day.isoformat(), exact=True).first.click()
    # The day's detail: its evaluation's description.
    expect(page.get_by_text("1 duplicate (id, import_date) rows").first).to_be_visible(
        timeout=UI_TIMEOUT
    )
    shoot(page, "check-partitions.png")


# -- 6. alerts -----------------------------------------------------------------------------------


def alerts_reach_the_webhook(dev: DagsterDev, webhook: WebhookReceiver, planted_day: date) -> None:
    blocking = f"Blocking check failed: tascomi {TABLE}, partition {planted_day.isoformat()}"

    def posted():
        texts = webhook.texts
        wanted = [t for t in texts if blocking in t] and [
            t for t in texts if "Data overdue: tascomi" in t
        ]
        return texts if wanted else None

    texts = wait_for("the blocking failure and overdue alerts", posted, 180, 3, dev.check_alive)
    [message] = [t for t in texts if blocking in t]
    assert "check parsed/id_import_date_unique" in message, message
    assert "cause: 1 duplicate" in message, message
    assert f"run: {dev.url}/runs/" in message, message
    # One message for the failure: the run it failed is not reported a second time.
    assert not [t for t in texts if "Run failed" in t and f"partition {planted_day}" in t], texts


# -- 5. schedules and sensors -----------------------------------------------------------------


def schedules_and_sensors_are_listed_and_switch_on(dev: DagsterDev, page: Page) -> None:
    automations = dev.automations()
    names = dict(automations["schedules"] + automations["sensors"])
    assert SCHEDULE in names and "lbh_automation" in names, names
    assert names[SCHEDULE] == "STOPPED", "schedules ship switched off"

    page.goto(f"{dev.url}/automation")
    for name in names:
        expect(page.get_by_text(name, exact=True)).to_be_visible(timeout=UI_TIMEOUT)

    def row(name: str, kind: str):
        link = page.locator(f'a[href$="/{kind}/{name}"]')
        return page.locator("div").filter(has=link).filter(has=page.locator("label")).last

    def switch(name: str, kind: str):
        return row(name, kind).locator("input[type=checkbox]").last

    expect(switch("lbh_automation", "sensors")).to_be_checked()  # on by default
    expect(switch(SCHEDULE, "schedules")).not_to_be_checked()
    # A click on a busy machine can land before the toggle is live: click again (at most
    # three times, and only while the server still has the schedule stopped) until the
    # switch shows it running.
    for attempt in range(3):
        if dict(dev.automations()["schedules"])[SCHEDULE] != "RUNNING":
            row(SCHEDULE, "schedules").locator("label").last.click()
        try:
            expect(switch(SCHEDULE, "schedules")).to_be_checked(timeout=UI_TIMEOUT // 3)
            break
        except AssertionError:
            if attempt == 2:
                raise
    wait_for(
        f"{SCHEDULE} to be RUNNING",
        lambda: dict(dev.automations()["schedules"])[SCHEDULE] == "RUNNING",
        timeout=30,
    )
    shoot(page, "automation.png")
