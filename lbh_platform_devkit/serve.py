"""``make serve``: the production topology on this machine (``lbh_platform.deploy.serve``), with
the registered stand-ins for every API whose real service is not configured.

The stand-ins serve a world that began 60 days ago, at ``LBH_SIM_SCALE`` (default 1); no event
files are seeded.
"""

from datetime import date, timedelta

from lbh_platform import settings_registry as registry
from lbh_platform.deploy import serve
from lbh_platform_devkit.local import LocalStandIns
from lbh_platform_devkit.stand_ins import LocalWorld

WORLD_DAYS = 60


def stand_ins() -> LocalStandIns:
    """The stand-ins ``make serve`` runs, started now (they set the services' environment)."""
    world = LocalWorld(
        epoch=date.today() - timedelta(days=WORLD_DAYS),
        scale=float(registry.get("LBH_SIM_SCALE") or 1),
    )
    return LocalStandIns(world, keep_real_services=True)


def main() -> int:
    return serve.main(local_apis=stand_ins)


if __name__ == "__main__":
    raise SystemExit(main())
