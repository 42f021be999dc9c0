"""Every source's spec, found by walking ``lbh_platform/defs``: a source's folder whose
``definitions.py`` offers ``source_specs()`` is a source. No source is named here."""

import importlib
import importlib.util
import pkgutil

import lbh_platform.defs
from lbh_platform.lib.spec import SourceSpec


def all_source_specs() -> list[SourceSpec]:
    specs: list[SourceSpec] = []
    for folder in pkgutil.iter_modules(lbh_platform.defs.__path__):
        name = f"lbh_platform.defs.{folder.name}.definitions"
        if not folder.ispkg or importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)  # an error inside it is not "no source"
        make = getattr(module, "source_specs", None)
        if make is not None:
            specs.extend(make())
    return specs
