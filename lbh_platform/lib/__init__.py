"""Dagster wiring. The platform uses two features Dagster marks as beta/preview on purpose:
single-run backfill policies (a backfill range is one ordered run) and partitioned asset
check specs (check results per partition); their warnings are silenced here, once."""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
