"""Settings read from the environment, with defaults for the embedded local demo.

Every variable is documented in README.md. Secrets are kept out of ``repr``.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from lbh_platform.common.errors import ConfigurationError

SIMULATOR_PORT = 8765
SIMULATOR_PUBLIC_KEY = "sim-public-key"
SIMULATOR_PRIVATE_KEY = "sim-private-key"  # the built-in simulator's key, not a secret
DEFAULT_TASCOMI_URL = f"http://127.0.0.1:{SIMULATOR_PORT}/rest/v1/"
ALLOY_SIMULATOR_PORT = 8766
ALLOY_SIMULATOR_KEY = "sim-alloy-key"  # the built-in simulator's key, not a secret
DEFAULT_ALLOY_URL = f"http://127.0.0.1:{ALLOY_SIMULATOR_PORT}/api/"


def _default_zone(name: str) -> str:
    return str(Path.cwd() / "data" / name)


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

    @property
    def uses_simulator(self) -> bool:
        return self.tascomi_api_url == DEFAULT_TASCOMI_URL


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from the environment; explains what to set when something is missing."""
    env = os.environ if environ is None else environ
    url = env.get("TASCOMI_API_URL") or DEFAULT_TASCOMI_URL
    if not url.endswith("/"):
        url += "/"
    public = env.get("TASCOMI_PUBLIC_KEY")
    private = env.get("TASCOMI_PRIVATE_KEY")
    if url == DEFAULT_TASCOMI_URL:
        public = public or SIMULATOR_PUBLIC_KEY
        private = private or SIMULATOR_PRIVATE_KEY
    elif not public or not private:
        missing = [
            n
            for n, v in (("TASCOMI_PUBLIC_KEY", public), ("TASCOMI_PRIVATE_KEY", private))
            if not v
        ]
        raise ConfigurationError(
            f"TASCOMI_API_URL is set to a real API but {' and '.join(missing)} "
            "is not set: export the Tascomi API keys (or unset TASCOMI_API_URL to use the "
            "built-in simulator)"
        )
    alloy_url = env.get("ALLOY_API_URL") or DEFAULT_ALLOY_URL
    if not alloy_url.endswith("/"):
        alloy_url += "/"
    alloy_key = env.get("ALLOY_API_KEY") or (
        ALLOY_SIMULATOR_KEY if alloy_url == DEFAULT_ALLOY_URL else ""
    )
    if not alloy_key:
        raise ConfigurationError(
            "ALLOY_API_URL is set to a real API but ALLOY_API_KEY is not set: export the Alloy "
            "API key (or unset ALLOY_API_URL to use the built-in simulator)"
        )
    environment = env.get("LBH_ENVIRONMENT", "stg")
    if environment not in ("stg", "prod"):
        raise ConfigurationError(f"LBH_ENVIRONMENT must be stg or prod, got {environment!r}")
    return Settings(
        raw_zone=env.get("LBH_RAW_ZONE") or _default_zone("raw-zone"),
        refined_zone=env.get("LBH_REFINED_ZONE") or _default_zone("refined-zone"),
        environment=environment,
        tascomi_api_url=url,
        tascomi_public_key=public,
        tascomi_private_key=private,
        alloy_api_url=alloy_url,
        alloy_api_key=alloy_key,
        alloy_poll_seconds=float(env.get("ALLOY_POLL_SECONDS") or 2.0),
    )
