"""Tascomi's settings (see :mod:`lbh_platform.settings_registry`)."""

from collections.abc import Mapping
from dataclasses import dataclass

from lbh_platform import settings_registry as registry
from lbh_platform.common.credentials import ApiAccess, api_access
from lbh_platform.settings_registry import Setting, declare

SIMULATOR_PORT = 8765
DEFAULT_URL = f"http://127.0.0.1:{SIMULATOR_PORT}/rest/v1/"

declare(
    Setting(
        "TASCOMI_API_URL",
        "Tascomi REST base URL; production `https://hackney-planning.idoxcloud.com/rest/v1/`.",
        shown_default=f"`{DEFAULT_URL}` (the built-in simulator)",
        scope="sources",
    ),
    Setting(
        "TASCOMI_PUBLIC_KEY",
        "Sent as `X-Public`.",
        shown_default="`sim-public-key` for the simulator; otherwise required",
        scope="sources",
    ),
    Setting(
        "TASCOMI_PRIVATE_KEY",
        "Signs `X-Hash`; shown in the UI only as the variable name.",
        shown_default="`sim-private-key` for the simulator; otherwise required",
        secret=True,
        scope="sources",
    ),
    Setting(
        "TASCOMI_SECRET_ID",
        'AWS Secrets Manager secret (`{"public_key", "private_key"}`) used when the plain keys '
        "are absent.",
        scope="sources",
    ),
    Setting(
        "TASCOMI_REQUEST_DEADLINE_SECONDS",
        "Longest one Tascomi request may take, connect to the last byte of the body; past it "
        "the attempt is retried like a timeout, then the run fails naming table and page.",
        default="600",
        scope="sources",
    ),
    Setting(
        "TASCOMI_MAX_BODY_MB",
        "Largest page body taken (MB of 10^6 bytes); a larger one fails the run at once.",
        default="256",
        scope="sources",
    ),
    Setting(
        "TASCOMI_MAX_PAGES",
        "Most pages one fetch may take: a larger announced count is refused after page 1.",
        default="100000",
        scope="sources",
    ),
    Setting(
        "TASCOMI_MAX_EMPTY_PAGES",
        "Empty pages in a row (where page 1 announced records) after which a fetch stops with "
        "an error: an over-reported count.",
        default="10",
        scope="sources",
    ),
    Setting(
        "TASCOMI_MAX_GROWTH",
        "A fetch may bring at most this many times the records the table held at its last "
        "snapshot (at least 10,000); a larger announced count is refused after page 1.",
        default="10",
        scope="sources",
    ),
    Setting(
        "LBH_TASCOMI_TABLES_FILE",
        "The Tascomi table list.",
        shown_default="`lbh_platform/config/tascomi_tables.yaml`",
        scope="sources",
    ),
    Setting(
        "LBH_TASCOMI_COLUMN_TYPES_FILE",
        "The column-type catalogue.",
        shown_default="`lbh_platform/config/tascomi_column_types.yaml`",
        scope="sources",
    ),
)

SIMULATOR_PUBLIC_KEY = "sim-public-key"
SIMULATOR_PRIVATE_KEY = "sim-private-key"  # the built-in simulator's key, not a secret


@dataclass(frozen=True)
class TascomiSettings:
    """The API's address and keys, and what it may send before a run fails: one request's
    whole response, a body's size, pages per fetch, empty pages in a row, and records per
    record the table held."""

    access: ApiAccess
    request_deadline_seconds: float = 600.0
    max_body_mb: float = 256.0
    max_pages: int = 100_000
    max_empty_pages: int = 10
    max_growth: float = 10.0

    @property
    def uses_simulator(self) -> bool:
        return self.access.url == DEFAULT_URL


def load_tascomi_settings(environ: Mapping[str, str] | None = None) -> TascomiSettings:
    env = registry.environ(environ)
    return TascomiSettings(
        access=api_access(
            source="Tascomi",
            url_variable="TASCOMI_API_URL",
            simulator_url=DEFAULT_URL,
            key_variables={
                "public_key": "TASCOMI_PUBLIC_KEY",
                "private_key": "TASCOMI_PRIVATE_KEY",
            },
            simulator_keys={
                "public_key": SIMULATOR_PUBLIC_KEY,
                "private_key": SIMULATOR_PRIVATE_KEY,
            },
            secret_variable="TASCOMI_SECRET_ID",
            environ=env,
        ),
        request_deadline_seconds=registry.number("TASCOMI_REQUEST_DEADLINE_SECONDS", env),
        max_body_mb=registry.number("TASCOMI_MAX_BODY_MB", env),
        max_pages=int(registry.number("TASCOMI_MAX_PAGES", env, int)),
        max_empty_pages=int(registry.number("TASCOMI_MAX_EMPTY_PAGES", env, int)),
        max_growth=registry.number("TASCOMI_MAX_GROWTH", env),
    )
