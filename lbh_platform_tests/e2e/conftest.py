"""Fixtures for the browser tests: a sandboxed ``make dev`` and headless Debian Chromium."""

import contextlib
import shutil
import tempfile
from pathlib import Path

import pytest

from lbh_platform_tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, DagsterDev
from lbh_platform_tests.webhook_receiver import WebhookReceiver

# Small on purpose, to keep the daemon's ticks and the graph light: two daily Tascomi tables
# and one weekly (so both schedules exist).
TABLES_YAML = """tables:
  - {name: appeals, cadence: daily}
  - {name: applications, cadence: daily, completeness_column: application_reference_number}
  - {name: appeal_status, cadence: weekly}
"""
FAILURE_SCREENSHOT = Path(tempfile.gettempdir()) / "lbh-e2e-failure.png"
DEV_LOG = Path(tempfile.gettempdir()) / "lbh-e2e-dev.log"


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives the Dagster UI in headless Chromium")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.e2e_failed = report.failed


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: run `bash scripts/install-test-deps.sh` (as root) to "
            "install Debian's chromium for the UI end-to-end test"
        )


@pytest.fixture(scope="module")
def webhook():
    """A loopback stand-in for the chat webhook the alert sensors post to."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def dagster_dev(webhook):
    """The simulators, webserver and daemon on a free loopback port, fresh state, alerts
    going to the loopback webhook."""
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="lbh-e2e-") as root:
        dev = DagsterDev(Path(root), TABLES_YAML)
        dev.env.update(LBH_ALERT_WEBHOOK_URL=webhook.url, LBH_UI_BASE_URL=dev.url)
        try:
            dev.start()
            dev.wait_until_loaded()
            yield dev
        finally:
            dev.stop()
            with contextlib.suppress(OSError):  # the sandbox goes; keep its log for debugging
                shutil.copy(dev.log_path, DEV_LOG)
            leftovers = dev.leftover_pids()
            assert not leftovers, f"processes left behind: {leftovers}"


@pytest.fixture()
def page(dagster_dev, request):
    from playwright.sync_api import sync_playwright

    # A fresh DAGSTER_HOME shows a "Join the Dagster community" dialog a second after the first
    # page load, which would swallow a click; mark it seen, as its Skip button does.
    dagster_dev.graphql("mutation { setNuxSeen }")
    with (
        tempfile.TemporaryDirectory(prefix="lbh-e2e-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            context.set_default_timeout(30_000)
            page = context.new_page()
            skip = page.get_by_role("button", name="Skip", exact=True)
            page.add_locator_handler(skip, lambda: skip.click())  # should it show anyway
            yield page
            if getattr(request.node, "e2e_failed", False):
                page.screenshot(path=str(FAILURE_SCREENSHOT))
                print(f"screenshot of the failure: {FAILURE_SCREENSHOT}")
                print(f"dagster dev log (tail):\n{dagster_dev.log_tail()}")
        finally:
            context.close()
