"""The platform's settings, declared in the one registry (:mod:`lbh_platform.settings_registry`,
which generates docs/CONFIGURATION.md), and ``Settings``: what a run needs, read from the
environment with defaults for the embedded local demo. Secrets are kept out of ``repr``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.settings_registry import Setting, declare
from lbh_platform.storage.aws import aws_region

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
    Setting(
        "AWS_REGION", "AWS region (credentials come from the standard chain).", default="eu-west-2"
    ),
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
        "Extra Spark settings, dots written as `__` (`LBH_SPARK_CONF_SPARK__EXECUTOR__MEMORY=4g`).",
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
    """The platform's own settings: where the lake is and which catalogues it keeps. Each
    source reads its own (``<source>/settings.py``)."""

    raw_zone: str
    refined_zone: str
    environment: str = "stg"
    glue_catalog: bool = False
    duckdb_catalog: bool = True
    duckdb_path: str = ""
    aws_region: str = "eu-west-2"

    @property
    def zones(self) -> dict[str, str]:
        return {"raw": self.raw_zone, "refined": self.refined_zone}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The platform's settings from the environment; explains what to fix when one is wrong."""
    env = registry.environ(environ)
    environment = registry.get("LBH_ENVIRONMENT", env) or "stg"
    if environment not in ("stg", "prod"):
        raise ConfigurationError(f"LBH_ENVIRONMENT must be stg or prod, got {environment!r}")
    raw_zone = registry.get("LBH_RAW_ZONE", env) or _default_zone("raw-zone")
    refined_zone = registry.get("LBH_REFINED_ZONE", env) or _default_zone("refined-zone")
    all_local = _is_local(raw_zone) and _is_local(refined_zone)
    return Settings(
        raw_zone=raw_zone,
        refined_zone=refined_zone,
        environment=environment,
        glue_catalog=registry.flag("LBH_GLUE_CATALOG", env),
        duckdb_catalog=registry.flag("LBH_DUCKDB_CATALOG", env, default=all_local),
        duckdb_path=duckdb_path(env),
        aws_region=aws_region(env),
    )
