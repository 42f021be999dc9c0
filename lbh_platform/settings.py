"""Settings read from the environment, with defaults for the embedded local demo.

Every variable is documented in README.md. Secrets are kept out of ``repr``.
"""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lbh_platform.alloy.client import DEFAULT_MAX_MEMBER_BYTES
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.storage.aws import aws_region

SIMULATOR_PORT = 8765
SIMULATOR_PUBLIC_KEY = "sim-public-key"
SIMULATOR_PRIVATE_KEY = "sim-private-key"  # the built-in simulator's key, not a secret
DEFAULT_TASCOMI_URL = f"http://127.0.0.1:{SIMULATOR_PORT}/rest/v1/"
ALLOY_SIMULATOR_PORT = 8766
ALLOY_SIMULATOR_KEY = "sim-alloy-key"  # the built-in simulator's key, not a secret
DEFAULT_ALLOY_URL = f"http://127.0.0.1:{ALLOY_SIMULATOR_PORT}/api/"


def _default_zone(name: str) -> str:
    return str(Path.cwd() / "data" / name)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {value!r}")


def _positive(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    """A positive number from ``name`` (``kind`` int: a whole one), else ``default``."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        whole = "whole " if kind is int else ""
        raise ConfigurationError(f"{name} must be a positive {whole}number, got {text!r}")
    return value


def _is_local(zone: str) -> bool:
    return "://" not in zone or zone.startswith("file://")


def duckdb_path(environ: Mapping[str, str] | None = None) -> str:
    """The local SQL catalogue file: ``LBH_DUCKDB_PATH``, else next to the raw zone
    (``./data/catalog.duckdb`` for the default zones). Needs no API configuration, so the
    SQL command line can use it on its own."""
    from lbh_platform.catalog.duckdb_catalog import default_duckdb_path

    env = os.environ if environ is None else environ
    if env.get("LBH_DUCKDB_PATH"):
        return str(Path(env["LBH_DUCKDB_PATH"]).expanduser().resolve())
    raw = env.get("LBH_RAW_ZONE") or _default_zone("raw-zone")
    return default_duckdb_path(raw if _is_local(raw) else _default_zone("raw-zone"))


def zone_roots(environ: Mapping[str, str] | None = None) -> list[str]:
    """The raw and refined zones (``LBH_RAW_ZONE`` / ``LBH_REFINED_ZONE`` or the defaults),
    without any API configuration: what the SQL command line may read."""
    env = os.environ if environ is None else environ
    return [
        env.get("LBH_RAW_ZONE") or _default_zone("raw-zone"),
        env.get("LBH_REFINED_ZONE") or _default_zone("refined-zone"),
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
    env = os.environ if environ is None else environ
    url = env.get("TASCOMI_API_URL") or DEFAULT_TASCOMI_URL
    if not url.endswith("/"):
        url += "/"
    public = env.get("TASCOMI_PUBLIC_KEY")
    private = env.get("TASCOMI_PRIVATE_KEY")
    # Plain variables win; the secret is read at run time by the API resource, never here.
    tascomi_secret = None if public and private else env.get("TASCOMI_SECRET_ID") or None
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
    alloy_url = env.get("ALLOY_API_URL") or DEFAULT_ALLOY_URL
    if not alloy_url.endswith("/"):
        alloy_url += "/"
    alloy_secret = None if env.get("ALLOY_API_KEY") else env.get("ALLOY_SECRET_ID") or None
    alloy_key = env.get("ALLOY_API_KEY") or (
        ALLOY_SIMULATOR_KEY if alloy_url == DEFAULT_ALLOY_URL and not alloy_secret else ""
    )
    if not alloy_key and not alloy_secret:
        raise ConfigurationError(
            "ALLOY_API_URL is set to a real API but ALLOY_API_KEY is not set: export the Alloy "
            "API key, or ALLOY_SECRET_ID naming a Secrets Manager secret that holds it (or "
            "unset ALLOY_API_URL to use the built-in simulator)"
        )
    environment = env.get("LBH_ENVIRONMENT", "stg")
    if environment not in ("stg", "prod"):
        raise ConfigurationError(f"LBH_ENVIRONMENT must be stg or prod, got {environment!r}")
    raw_zone = env.get("LBH_RAW_ZONE") or _default_zone("raw-zone")
    refined_zone = env.get("LBH_REFINED_ZONE") or _default_zone("refined-zone")
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
        alloy_poll_seconds=float(env.get("ALLOY_POLL_SECONDS") or 2.0),
        alloy_max_member_bytes=int(
            _positive(env, "ALLOY_MAX_MEMBER_BYTES", DEFAULT_MAX_MEMBER_BYTES, int)
        ),
        tascomi_secret_id=tascomi_secret,
        alloy_secret_id=alloy_secret,
        glue_catalog=_flag(env, "LBH_GLUE_CATALOG", False),
        duckdb_catalog=_flag(env, "LBH_DUCKDB_CATALOG", all_local),
        duckdb_path=duckdb_path(env),
        aws_region=aws_region(env),
        **_tascomi_limits(env),
    )


def _tascomi_limits(env: Mapping[str, str]) -> dict[str, float]:
    """The Tascomi limits from ``TASCOMI_REQUEST_DEADLINE_SECONDS``, ``TASCOMI_MAX_BODY_MB``,
    ``TASCOMI_MAX_PAGES``, ``TASCOMI_MAX_EMPTY_PAGES`` and ``TASCOMI_MAX_GROWTH``."""
    return {
        "tascomi_request_deadline_seconds": _positive(
            env, "TASCOMI_REQUEST_DEADLINE_SECONDS", Settings.tascomi_request_deadline_seconds
        ),
        "tascomi_max_body_mb": _positive(env, "TASCOMI_MAX_BODY_MB", Settings.tascomi_max_body_mb),
        "tascomi_max_pages": _positive(env, "TASCOMI_MAX_PAGES", Settings.tascomi_max_pages, int),
        "tascomi_max_empty_pages": _positive(
            env, "TASCOMI_MAX_EMPTY_PAGES", Settings.tascomi_max_empty_pages, int
        ),
        "tascomi_max_growth": _positive(env, "TASCOMI_MAX_GROWTH", Settings.tascomi_max_growth),
    }
