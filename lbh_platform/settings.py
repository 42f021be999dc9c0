"""The platform's settings, declared in the one registry (:mod:`lbh_platform.settings_registry`,
which generates docs/CONFIGURATION.md), and ``Settings``: what a run needs, read from the
environment with defaults for the embedded local demo. Secrets are kept out of ``repr``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.alloy import settings as alloy_settings
from lbh_platform.alloy.client import DEFAULT_MAX_MEMBER_BYTES
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.settings_registry import Setting, declare
from lbh_platform.storage.aws import aws_region
from lbh_platform.tascomi import settings as tascomi_settings

SIMULATOR_PORT = tascomi_settings.SIMULATOR_PORT
SIMULATOR_PUBLIC_KEY = "sim-public-key"
SIMULATOR_PRIVATE_KEY = "sim-private-key"  # the built-in simulator's key, not a secret
DEFAULT_TASCOMI_URL = tascomi_settings.DEFAULT_URL
ALLOY_SIMULATOR_PORT = alloy_settings.SIMULATOR_PORT
ALLOY_SIMULATOR_KEY = "sim-alloy-key"  # the built-in simulator's key, not a secret
DEFAULT_ALLOY_URL = alloy_settings.DEFAULT_URL

declare(
    Setting(
        "LBH_RAW_ZONE",
        "Raw zone: a folder or `s3://bucket/prefix`.",
        shown_default="`./data/raw-zone`",
        compose_default="/data/raw-zone",
    ),
    Setting(
        "LBH_REFINED_ZONE",
        "Refined zone: a folder or `s3://bucket/prefix`.",
        shown_default="`./data/refined-zone`",
        compose_default="/data/refined-zone",
    ),
    Setting("LBH_ENVIRONMENT", "`stg` or `prod`, in catalogue database names.", default="stg"),
    Setting(
        "LBH_GLUE_CATALOG",
        "Register every published partition in the Glue Data Catalog.",
        default="false",
    ),
    Setting(
        "LBH_DUCKDB_CATALOG",
        "Keep the local SQL catalogue.",
        shown_default="`true` when both zones are local",
    ),
    Setting(
        "LBH_DUCKDB_PATH",
        "The local SQL catalogue file.",
        shown_default="`catalog.duckdb` beside the raw zone (`./data/catalog.duckdb`)",
    ),
    Setting(
        "LBH_SQL_MEMORY_LIMIT",
        "DuckDB `memory_limit` of each SQL command-line session (`512MB`, `4GB`); a statement "
        "needing more stops with an error naming this variable.",
        default="2GB",
        deployed=False,
    ),
    Setting(
        "LBH_SQL_THREADS",
        "DuckDB `threads` of each SQL command-line session.",
        default="2",
        deployed=False,
    ),
    Setting(
        "LBH_SQL_TIMEOUT_SECONDS",
        "A SQL command-line statement running longer is interrupted, with an error naming "
        "this variable.",
        default="300",
        deployed=False,
    ),
    Setting("AWS_REGION", "AWS region (credentials come from the standard chain).",
            default="eu-west-2"),
    Setting("AWS_DEFAULT_REGION", "AWS region when `AWS_REGION` is unset.", deployed=False),
    Setting("AWS_ENDPOINT_URL", "An S3-compatible store or stand-in for every AWS service."),
    Setting("AWS_ENDPOINT_URL_S3", "An S3-compatible store or stand-in for S3."),
    Setting("AWS_ENDPOINT_URL_GLUE", "A Glue stand-in."),
    Setting("AWS_ENDPOINT_URL_SECRETS_MANAGER", "A Secrets Manager stand-in."),
    Setting(
        "AWS_ENDPOINT_URL_DYNAMODB",
        "The DynamoDB endpoint of the event-streamed entities' initial state (the demo sets "
        "its stand-in).",
    ),
    Setting(
        "AWS_ACCESS_KEY_ID",
        "Looked at only to tell whether credentials were given (a local DynamoDB stand-in "
        "otherwise gets dummy ones); the standard AWS chain reads it.",
        deployed=False,
    ),
    Setting("AWS_PROFILE", "As `AWS_ACCESS_KEY_ID`.", deployed=False),
    Setting(
        "REQUESTS_CA_BUNDLE",
        "CA bundle for HTTPS to the APIs (as `requests` reads it; also `CURL_CA_BUNDLE`).",
        deployed=False,
    ),
    Setting("CURL_CA_BUNDLE", "As `REQUESTS_CA_BUNDLE`.", deployed=False),
    Setting(
        "LBH_MAX_DELETION_SHARE",
        "A full export (Alloy) may delete at most this share of a snapshot's rows without "
        "confirmation.",
        default="0.2",
    ),
    Setting("LBH_ENGINE", "`pandas` (pyarrow, one machine) or `spark`.", default="pandas"),
    Setting(
        "LBH_STEP_PROCESSES",
        "Steps a run executes at once: `1` runs every step in the run's own process; `N` > 1 "
        "forks up to N step processes from a server that has loaded the definitions once.",
        default="1",
    ),
    Setting("LBH_SPARK_MASTER", "`spark.master` for the Spark engine.", default="local[2]"),
    Setting(
        "LBH_SPARK_CONF_",
        "Extra Spark settings, dots written as `__` "
        "(`LBH_SPARK_CONF_SPARK__EXECUTOR__MEMORY=4g`).",
        pattern=True,
        deployed=False,
    ),
    Setting(
        "DAGSTER_HOME",
        "Dagster's instance folder (`dagster.yaml`; run and event storage on the embedded "
        "default).",
        shown_default="`./.dagster_home` (set by `make`)",
        deployed=False,
    ),
    Setting(
        "LBH_MONITORING_FILE",
        "Freshness deadlines and volume bands (docs/MONITORING.md).",
        shown_default="`lbh_platform/config/monitoring.yaml`",
        scope="monitoring",
    ),
    Setting(
        "LBH_ALERT_WEBHOOK_URL",
        "Google Chat / Slack / Microsoft Teams incoming-webhook URL the alert sensors post to "
        "(unset: alerts are only logged by the sensors).",
        secret=True,
        scope="monitoring",
    ),
    Setting(
        "LBH_UI_BASE_URL",
        "The Dagster UI's address, for the run links in alerts.",
        default="http://127.0.0.1:3000",
        scope="monitoring",
    ),
)


def _default_zone(name: str) -> str:
    return str(Path.cwd() / "data" / name)


def _is_local(zone: str) -> bool:
    return "://" not in zone or zone.startswith("file://")


def duckdb_path(environ: Mapping[str, str] | None = None) -> str:
    """The local SQL catalogue file: ``LBH_DUCKDB_PATH``, else next to the raw zone
    (``./data/catalog.duckdb`` for the default zones). Needs no API configuration, so the
    SQL command line can use it on its own."""
    from lbh_platform.catalog.duckdb_catalog import default_duckdb_path

    chosen = registry.get("LBH_DUCKDB_PATH", environ)
    if chosen:
        return str(Path(chosen).expanduser().resolve())
    raw = registry.get("LBH_RAW_ZONE", environ) or _default_zone("raw-zone")
    return default_duckdb_path(raw if _is_local(raw) else _default_zone("raw-zone"))


def zone_roots(environ: Mapping[str, str] | None = None) -> list[str]:
    """The raw and refined zones (``LBH_RAW_ZONE`` / ``LBH_REFINED_ZONE`` or the defaults),
    without any API configuration: what the SQL command line may read."""
    return [
        registry.get("LBH_RAW_ZONE", environ) or _default_zone("raw-zone"),
        registry.get("LBH_REFINED_ZONE", environ) or _default_zone("refined-zone"),
    ]


@dataclass(frozen=True)
class Settings:
    raw_zone: str
    refined_zone: str
    environment: str
    tascomi_api_url: str
    tascomi_public_key: str
    tascomi_private_key: str = field(repr=False)
    alloy_api_url: str = DEFAULT_ALLOY_URL
    alloy_api_key: str = field(default=ALLOY_SIMULATOR_KEY, repr=False)
    alloy_poll_seconds: float = 2.0
    alloy_max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    tascomi_secret_id: str | None = None
    alloy_secret_id: str | None = None
    glue_catalog: bool = False
    duckdb_catalog: bool = True
    duckdb_path: str = ""
    aws_region: str = "eu-west-2"
    # What the Tascomi API may send before a run fails (the client's and RetryPolicy's
    # defaults): one request's whole response, its body, pages per fetch, empty pages in a
    # row, records per record the table held.
    tascomi_request_deadline_seconds: float = 600.0
    tascomi_max_body_mb: float = 256.0
    tascomi_max_pages: int = 100_000
    tascomi_max_empty_pages: int = 10
    tascomi_max_growth: float = 10.0

    @property
    def uses_simulator(self) -> bool:
        return self.tascomi_api_url == DEFAULT_TASCOMI_URL

    @property
    def zones(self) -> dict[str, str]:
        return {"raw": self.raw_zone, "refined": self.refined_zone}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment; explains what to set when something is missing."""
    env = registry.environ(environ)

    def get(name: str) -> str | None:
        return registry.get(name, env)

    url = get("TASCOMI_API_URL") or DEFAULT_TASCOMI_URL
    if not url.endswith("/"):
        url += "/"
    public = get("TASCOMI_PUBLIC_KEY")
    private = get("TASCOMI_PRIVATE_KEY")
    # Plain variables win; the secret is read at run time by the API resource, never here.
    tascomi_secret = None if public and private else get("TASCOMI_SECRET_ID") or None
    if url == DEFAULT_TASCOMI_URL and not tascomi_secret:
        public = public or SIMULATOR_PUBLIC_KEY
        private = private or SIMULATOR_PRIVATE_KEY
    elif tascomi_secret:
        public, private = "", ""
    elif not public or not private:
        missing = [
            n
            for n, v in (("TASCOMI_PUBLIC_KEY", public), ("TASCOMI_PRIVATE_KEY", private))
            if not v
        ]
        raise ConfigurationError(
            f"TASCOMI_API_URL is set to a real API but {' and '.join(missing)} "
            "is not set: export the Tascomi API keys, or TASCOMI_SECRET_ID naming a Secrets "
            "Manager secret that holds them (or unset TASCOMI_API_URL to use the built-in "
            "simulator)"
        )
    alloy_url = get("ALLOY_API_URL") or DEFAULT_ALLOY_URL
    if not alloy_url.endswith("/"):
        alloy_url += "/"
    alloy_secret = None if get("ALLOY_API_KEY") else get("ALLOY_SECRET_ID") or None
    alloy_key = get("ALLOY_API_KEY") or (
        ALLOY_SIMULATOR_KEY if alloy_url == DEFAULT_ALLOY_URL and not alloy_secret else ""
    )
    if not alloy_key and not alloy_secret:
        raise ConfigurationError(
            "ALLOY_API_URL is set to a real API but ALLOY_API_KEY is not set: export the Alloy "
            "API key, or ALLOY_SECRET_ID naming a Secrets Manager secret that holds it (or "
            "unset ALLOY_API_URL to use the built-in simulator)"
        )
    environment = get("LBH_ENVIRONMENT") or "stg"
    if environment not in ("stg", "prod"):
        raise ConfigurationError(f"LBH_ENVIRONMENT must be stg or prod, got {environment!r}")
    raw_zone = get("LBH_RAW_ZONE") or _default_zone("raw-zone")
    refined_zone = get("LBH_REFINED_ZONE") or _default_zone("refined-zone")
    all_local = _is_local(raw_zone) and _is_local(refined_zone)
    return Settings(
        raw_zone=raw_zone,
        refined_zone=refined_zone,
        environment=environment,
        tascomi_api_url=url,
        tascomi_public_key=public,
        tascomi_private_key=private,
        alloy_api_url=alloy_url,
        alloy_api_key=alloy_key,
        alloy_poll_seconds=registry.number("ALLOY_POLL_SECONDS", env),
        alloy_max_member_bytes=int(registry.number("ALLOY_MAX_MEMBER_BYTES", env, int)),
        tascomi_secret_id=tascomi_secret,
        alloy_secret_id=alloy_secret,
        glue_catalog=registry.flag("LBH_GLUE_CATALOG", env),
        duckdb_catalog=registry.flag("LBH_DUCKDB_CATALOG", env, default=all_local),
        duckdb_path=duckdb_path(env),
        aws_region=aws_region(env),
        **_tascomi_limits(env),
    )


def _tascomi_limits(env: Mapping[str, str]) -> dict[str, float]:
    """The Tascomi limits from ``TASCOMI_REQUEST_DEADLINE_SECONDS``, ``TASCOMI_MAX_BODY_MB``,
    ``TASCOMI_MAX_PAGES``, ``TASCOMI_MAX_EMPTY_PAGES`` and ``TASCOMI_MAX_GROWTH``."""
    return {
        "tascomi_request_deadline_seconds": registry.number(
            "TASCOMI_REQUEST_DEADLINE_SECONDS", env
        ),
        "tascomi_max_body_mb": registry.number("TASCOMI_MAX_BODY_MB", env),
        "tascomi_max_pages": registry.number("TASCOMI_MAX_PAGES", env, int),
        "tascomi_max_empty_pages": registry.number("TASCOMI_MAX_EMPTY_PAGES", env, int),
        "tascomi_max_growth": registry.number("TASCOMI_MAX_GROWTH", env),
    }
