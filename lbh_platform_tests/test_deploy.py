"""The production topology end to end, with real processes and a real PostgreSQL.

A PostgreSQL server of the test's own (Debian's package, initdb into a temporary folder,
loopback, a free port, a non-root user), then the code server, the webserver and the daemon
started with exactly the commands of deploy/docker-compose.yaml against the verbatim
deploy/dagster.yaml. Over the webserver's GraphQL API, as the UI does:

1. a four-day backfill of two Tascomi tables and an overlapping backfill of one of them go
   through the run queue; runs of one table never overlap (run start/end records); the
   check results are rows in PostgreSQL; the partitions on disk are right;
2. the daemon is SIGKILLed while a backfill's run is in flight and started again: the run
   and the backfill finish, nothing is left in progress, the partitions are right;
3. a run worker and its step processes are SIGKILLed: the run is marked failed (not left
   STARTED) and the daemon retries it (``dagster/max_retries`` on the ingestion job); the
   retry succeeds and its partitions are on disk;
4. the webserver is restarted with an empty ``DAGSTER_HOME`` (only dagster.yaml): run
   history, check results and backfill status are all still there;
5. the password is in no log, no row of the database and not in the UI's instance page;
6. a wrong password or an unreachable server stops a service at start-up with a message
   naming the setting to fix and without the password;
7. production runs by itself: every schedule and sensor the daily operation needs is RUNNING
   from the first start (the compose file's ``LBH_DEPLOYMENT``), the heartbeat reaches its
   monitor, and each service's compose health check passes (and fails against nothing);
8. a step's log line, written by the run worker on the code server's side, is read through
   the webserver, which has a DAGSTER_HOME of its own (as each compose container does);
9. a pg_dump of the database restored into a fresh database, migrated through the
   entrypoint, serves the same run history to a webserver started on it.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg2
import pytest

from lbh_platform.deploy.local_postgres import free_port, pg_bin_dir
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.automation_docs import documented_states
from lbh_platform_tests.deploy_topology import SERVICES, Sandbox
from lbh_platform_tests.e2e.harness import wait_for

pytestmark = pytest.mark.deploy

LONDON = ZoneInfo("Europe/London")
TABLES = ("appeals", "applications")
STAGES = ("api_response", "parsed", "increment", "snapshot")
TERMINAL_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
IN_PROGRESS_RUN = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
TIMEOUT = 420  # seconds per wait: generous for a loaded 2-core machine; polls, never sleeps

LAUNCH_BACKFILL = """mutation($p: LaunchBackfillParams!) {
    launchPartitionBackfill(backfillParams: $p) { __typename
        ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
LAUNCH_RUN = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } } } }"""
RUNS = """{ runsOrError(limit: 500) { ... on Runs { results {
    runId status startTime endTime tags { key value } assetSelection { path } } } } }"""


def require_postgres() -> None:
    try:
        pg_bin_dir()
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def sandbox():
    require_postgres()
    box = Sandbox()
    try:
        box.start()
        yield box
    except BaseException:
        for name, service in (box.topology.services if box.topology else {}).items():
            print(f"--- {name} log (tail) ---\n{service.log_tail(80)}")
        raise
    finally:
        box.stop()
        leftovers = box.leftover_pids()
        shutil.rmtree(box.root, ignore_errors=True)
        shutil.rmtree(box.pg_root, ignore_errors=True)
        assert not leftovers, f"processes left behind: {leftovers}"


def keys(table: str) -> list[dict]:
    return [{"path": ["tascomi", stage, f"{table}_{stage}"]} for stage in STAGES]


def yyyymmdd(day: str) -> str:
    return day.replace("-", "")


def launch_backfill(box: Sandbox, tables, days: list[str]) -> str:
    selection = [k for t in tables for k in keys(t)]
    result = box.web.graphql(
        LAUNCH_BACKFILL, {"p": {"partitionNames": days, "assetSelection": selection}}
    )["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def runs(box: Sandbox) -> list[dict]:
    found = box.web.graphql(RUNS)["runsOrError"]["results"]
    for run in found:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
    return found


def backfill_runs(box: Sandbox, backfill_id: str) -> list[dict]:
    return [r for r in runs(box) if r["tags"].get("dagster/backfill") == backfill_id]


def event_types(box: Sandbox, run_id: str) -> list[str]:
    """The run's event types, as stored in PostgreSQL's event log."""
    rows = sql(
        box, "select dagster_event_type from event_logs where run_id = %s order by id", run_id
    )
    return [t for (t,) in rows if t]


def event_time(box: Sandbox, run_id: str, event_type: str) -> float:
    rows = sql(
        box,
        "select extract(epoch from timestamp) from event_logs "
        "where run_id = %s and dagster_event_type = %s order by id limit 1",
        run_id,
        event_type,
    )
    assert rows, f"no {event_type} event for run {run_id}"
    return float(rows[0][0])


def tables_of(run: dict) -> set[str]:
    return {
        path["path"][2].removesuffix(f"_{path['path'][1]}") for path in run["assetSelection"] or []
    }


def assert_snapshots_chain(lake: Lake, table: str, days: list[str]) -> None:
    """Every day's snapshot is the day before's plus that day's increment (the first a full
    load), and every stage has every day."""
    for stage in STAGES:
        assert set(map(yyyymmdd, days)) <= set(tascomi_table(lake, stage, table).partitions()), (
            stage
        )
    snapshots, increments = (
        tascomi_table(lake, "snapshot", table),
        tascomi_table(lake, "increment", table),
    )
    previous: set[str] = set()
    for day in map(yyyymmdd, days):
        ids = set(snapshots.read(day, columns=["id"])["id"].to_pylist())
        new = set(increments.read(day, columns=["id"])["id"].to_pylist())
        assert ids == previous | new, f"{table} snapshot {day} is not built on the day before"
        previous = ids
    assert previous, f"{table}: the snapshots are empty"


def wait_backfill(box: Sandbox, backfill_id: str) -> dict:
    backfill = box.web.wait_for_backfill(backfill_id, timeout=TIMEOUT)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    return backfill


def freshness_run(run: dict) -> bool:
    """A freshness sensor's own check run (one may start at any tick)."""
    return run["tags"].get("dagster/sensor_name", "").endswith("_freshness")


def nothing_in_progress(box: Sandbox) -> list[dict]:
    """Runs in progress, apart from the freshness sensors' check runs."""
    return [r for r in runs(box) if r["status"] in IN_PROGRESS_RUN and not freshness_run(r)]


def sql(box: Sandbox, query: str, *params) -> list[tuple]:
    env = box.postgres.environment()
    with (
        psycopg2.connect(
            host=env["DAGSTER_PG_HOST"],
            port=env["DAGSTER_PG_PORT"],
            dbname=env["DAGSTER_PG_DB"],
            user=env["DAGSTER_PG_USER"],
            password=env["DAGSTER_PG_PASSWORD"],
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(query, params)
        return cursor.fetchall()


def today() -> datetime:
    return datetime.now(LONDON)


def days_ago(*offsets: int) -> list[str]:
    # Older than the newest partition (today), so declarative automation, which targets only
    # the newest partition, never starts runs of its own in these days.
    return [(today().date() - timedelta(days=n)).isoformat() for n in offsets]


def test_production_topology(sandbox: Sandbox):
    box = sandbox
    lake = Lake({"raw": str(box.raw_zone), "refined": str(box.refined_zone)})
    history = days_ago(9, 8, 7, 6)
    box.simulators["tascomi"].latency = 0.05  # runs long enough for the queue to matter

    # -- 1. two tables through the queue, one table's runs never overlap --------------------
    both = launch_backfill(box, TABLES, history)
    again = launch_backfill(box, ["appeals"], history[2:])  # overlaps `both` on appeals
    wait_backfill(box, both)
    wait_backfill(box, again)
    first, second = backfill_runs(box, both), backfill_runs(box, again)
    assert first and second, (first, second)
    for run in first + second:
        assert run["status"] == "SUCCESS", run
        assert "PIPELINE_ENQUEUED" in event_types(box, run["runId"]), run  # through the queue
    # Both backfills touch appeals. Whichever run started second was already queued while the
    # other ran, and was held there until it ended: the per-table pool (run granularity).
    earlier, later_run = sorted(first + second, key=lambda r: r["startTime"])[:2]
    enqueued = event_time(box, later_run["runId"], "PIPELINE_ENQUEUED")
    assert enqueued < earlier["endTime"], "the second run was queued only after the first ended"
    assert later_run["startTime"] >= earlier["endTime"], "two runs of appeals overlapped"
    for table in TABLES:
        assert_no_overlap(runs(box), table)
        assert_snapshots_chain(lake, table, history)
    # Check results are rows in PostgreSQL, one success per table and day.
    rows = sql(
        box,
        "select asset_key, partition, execution_status from asset_check_executions "
        "where check_name = %s",
        "id_import_date_unique",
    )
    passed = {(json.loads(k)[2].removesuffix("_parsed"), p) for k, p, s in rows if s == "SUCCEEDED"}
    assert {(t, d) for t in TABLES for d in history} <= passed, rows

    # -- 2. SIGKILL the daemon while a run is in flight ----------------------------------------
    later = days_ago(5, 4, 3)
    # The run's first applications request stalls 20 s (well inside the client's read
    # timeout), so the run is surely in flight when the daemon is killed.
    box.simulators["tascomi"].latency = 0.0
    box.simulators["tascomi"].inject("slow", resource="applications", delay=20)
    in_flight = launch_backfill(box, TABLES, later)

    def started_run():
        found = [r for r in backfill_runs(box, in_flight) if r["status"] == "STARTED"]
        return found[0] if found else None

    run = wait_for("the backfill's run to start", started_run, TIMEOUT, 0.5, box.check_alive)
    daemon = box.topology.services["daemon"]
    daemon.kill()  # SIGKILL, the daemon process only
    assert daemon.process.returncode == -9
    assert box.web.run(run["runId"])["status"] == "STARTED"  # the worker lives on
    box.topology.start("daemon")
    wait_backfill(box, in_flight)
    assert box.web.run(run["runId"])["status"] == "SUCCESS"
    assert not nothing_in_progress(box)
    for table in TABLES:
        assert_snapshots_chain(lake, table, history + later)
        assert_no_overlap(runs(box), table)

    # -- 3. a dead run worker: marked failed, retried ----------------------------------------
    retried_day = days_ago(1)[0]
    box.simulators["tascomi"].inject("slow", resource="appeals", delay=30)  # in flight when killed
    launched = box.web.graphql(
        LAUNCH_RUN,
        {
            "p": {
                "selector": {
                    "repositoryLocationName": "lbh_platform",
                    "repositoryName": "__repository__",
                    "jobName": "tascomi_daily_ingest",
                },
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": retried_day}]},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    first = launched["run"]["runId"]
    pid = wait_for("the run worker's pid", lambda: worker_pid(box, first), TIMEOUT, 0.5)
    kill_tree(pid)  # the worker and the step processes it started: a lost worker host
    failed = wait_for(
        "the dead worker's run to be marked failed",
        lambda: (r := box.web.run(first))["status"] in TERMINAL_RUN and r,
        TIMEOUT,
        1,
        box.check_alive,
    )
    assert failed["status"] == "FAILURE", failed

    def retry():
        found = [r for r in runs(box) if r["tags"].get("dagster/parent_run_id") == first]
        return found[0] if found and found[0]["status"] in TERMINAL_RUN else None

    retry_run = wait_for("the automatic retry to finish", retry, TIMEOUT, 1, box.check_alive)
    assert retry_run["status"] == "SUCCESS", retry_run
    assert retry_run["tags"].get("dagster/retry_number") == "1", retry_run["tags"]
    for table in TABLES:
        raw = tascomi_table(lake, "api_response", table)
        assert yyyymmdd(retried_day) in raw.partitions()
        rows_written = raw.read(yyyymmdd(retried_day)).num_rows
        materialized = box.web.graphql(
            """query($path: [String!]!, $p: [String!]) { assetOrError(assetKey: {path: $path}) {
                ... on Asset { assetMaterializations(partitions: $p, limit: 1) {
                    runId metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }""",
            {"path": ["tascomi", "api_response", f"{table}_api_response"], "p": [retried_day]},
        )["assetOrError"]["assetMaterializations"][0]
        assert materialized["runId"] == retry_run["runId"]
        counts = {e["label"]: e.get("intValue") for e in materialized["metadataEntries"]}
        assert counts["dagster/row_count"] == rows_written, counts
    assert not nothing_in_progress(box)

    # -- 4. restart the webserver on an empty DAGSTER_HOME: history is in PostgreSQL ----------
    before = {r["runId"]: r["status"] for r in runs(box) if not freshness_run(r)}
    checks_before = box.web.check_evaluations(
        ["tascomi", "parsed", "appeals_parsed"], "id_import_date_unique"
    )
    fresh_home = box.root / "fresh_home"
    fresh_home.mkdir()
    shutil.copy(box.home / "dagster.yaml", fresh_home / "dagster.yaml")
    box.topology.services["webserver"].stop()
    box.topology.start("webserver", home=fresh_home)
    box.web.wait_until_loaded(timeout=TIMEOUT)
    assert {r["runId"]: r["status"] for r in runs(box) if not freshness_run(r)} == before
    assert (
        box.web.check_evaluations(["tascomi", "parsed", "appeals_parsed"], "id_import_date_unique")
        == checks_before
    )
    assert all(checks_before[d] for d in history + later), checks_before
    for backfill_id in (both, again, in_flight):
        assert box.web.wait_for_backfill(backfill_id, timeout=60)["status"] == "COMPLETED_SUCCESS"

    # -- 5. the password is nowhere ----------------------------------------------------------
    info = box.web.graphql("{ instance { info } }")["instance"]["info"]
    assert "Postgres" in info and box.password not in info, info
    dump = subprocess.run(
        [
            str(pg_bin_dir() / "pg_dump"),
            "--data-only",
            "-h",
            "127.0.0.1",
            "-p",
            str(box.postgres.port),
            "-U",
            box.postgres.user,
            box.postgres.database,
        ],
        env={"PGPASSWORD": box.password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "tascomi/api_response/appeals_api_response" in dump or "api_response" in dump
    assert box.password not in dump
    assert box.heartbeat.path not in dump  # the heartbeat URL's token
    assert box.password not in box.all_logs()
    for folder in (box.home, box.web_home, fresh_home, box.compute_logs):
        for path in folder.rglob("*"):
            if path.is_file():
                assert box.password.encode() not in path.read_bytes(), path


def assert_no_overlap(all_runs: list[dict], table: str) -> None:
    """Runs touching ``table`` ran one after another (run records' start and end times)."""
    spans = sorted(
        (r["startTime"], r["endTime"], r["runId"])
        for r in all_runs
        if table in tables_of(r) and r["startTime"] and r["endTime"]
    )
    for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
        assert start >= end, f"{table}: runs {a} and {b} overlap"


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (found through /proc before any is killed)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def worker_pid(box: Sandbox, run_id: str) -> int | None:
    """The run worker's pid, from the engine event Dagster logs when it starts it, once a
    step is under way."""
    data = box.web.graphql(
        """query($id: ID!) { logsForRun(runId: $id, limit: 10000) {
            ... on EventConnection { events { __typename
                ... on MessageEvent { message } } } } }""",
        {"id": run_id},
    )
    events = data["logsForRun"]["events"]
    if not any(e["__typename"] == "ExecutionStepStartEvent" for e in events):
        return None
    for event in events:
        message = event.get("message") or ""
        if message.startswith("Started process for run (pid: "):
            return int(message.split("pid: ")[1].split(")")[0])
    return None


# -- start-up failures: clear, naming the setting, never the password -------------------------


def start_daemon_expecting_failure(box: Sandbox, **overrides: str) -> str:
    """Run the compose file's daemon command with ``overrides``; it must exit at once (2)."""
    env = {**box.env, **overrides}
    name = f"daemon-misconfigured-{len(list(box.logs.glob('daemon-misconfigured-*')))}"
    command = box.topology.command("daemon", env)
    done = subprocess.run(
        command,
        env=box.topology.environment("daemon", env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=box.root,
    )
    output = done.stdout + done.stderr
    (box.logs / f"{name}.log").write_text(output)
    assert done.returncode == 2, output
    return output


def test_wrong_password_fails_at_start_naming_the_setting(sandbox: Sandbox):
    wrong = "wrong-" + sandbox.password[::-1]
    output = start_daemon_expecting_failure(sandbox, DAGSTER_PG_PASSWORD=wrong)
    assert "DAGSTER_PG_PASSWORD" in output and "rejected the password" in output, output
    assert wrong not in output and sandbox.password not in output
    assert "Traceback" not in output


def test_unreachable_server_fails_at_start_naming_the_setting(sandbox: Sandbox):
    output = start_daemon_expecting_failure(
        sandbox, DAGSTER_PG_PORT=str(free_port()), DAGSTER_PG_WAIT_SECONDS="2"
    )
    assert "cannot reach PostgreSQL" in output, output
    assert "DAGSTER_PG_HOST" in output and "DAGSTER_PG_PORT" in output, output
    assert sandbox.password not in output
    assert "Traceback" not in output


# -- 7. production runs by itself --------------------------------------------------------------

AUTOMATIONS = """query($s: RepositorySelector!) {
    schedulesOrError(repositorySelector: $s) { __typename
        ... on Schedules { results { name scheduleState { status } } } }
    sensorsOrError(repositorySelector: $s) { __typename
        ... on Sensors { results { name sensorState { status } } } } }"""
REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": "lbh_platform"}
DAILY_OPERATION = (
    "tascomi_daily_0300",
    "alloy_weekdays_0400",
    "tenure_event_files",
    "tenure_stale_snapshots",
    "tascomi_freshness",
    "alloy_freshness",
    "tenure_freshness",
    "lbh_automation",
    "lbh_run_failure_alerts",
    "lbh_check_failure_alerts",
    "lbh_heartbeat",
)


def instigator_states(box: Sandbox) -> dict[str, str]:
    data = box.web.graphql(AUTOMATIONS, {"s": REPOSITORY})
    states = {s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]}
    states.update(
        {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    )
    return states


def test_every_schedule_and_sensor_the_day_needs_runs_from_the_first_start(sandbox: Sandbox):
    states = instigator_states(sandbox)
    for name in DAILY_OPERATION:
        assert states.get(name) == "RUNNING", (name, states)
    assert states["tenure_weekly_resync"] == "STOPPED"  # opt-in (ADR: DynamoDB reads)
    documented = documented_states()
    assert set(states) <= set(documented), sorted(set(states) - set(documented))
    assert states == {name: documented[name]["production"] for name in states}


def test_the_heartbeat_reaches_its_monitor_without_showing_its_url(sandbox: Sandbox):
    box = sandbox
    wait_for("a heartbeat ping", lambda: box.heartbeat.pings >= 1, TIMEOUT, 2, box.check_alive)
    token = box.heartbeat.path
    assert token not in box.all_logs()
    for path in box.compute_logs.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_each_service_health_check_passes_and_fails_against_nothing(sandbox: Sandbox):
    box = sandbox

    def healthy(name: str):
        done = box.topology.healthcheck(name)
        return done if done.returncode == 0 else None

    for name in SERVICES:  # the daemon is live once each of its daemons has beaten once
        wait_for(f"the {name} health check to pass", lambda n=name: healthy(n), TIMEOUT, 5)
    closed = str(free_port())
    for name, port in (
        ("code_server", "DAGSTER_CODE_SERVER_PORT"),
        ("webserver", "DAGSTER_WEBSERVER_PORT"),
    ):
        done = box.topology.healthcheck(name, {**box.env, port: closed})
        assert done.returncode != 0, (name, done.stdout, done.stderr)
    create_database(box, "no_daemon")  # a database no daemon has ever beaten in
    done = box.topology.healthcheck("daemon", {**box.env, "DAGSTER_PG_DB": "no_daemon"})
    assert done.returncode != 0 and "not running" in done.stdout, done.stdout + done.stderr
    assert box.password not in done.stdout + done.stderr


# -- 8. step logs through the webserver --------------------------------------------------------

CAPTURED = """query($key: [String!]!) { capturedLogs(logKey: $key) { stdout stderr } }"""
RUN_LOG = """query($id: ID!) { logsForRun(runId: $id, limit: 10000) {
    ... on EventConnection { events { __typename
        ... on MessageEvent { message stepKey }
        ... on LogsCapturedEvent { fileKey stepKeys } } } } }"""


def launch_ingest(box: Sandbox, day: str) -> str:
    launched = box.web.graphql(
        LAUNCH_RUN,
        {
            "p": {
                "selector": {
                    "repositoryLocationName": "lbh_platform",
                    "repositoryName": "__repository__",
                    "jobName": "tascomi_daily_ingest",
                },
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_a_steps_log_line_is_read_through_the_webserver(sandbox: Sandbox):
    box = sandbox
    assert box.topology.services["webserver"].env["DAGSTER_HOME"] != str(box.home)
    run_id = launch_ingest(box, days_ago(2)[0])
    run = wait_for(
        "the run to finish",
        lambda: (r := box.web.run(run_id))["status"] in TERMINAL_RUN and r,
        TIMEOUT,
        1,
        box.check_alive,
    )
    assert run["status"] == "SUCCESS", run
    events = box.web.graphql(RUN_LOG, {"id": run_id})["logsForRun"]["events"]
    lines = [e for e in events if e["__typename"] == "LogMessageEvent" and "rows" in e["message"]]
    assert lines, events
    captured = [e for e in events if e["__typename"] == "LogsCapturedEvent"]
    assert captured, [e["__typename"] for e in events]
    text = ""
    for event in captured:
        logs = box.web.graphql(CAPTURED, {"key": [run_id, "compute_logs", event["fileKey"]]})
        text += (logs["capturedLogs"]["stdout"] or "") + (logs["capturedLogs"]["stderr"] or "")
    for line in lines:  # e.g. "tascomi api_response appeals 20240305 (1/1): 12 rows"
        assert line["message"] in text, (line, text[-2000:])


# -- 9. backup and restore ----------------------------------------------------------------------


def create_database(box: Sandbox, name: str) -> None:
    env = box.postgres.environment()
    connection = psycopg2.connect(
        host=env["DAGSTER_PG_HOST"],
        port=env["DAGSTER_PG_PORT"],
        dbname=env["DAGSTER_PG_DB"],
        user=env["DAGSTER_PG_USER"],
        password=env["DAGSTER_PG_PASSWORD"],
    )
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}"')
            cursor.execute(f'create database "{name}"')
    finally:
        connection.close()


def pg_tool(box: Sandbox, tool: str, *args: str) -> subprocess.CompletedProcess:
    """A PostgreSQL client tool against the sandbox's server; the password only in its
    environment."""
    return subprocess.run(
        [
            str(pg_bin_dir() / tool),
            "-h",
            "127.0.0.1",
            "-p",
            str(box.postgres.port),
            "-U",
            box.postgres.user,
            *args,
        ],
        env={"PGPASSWORD": box.password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_backup_restored_into_a_fresh_database_serves_the_same_history(sandbox: Sandbox):
    """docs/DEPLOYING.md's procedure: pg_dump, pg_restore into a new database, `dagster
    instance migrate` through the entrypoint, a webserver on it."""
    box = sandbox
    if not [r for r in runs(box) if r["status"] == "SUCCESS"]:  # this test alone
        run_id = launch_ingest(box, days_ago(3)[0])
        wait_for(
            "a run to finish",
            lambda: box.web.run(run_id)["status"] in TERMINAL_RUN,
            TIMEOUT,
            1,
            box.check_alive,
        )
    finished = {
        r["runId"]: r["status"]
        for r in runs(box)
        if r["status"] in TERMINAL_RUN and not freshness_run(r)
    }
    path, check = ["tascomi", "api_response", "appeals_api_response"], "row_count_vs_history"
    checks_before = box.web.check_evaluations(path, check)
    assert finished and checks_before
    dump = box.root / "dagster.dump"
    done = pg_tool(box, "pg_dump", "-Fc", "-f", str(dump), box.postgres.database)
    assert done.returncode == 0, done.stderr
    create_database(box, "restored")
    done = pg_tool(box, "pg_restore", "--no-owner", "-d", "restored", str(dump))
    assert done.returncode == 0, done.stderr
    restored = {**box.env, "DAGSTER_PG_DB": "restored"}
    migrate = subprocess.run(
        ["python", "-m", "lbh_platform.deploy.entrypoint", "dagster", "instance", "migrate"],
        env=box.topology.environment("daemon", restored),
        cwd=box.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert box.password not in migrate.stdout + migrate.stderr
    original = box.topology.services["webserver"]
    original.stop()
    try:
        box.topology.start("webserver", restored)
        box.web.wait_until_loaded(timeout=TIMEOUT)
        after = {r["runId"]: r["status"] for r in runs(box)}
        assert {k: after.get(k) for k in finished} == finished
        assert box.web.check_evaluations(path, check) == checks_before
    finally:
        box.topology.start("webserver")
        box.web.wait_until_loaded(timeout=TIMEOUT)
