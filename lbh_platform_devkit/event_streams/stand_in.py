"""A DynamoDB stand-in on loopback for tests and local runs: moto's server mode over HTTP.

The pipeline talks to it exactly as to AWS (boto3, SigV4, the real wire protocol, parallel
scan segments and ``LastEvaluatedKey`` paging), only the endpoint differs
(``AWS_ENDPOINT_URL_DYNAMODB``). One server holds a table per event-streamed entity, seeded
with generated entities in the table's own shape: camelCase attributes, nested maps and lists,
ISO-8601 dates and a ``versionNumber``.

Run ``python -m lbh_platform_devkit.event_streams.stand_in`` to start one with a few days of event
files of every configured entity in the raw zone, for ``dagster dev``.
"""

import argparse
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from lbh_platform import settings_registry as registry
from lbh_platform_devkit.event_streams.generator import camel, dynamodb_item

if TYPE_CHECKING:
    from lbh_platform.event_streams.spec import EventStream

DEFAULT_TABLE = "TenureInformation"
REGION = "eu-west-2"
# moto accepts any credentials; these only keep boto3 from looking for real ones.
STAND_IN_CREDENTIALS = {"aws_access_key_id": "stand-in", "aws_secret_access_key": "stand-in"}

log = logging.getLogger(__name__)


class DynamoDbStandIn:
    """moto's ThreadedMotoServer on ``host`` (a free port by default) with its tables (name ->
    hash key attribute; a bare name is keyed by ``id``).

    Moto keeps its state per process, so ``start`` drops and recreates its tables: one
    stand-in per table name per process at a time. ``table_name`` is the first table, the one
    the single-table methods use unless told another.
    """

    def __init__(
        self,
        table_name: str | Sequence[str] | dict[str, str] = DEFAULT_TABLE,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if isinstance(table_name, str):
            table_name = [table_name]
        self.tables = (
            dict(table_name) if isinstance(table_name, dict) else dict.fromkeys(table_name, "id")
        )
        self.table_name = next(iter(self.tables))
        self.host = host
        self.port = port
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> str:
        """Start the server, create the table (empty) and return the endpoint URL."""
        from moto.server import ThreadedMotoServer  # deferred: moto is a test/demo dependency

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        client = self.client()
        for name, key in self.tables.items():
            # Moto's state is per process: drop only our tables (never a global reset, which
            # would wipe other stand-ins' buckets or tables in the same test session).
            with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                client.delete_table(TableName=name)
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        return self.endpoint_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "DynamoDbStandIn":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        """A boto3 client for the stand-in (no retries of its own: tests see every error)."""
        if not self.endpoint_url:
            raise RuntimeError("the DynamoDB stand-in is not started")
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
            **STAND_IN_CREDENTIALS,
        )

    def put_items(self, items: Iterable[dict[str, Any]], table_name: str | None = None) -> int:
        """Put plain items (strings, Decimals, bools, None, maps, lists) as they are."""
        table = boto3.resource(
            "dynamodb", endpoint_url=self.endpoint_url, region_name=REGION, **STAND_IN_CREDENTIALS
        ).Table(table_name or self.table_name)
        count = 0
        with table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)
                count += 1
        return count

    def delete_ids(self, ids: Iterable[str], table_name: str | None = None) -> None:
        client = self.client()
        name = table_name or self.table_name
        key = self.tables.get(name, "id")
        for entity_id in ids:
            client.delete_item(TableName=name, Key={key: {"S": entity_id}})

    def ids(self, table_name: str | None = None) -> set[str]:
        name = table_name or self.table_name
        key = self.tables.get(name, "id")
        found: set[str] = set()
        paginator = self.client().get_paginator("scan")
        for page in paginator.paginate(TableName=name, ProjectionExpression=key):
            found.update(item[key]["S"] for item in page["Items"])
        return found

    def load(
        self,
        stream: "EventStream",
        records: dict[str, dict[str, Any]],
        sentinel_every: int = 5,
        table_name: str | None = None,
    ) -> None:
        """Make the entity's table hold exactly these canonical entities (as DynamoDB items).

        Every ``sentinel_every``-th entity stores its null dates as the int-min sentinel
        rather than NULL, as rows written from event payloads would.
        """
        name = table_name or stream.dynamodb_table
        ordered = sorted(records)
        self.put_items(
            (
                dynamodb_item(
                    stream,
                    records[i],
                    version=1 + n % 3,
                    sentinel_dates=bool(sentinel_every) and n % sentinel_every == 0,
                )
                for n, i in enumerate(ordered)
            ),
            name,
        )
        self.delete_ids(self.ids(name) - set(ordered), name)


def stand_in_for(streams: "Sequence[EventStream]", port: int = 0) -> DynamoDbStandIn:
    """A stand-in holding every stream's table (named by ``<NAME>_DYNAMODB_TABLE`` if set)."""
    tables = {
        registry.get(f"{s.env_prefix}_DYNAMODB_TABLE") or s.dynamodb_table: camel(
            next(f.source_name for f in s.schema.fields if f.name == s.key)
        )
        for s in streams
    }
    return DynamoDbStandIn(tables, port=port)


def main(argv: list[str] | None = None) -> None:
    """Start a seeded stand-in and write the event files of the last few days; block."""
    from lbh_platform.settings import load_settings
    from lbh_platform_devkit.event_streams.seed import seed_event_streams

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--entities", type=int, default=200)
    parser.add_argument("--days", type=int, default=4)
    args = parser.parse_args(argv)
    today = date.today()
    days = [today - timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    stand_in = seed_event_streams(days, entities=args.entities, port=args.port)
    raw_zone = load_settings().raw_zone
    print(f"DynamoDB stand-in: {stand_in.endpoint_url}, tables {sorted(stand_in.tables)}")
    print(f"  event files for {days[0]}..{days[-1]} in {raw_zone}/event-streaming/")
    print(f"export AWS_ENDPOINT_URL_DYNAMODB={stand_in.endpoint_url}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stand_in.stop()


if __name__ == "__main__":
    main()
