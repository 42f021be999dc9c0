"""One folder per source (and ``platform/`` for what they share), each bringing its own
``definitions.py``; ``lbh_platform.definitions`` loads them all. Silences Dagster's
beta/preview warnings once (see :mod:`lbh_platform.lib`)."""

import lbh_platform.lib  # noqa: F401
