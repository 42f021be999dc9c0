"""A loopback Alloy export API (real HTTP) with deterministic, day-by-day data."""

from lbh_platform_devkit.alloy.simulator.data import DEFAULT_EPOCH
from lbh_platform_devkit.alloy.simulator.server import AlloySimulator, find_last_edit_after

__all__ = ["DEFAULT_EPOCH", "AlloySimulator", "find_last_edit_after"]
