"""Every source's spec, found by walking ``lbh_platform/defs``: a source's folder whose
``definitions.py`` offers ``source_specs()`` is a source. No source is named here."""

import importlib
import pkgutil

import lbh_platform.defs
from lbh_platform.lib.spec import SourceSpec


def all_source_specs() -> list[SourceSpec]:
    specs: list[SourceSpec] = []
    for folder in pkgutil.iter_modules(lbh_platform.defs.__path__):
        if not folder.ispkg:
            continue
        try:
            module = importlib.import_module(f"lbh_platform.defs.{folder.name}.definitions")
        except ModuleNotFoundError:
            continue
        make = getattr(module, "source_specs", None)
        if make is not None:
            specs.extend(make())
    return specs
