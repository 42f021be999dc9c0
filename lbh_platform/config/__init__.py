"""Declarative configuration shipped with the package (tables, column types, queries)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).parent
