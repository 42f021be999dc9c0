"""A loopback Tascomi API (real HTTP) with deterministic data and fault injection."""

from lbh_platform_devkit.tascomi.simulator.server import FAULT_KINDS, TascomiSimulator

__all__ = ["FAULT_KINDS", "TascomiSimulator"]
