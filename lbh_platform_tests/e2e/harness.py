"""Run ``make dev`` (the simulators plus ``dagster dev``) in a sandbox and talk to its GraphQL.

Everything lives in one temporary folder: ``DAGSTER_HOME`` with an empty ``dagster.yaml``,
the raw and refined zones, a small Tascomi table list and one Alloy dataset. The process tree
runs in its own session and is stopped with SIGINT (what Ctrl-C sends; SIGTERM leaves
dagster's children running); anything still alive afterwards is killed, found by a marker in
its environment, so nothing outlives the test.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from lbh_platform.alloy.datasets import DEFAULT_DATASETS_DIR, load_datasets

REPO = Path(__file__).resolve().parents[2]
# Screenshots go to a temporary folder unless LBH_E2E_SCREENSHOTS names one (docs/screenshots
# refreshes the documentation's images), so a test run never dirties the checkout.
SCREENSHOTS = Path(
    os.environ.get("LBH_E2E_SCREENSHOTS") or Path(tempfile.gettempdir()) / "lbh-e2e-screenshots"
)
CHROMIUM = Path(os.environ.get("LBH_E2E_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MARKER = "LBH_E2E_SANDBOX"
# Variables that would point the platform away from the sandbox or the simulators.
_CLEARED = (
    "TASCOMI_API_URL",
    "TASCOMI_PUBLIC_KEY",
    "TASCOMI_PRIVATE_KEY",
    "ALLOY_API_URL",
    "ALLOY_API_KEY",
    "LBH_TASCOMI_COLUMN_TYPES_FILE",
    "LBH_DEMO_TABLES",
    "LBH_DEMO_DAYS",
)


def _pause_the_rest(path: Path, tables_yaml: str) -> str:
    """A table subset plus every other catalogue table as ``paused`` (the definitions load
    refuses catalogue tables the list does not mention)."""
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
    from lbh_platform.tascomi.tables import load_tables

    path.write_text(tables_yaml)
    listed = {table.name for table in load_tables(path)}
    rest = sorted(set(ColumnTypeCatalogue.load().tables()) - listed)
    return tables_yaml.rstrip("\n") + "\npaused:\n" + "".join(f"  - {n}\n" for n in rest)


class GraphQLError(AssertionError):
    pass


def marked_pids(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment has ``MARKER=marker``: what a sandbox
    started, found even after their parent died, so the test can end them by pid."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def end_marked(marker: str, grace: float = 20.0) -> None:
    """Give the sandbox's processes ``grace`` seconds to exit, then SIGKILL each by pid."""
    deadline = time.monotonic() + grace
    while marked_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in marked_pids(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    what: str,
    probe: Callable[[], object],
    timeout: float,
    interval: float = 1.0,
    alive: Callable[[], None] | None = None,
):
    """Call ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if alive:
            alive()
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class WebserverClient:
    """The webserver's GraphQL API, as the UI uses it; ``check_alive`` is called while waiting
    (subclasses raise there when the servers died)."""

    def __init__(self, url: str):
        self.url = url

    def check_alive(self) -> None:
        pass

    def wait_until_loaded(self, timeout: float = 150) -> None:
        def loaded():
            try:
                data = self.graphql(
                    """{ workspaceOrError { ... on Workspace { locationEntries {
                        name loadStatus
                        locationOrLoadError { __typename ... on PythonError { message } }
                    } } } }"""
                )
            except (urllib.error.URLError, ConnectionError, OSError):
                return None
            entries = data["workspaceOrError"]["locationEntries"]
            for entry in entries:
                error = entry["locationOrLoadError"]
                if error and error["__typename"] == "PythonError":
                    raise AssertionError(
                        f"code location {entry['name']} failed to load: {error['message']}"
                    )
            return bool(entries) and all(
                e["loadStatus"] == "LOADED"
                and (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
                for e in entries
            )

        wait_for("the code location to be LOADED", loaded, timeout, alive=self.check_alive)

    # -- GraphQL ---------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        if body.get("errors"):
            raise GraphQLError(json.dumps(body["errors"], indent=1))
        return body["data"]

    def asset_nodes(self) -> list[dict]:
        data = self.graphql(
            "{ assetNodes { assetKey { path } groupName repository { location { name } } } }"
        )
        return data["assetNodes"]

    def run_ids(self) -> set[str]:
        """Runs launched by the test (the freshness sensors' own check runs left out)."""
        data = self.graphql(
            "{ runsOrError(limit: 200) { ... on Runs { results { runId tags { key value } } } } }"
        )
        return {
            r["runId"]
            for r in data["runsOrError"]["results"]
            if not any(
                t["key"] == "dagster/sensor_name" and t["value"].endswith("_freshness")
                for t in r["tags"]
            )
        }

    def run(self, run_id: str) -> dict:
        data = self.graphql(
            """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
                runId status tags { key value } assetSelection { path }
                stepStats { stepKey status }
            } } }""",
            {"id": run_id},
        )
        return data["runOrError"]

    def wait_for_new_run(self, before: set[str], timeout: float = 150) -> dict:
        """The one run launched since ``before``, once it has finished."""
        terminal = {"SUCCESS", "FAILURE", "CANCELED"}

        def finished():
            new = self.run_ids() - before
            if not new:
                return None
            assert len(new) == 1, f"expected one new run, got {sorted(new)}"
            run = self.run(new.pop())
            return run if run["status"] in terminal else None

        return wait_for("the launched run to finish", finished, timeout, 2, self.check_alive)

    def wait_for_backfill(self, backfill_id: str, timeout: float = 180) -> dict:
        terminal = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

        def finished():
            data = self.graphql(
                """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                    __typename ... on PartitionBackfill {
                        id status partitionNames runs(limit: 50) { runId status }
                    } } }""",
                {"id": backfill_id},
            )
            backfill = data["partitionBackfillOrError"]
            return backfill if backfill.get("status") in terminal else None

        return wait_for(f"backfill {backfill_id} to finish", finished, timeout, 2, self.check_alive)

    def materialized_partitions(self, path: list[str]) -> list[str]:
        """Partitions of the asset's materialisations, oldest event first."""
        data = self.graphql(
            """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
                ... on Asset { assetMaterializations(limit: 500) { partition runId } } } }""",
            {"path": path},
        )
        events = data["assetOrError"]["assetMaterializations"]
        return [e["partition"] for e in reversed(events)]

    def row_counts(self, path: list[str]) -> dict[str, int]:
        """``dagster/row_count`` of each partition's newest materialisation."""
        data = self.graphql(
            """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
                ... on Asset { assetMaterializations(limit: 500) { partition
                    metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }""",
            {"path": path},
        )
        counts: dict[str, int] = {}
        for event in data["assetOrError"]["assetMaterializations"]:  # newest first
            for entry in event["metadataEntries"]:
                if entry["label"] == "dagster/row_count" and event["partition"] not in counts:
                    counts[event["partition"]] = entry["intValue"]
        return counts

    def check_partition_statuses(self, path: list[str], check: str) -> dict[str, str]:
        """What a check's Partitions tab shows per partition (the UI's own query); partitions
        without a current result are absent (the tab shows them as Missing)."""
        data = self.graphql(
            """query($path: [String!]!, $check: String!) {
                assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
                    assetCheckOrError(checkName: $check) { ... on AssetCheck {
                    partitionStatuses { ... on AssetCheckTimePartitionStatuses {
                        ranges { startKey endKey status } } } } } } } }""",
            {"path": path, "check": check},
        )
        statuses: dict[str, str] = {}
        ranges = data["assetNodeOrError"]["assetCheckOrError"]["partitionStatuses"]["ranges"]
        for span in ranges:
            day = date.fromisoformat(span["startKey"])
            while day <= date.fromisoformat(span["endKey"]):
                if span["status"] != "MISSING":
                    statuses[day.isoformat()] = span["status"]
                day += timedelta(days=1)
        return statuses

    def run_messages(self, run_id: str) -> list[str]:
        data = self.graphql(
            """query($id: ID!) { logsForRun(runId: $id, limit: 10000) {
                ... on EventConnection { events { __typename ... on MessageEvent { message } } }
            } }""",
            {"id": run_id},
        )
        return [e["message"] for e in data["logsForRun"]["events"] if e.get("message")]

    def check_evaluations(self, path: list[str], check: str) -> dict[str, bool]:
        """Latest pass/fail per partition of one asset check."""
        data = self.graphql(
            """query($path: [String!]!, $check: String!) {
                assetCheckExecutions(assetKey: {path: $path}, checkName: $check, limit: 100) {
                    status evaluation { success partition } } }""",
            {"path": path, "check": check},
        )
        results: dict[str, bool] = {}
        for execution in data["assetCheckExecutions"]:  # newest first
            evaluation = execution["evaluation"]
            if evaluation and evaluation["partition"] not in results:
                results[evaluation["partition"]] = evaluation["success"]
        return results

    def automations(self) -> dict[str, list[tuple[str, str]]]:
        """Schedules and sensors with their status, per kind."""
        data = self.graphql(
            """{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {
                ... on RepositoryLocation { repositories {
                    schedules { name scheduleState { status } }
                    sensors { name sensorState { status } }
                } } } } } } }"""
        )
        found: dict[str, list[tuple[str, str]]] = {"schedules": [], "sensors": []}
        for entry in data["workspaceOrError"]["locationEntries"]:
            for repo in (entry["locationOrLoadError"] or {}).get("repositories", []):
                found["schedules"] += [
                    (s["name"], s["scheduleState"]["status"]) for s in repo["schedules"]
                ]
                found["sensors"] += [
                    (s["name"], s["sensorState"]["status"]) for s in repo["sensors"]
                ]
        return found


class DagsterDev(WebserverClient):
    """``python -m lbh_platform_devkit.dev`` on a free loopback port, in ``root``."""

    def __init__(self, root: Path, tables_yaml: str):
        self.root = root
        self.home = root / "dagster_home"
        self.raw_zone = root / "raw-zone"
        self.refined_zone = root / "refined-zone"
        self.log_path = root / "dev.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.marker = uuid.uuid4().hex
        self.process: subprocess.Popen | None = None
        self._log = None

        self.home.mkdir(parents=True)
        (self.home / "dagster.yaml").write_text("")
        (root / "tables.yaml").write_text(_pause_the_rest(root / "tables.yaml", tables_yaml))
        alloy = root / "alloy"
        alloy.mkdir()
        smallest = min(load_datasets(DEFAULT_DATASETS_DIR), key=lambda d: len(d.tables))
        shutil.copy(smallest.source, alloy / smallest.source.name)
        shutil.copy(REPO / "workspace.yaml", root / "workspace.yaml")
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        env.update(
            DAGSTER_HOME=str(self.home),
            LBH_RAW_ZONE=str(self.raw_zone),
            LBH_REFINED_ZONE=str(self.refined_zone),
            LBH_TASCOMI_TABLES_FILE=str(root / "tables.yaml"),
            LBH_ALLOY_DATASETS_DIR=str(alloy),
            LBH_DEV_HOST="127.0.0.1",
            LBH_DEV_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
            **{MARKER: self.marker},
        )
        self.env = env

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lbh_platform_devkit.dev"],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, signalled as a whole
            # A shell's background job inherits SIGINT ignored; restore it so Ctrl-C works.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"lbh_platform_devkit.dev exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGINT to the whole group (as Ctrl-C), then kill whatever is left."""
        try:
            if self.process is not None and self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=45)
            end_marked(self.marker)
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        finally:
            if self._log:
                self._log.close()

    def leftover_pids(self) -> list[int]:
        """Live processes carrying this sandbox's marker in their environment."""
        return marked_pids(self.marker)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
