"""Seed a local run (``make run``, ``make dev``) with every configured event-streamed entity: a
DynamoDB stand-in holding each entity's table as of the first day, and each day's events written
as the S3 sink writes them (one Parquet file per event, ``import_year=/.../import_date=``)."""

from collections.abc import Callable
from datetime import date

from lbh_platform import settings_registry as registry
from lbh_platform.event_streams.spec import load_event_streams
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform_devkit.event_streams.generator import generate_stream, write_day
from lbh_platform_devkit.event_streams.stand_in import DynamoDbStandIn, stand_in_for


def seed_event_streams(
    days: list[date],
    *,
    entities: int,
    port: int = 0,
    start: Callable | None = None,
) -> DynamoDbStandIn:
    """Start the stand-in (through ``start(make, port)`` when given, e.g. to fall back to a
    free port), seed it and the raw zone, point ``AWS_ENDPOINT_URL_DYNAMODB`` at it; the caller
    stops it."""
    streams = load_event_streams()
    if start is None:
        stand_in = stand_in_for(streams, port=port)
        stand_in.start()
    else:
        stand_in = start(lambda chosen: stand_in_for(streams, port=chosen), port)
    settings = load_settings()
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    for number, stream in enumerate(streams):
        generated = generate_stream(stream, days, entities=entities, seed=number)
        table = registry.get(f"{stream.env_prefix}_DYNAMODB_TABLE") or stream.dynamodb_table
        stand_in.load(stream, generated.initial, table_name=table)
        for truth in generated.days:
            write_day(lake, truth, stream)
    registry.put("AWS_ENDPOINT_URL_DYNAMODB", stand_in.endpoint_url)
    return stand_in
