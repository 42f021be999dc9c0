"""``make run`` / ``make dev``'s settings (see :mod:`lbh_platform.settings_registry`)."""

from lbh_platform.settings_registry import Setting, declare


def _demo(name: str, meaning: str, default: str, **extra: object) -> Setting:
    return Setting(name, meaning, default=default, scope="demo", deployed=False, **extra)  # type: ignore[arg-type]


declare(
    Setting(
        "LBH_SIM_SCALE",
        "Simulator data volume for `make run` / `make dev` (the simulated world, kept in "
        "`DAGSTER_HOME/simulated_world.json`, is made at the first start's scale).",
        shown_default="the saved world's scale, else `1`",
        scope="demo",
        deployed=False,
    ),
    _demo("LBH_DEMO_DAYS", "Days `make run` materialises.", "4"),
    _demo(
        "LBH_DEMO_TABLES",
        "Comma-separated subset of Tascomi tables for `make run`.",
        "",
        shown_default="all",
    ),
    _demo("LBH_DEV_HOST", "Where `make dev` serves the UI.", "127.0.0.1"),
    _demo("LBH_DEV_PORT", "The port `make dev` serves the UI on.", "3000"),
)
