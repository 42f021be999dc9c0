"""Event-streamed entities (Tenure, Contact details, ...): a DynamoDB initial state plus change
events from the council's Kafka S3 sink, applied into daily snapshots (ADR 014).

Each entity is one entry of ``config/event_streams.yaml`` and its Avro schema file
(:mod:`lbh_platform.event_streams.spec`); everything here is generic over that entry. Plain
Python, no Dagster: the wiring is ``lbh_platform.defs.event_streams``, one builder over the
entries.
"""
