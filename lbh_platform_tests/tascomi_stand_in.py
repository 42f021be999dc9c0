"""A Tascomi simulator serving one table, with the API's clock at midnight of a given day:
the stand-in the fault suites inject their faults into."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

LONDON = ZoneInfo("Europe/London")


@contextmanager
def simulator_at(
    table: TascomiTable, catalogue: ColumnTypeCatalogue, day: date, page_size: int
) -> Iterator[TascomiSimulator]:
    """Started with 30 days of history before ``day``; stopped on exit."""
    sim = TascomiSimulator([table], catalogue, epoch=day - timedelta(days=30), page_size=page_size)
    sim.start()
    try:
        sim.set_now(datetime.combine(day, time(0), LONDON))
        yield sim
    finally:
        sim.stop()
