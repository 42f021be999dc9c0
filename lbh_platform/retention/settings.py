"""Retention's settings (see :mod:`lbh_platform.settings_registry`)."""

from lbh_platform.settings_registry import Setting, declare

CONFIG = "LBH_RETENTION_CONFIG"

declare(
    Setting(
        CONFIG,
        "The snapshot retention file (defaults and per-table overrides).",
        shown_default="`lbh_platform/config/retention.yaml`",
    ),
)
