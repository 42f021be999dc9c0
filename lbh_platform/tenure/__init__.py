"""Tenure (housing) data: a DynamoDB initial state plus change events, applied into daily
snapshots (ADR 014). Plain Python, no Dagster: the wiring lives in ``lbh_platform.defs.tenure``.
"""
