"""The heartbeat: a sensor that GETs ``LBH_HEARTBEAT_URL`` every minute, so a dead-man's-switch
monitor outside the platform (a healthchecks.io check, an uptime push monitor) raises the alarm
when the pings stop: the daemon or the code server down, or the daemon's threads stalled.

The alert sensors cannot report their own death; silence can. A ping is sent only while every
daemon the instance needs has sent its own heartbeat recently, so a stalled scheduler or run
queue is silence too. A failed ping is logged and the tick skipped (the next tick is the
retry; the monitor judges the gaps). The URL carries the monitor's token: it is never logged,
only the setting's name, the HTTP status or the error's class, and every message the sensor
gives is masked of every value the settings registry declares secret.
"""

import http.client
import urllib.error
import urllib.request

import dagster as dg
from dagster._daemon.controller import get_daemon_statuses  # 1.13: no public health API

from lbh_platform import settings_registry as registry
from lbh_platform.common.alerts_masking import mask
from lbh_platform.lib.automation_defaults import MONITORING, sensor_status

HEARTBEAT_SENSOR = "lbh_heartbeat"
HEARTBEAT_ENV = "LBH_HEARTBEAT_URL"
INTERVAL_SECONDS = 60
TIMEOUT_SECONDS = 10.0  # connecting, and each read: well inside the tick
DAEMON_TOLERANCE_SECONDS = 300  # a daemon silent this long is not working


def ping(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """(sent, what happened) for one GET of ``url``; the text never contains the URL.

    ``urllib`` rather than ``requests``: urllib3 logs each request's path at DEBUG level, and
    the path carries the token."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return True, f"ping sent to {HEARTBEAT_ENV} (HTTP {response.status})"
    except urllib.error.HTTPError as exc:
        exc.close()
        return False, f"ping to {HEARTBEAT_ENV} failed: HTTP {exc.code}"
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # URLError, timeouts, refused; a malformed URL; an answer that is not HTTP
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        name = type(cause).__name__ if isinstance(cause, BaseException) else type(exc).__name__
        return False, f"ping to {HEARTBEAT_ENV} failed: {name}"


def silent_daemons(instance: dg.DagsterInstance) -> list[str]:
    """The daemons the instance needs that have not sent a heartbeat lately."""
    statuses = get_daemon_statuses(
        instance,
        instance.get_required_daemon_types(),
        heartbeat_tolerance_seconds=DAEMON_TOLERANCE_SECONDS,
        ignore_errors=True,
    )
    return sorted(name for name, status in statuses.items() if not status.healthy)


def build_heartbeat_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name=HEARTBEAT_SENSOR,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=sensor_status(MONITORING),
        description=f"Pings {HEARTBEAT_ENV} (a dead-man's-switch monitor) every minute while "
        "every daemon is alive; the monitor alarms when the pings stop. Skips when unset.",
    )
    def heartbeat(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        url = registry.get(HEARTBEAT_ENV)
        if not url:
            return dg.SkipReason(f"{HEARTBEAT_ENV} is not set: no heartbeat is sent")
        silent = silent_daemons(context.instance)
        if silent:
            message = (
                f"no ping: no recent heartbeat from daemon(s) {', '.join(silent)} "
                f"in {DAEMON_TOLERANCE_SECONDS} s; the monitor will raise the alarm"
            )
            context.log.warning(mask(message))
            return dg.SkipReason(mask(message))
        sent, what = ping(url)
        what = mask(what)
        if not sent:
            context.log.warning(f"{what}; next try in {INTERVAL_SECONDS} s")
        return dg.SkipReason(what)

    return heartbeat
