"""A table's history: one row per version with its validity range (issue 27), kept daily at a
cost proportional to the day's changes and answering "as of D" as snapshot D.

:mod:`~lbh_platform.history.maintain` is what the wiring calls (``update``, ``rebuild``,
``compact``, ``as_of``, ``versions``), :mod:`~lbh_platform.history.source` describes a
table's history, and ``docs/HISTORY.md`` explains the design. No Dagster here; the engines'
data work is behind :class:`~lbh_platform.history.engine.HistoryOps`.
"""
