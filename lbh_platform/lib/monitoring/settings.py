"""Settings of the monitoring sensors (see :mod:`lbh_platform.settings_registry`); the alert
webhook's are platform-wide, in :mod:`lbh_platform.settings`."""

from lbh_platform.settings_registry import Setting, declare

declare(
    Setting(
        "LBH_HEARTBEAT_URL",
        "Dead-man's-switch URL (healthchecks.io check, an uptime push monitor) that the "
        "`lbh_heartbeat` sensor GETs every minute while the daemon and code server work; its "
        "monitor raises the alarm when the pings stop (unset: no pings, the sensor skips).",
        secret=True,
        scope="monitoring",
    ),
)
