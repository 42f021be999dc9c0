"""Alloy's settings (see :mod:`lbh_platform.settings_registry`)."""

from collections.abc import Mapping
from dataclasses import dataclass

from lbh_platform import settings_registry as registry
from lbh_platform.common.credentials import ApiAccess, api_access
from lbh_platform.settings_registry import Setting, declare

SIMULATOR_PORT = 8766
DEFAULT_URL = f"http://127.0.0.1:{SIMULATOR_PORT}/api/"

declare(
    Setting(
        "ALLOY_API_URL",
        "Alloy API base; production `https://api.uk.alloyapp.io/api/`.",
        shown_default=f"`{DEFAULT_URL}` (the built-in simulator)",
        scope="sources",
    ),
    Setting(
        "ALLOY_API_KEY",
        "Sent as `Authorization: Bearer …`, only to the configured API.",
        shown_default="`sim-alloy-key` for the simulator; otherwise required",
        secret=True,
        scope="sources",
    ),
    Setting(
        "ALLOY_SECRET_ID",
        'Secrets Manager secret (`{"api_key"}`) used when `ALLOY_API_KEY` is absent.',
        scope="sources",
    ),
    Setting(
        "ALLOY_POLL_SECONDS",
        "First interval when polling an export task (backs off ×1.5 to 60 s, gives up after "
        "30 min).",
        default="2",
        scope="sources",
    ),
    Setting(
        "ALLOY_MAX_MEMBER_BYTES",
        "Largest uncompressed CSV read from an export zip (and largest zip downloaded): a "
        "member declaring more, or holding more than it declares, fails the export naming it.",
        default="2147483648",
        scope="sources",
    ),
    Setting(
        "LBH_ALLOY_DATASETS_DIR",
        "The Alloy AQS query files.",
        shown_default="`lbh_platform/config/alloy/`",
        scope="sources",
    ),
)

SIMULATOR_KEY = "sim-alloy-key"  # the built-in simulator's key, not a secret


@dataclass(frozen=True)
class AlloySettings:
    access: ApiAccess
    poll_seconds: float = 2.0
    max_member_bytes: int = 2**31


def load_alloy_settings(environ: Mapping[str, str] | None = None) -> AlloySettings:
    env = registry.environ(environ)
    return AlloySettings(
        access=api_access(
            source="Alloy",
            url_variable="ALLOY_API_URL",
            simulator_url=DEFAULT_URL,
            key_variables={"api_key": "ALLOY_API_KEY"},
            simulator_keys={"api_key": SIMULATOR_KEY},
            secret_variable="ALLOY_SECRET_ID",
            environ=env,
        ),
        poll_seconds=registry.number("ALLOY_POLL_SECONDS", env),
        max_member_bytes=int(registry.number("ALLOY_MAX_MEMBER_BYTES", env, int)),
    )
