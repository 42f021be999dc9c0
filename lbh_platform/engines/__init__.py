"""Dataframe engines behind one interface: ``pandas`` (pyarrow, the embedded default) and
``spark`` (dagster-pyspark), chosen by ``LBH_ENGINE``."""

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.engines.base import Engine

ENGINES = ("pandas", "spark")


def engine_name(environ: dict[str, str] | None = None) -> str:
    name = registry.get("LBH_ENGINE", environ) or "pandas"
    name = name.strip().lower() or "pandas"
    if name not in ENGINES:
        raise ConfigurationError(f"LBH_ENGINE must be one of {', '.join(ENGINES)}, got {name!r}")
    return name


__all__ = ["ENGINES", "ArrowEngine", "Engine", "engine_name"]
