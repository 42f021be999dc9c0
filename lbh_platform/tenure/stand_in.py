"""A DynamoDB stand-in on loopback for tests and local runs: moto's server mode over HTTP.

The pipeline talks to it exactly as to AWS (boto3, SigV4, the real wire protocol, parallel
scan segments and ``LastEvaluatedKey`` paging), only the endpoint differs
(``AWS_ENDPOINT_URL_DYNAMODB``). It is seeded with generated tenures in the table's own shape:
camelCase attributes, nested ``householdMembers`` / ``tenuredAsset`` / ``charges`` maps and
lists, ISO-8601 dates and a ``versionNumber``.

Run ``python -m lbh_platform.tenure.stand_in`` to start one with a few days of event files in
the raw zone, for ``dagster dev``.
"""

import argparse
import contextlib
import logging
import os
import time
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import boto3
from botocore.config import Config

from lbh_platform.tenure.generator import dynamodb_item

DEFAULT_TABLE = "TenureInformation"
REGION = "eu-west-2"
# moto accepts any credentials; these only keep boto3 from looking for real ones.
STAND_IN_CREDENTIALS = {"aws_access_key_id": "stand-in", "aws_secret_access_key": "stand-in"}

log = logging.getLogger(__name__)


class DynamoDbStandIn:
    """moto's ThreadedMotoServer on ``host`` (a free port by default) with one table.

    Moto keeps its state per process, so ``start`` drops and recreates its table: one
    stand-in per table name per process at a time.
    """

    def __init__(self, table_name: str = DEFAULT_TABLE, host: str = "127.0.0.1", port: int = 0):
        self.table_name = table_name
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
        # Moto's state is per process: drop only our table (never a global reset, which would
        # wipe other stand-ins' buckets or tables in the same test session).
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=self.table_name)
        client.create_table(
            TableName=self.table_name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
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

    def put_items(self, items: Iterable[dict[str, Any]]) -> int:
        """Put plain items (strings, Decimals, bools, None, maps, lists) as they are."""
        table = boto3.resource(
            "dynamodb", endpoint_url=self.endpoint_url, region_name=REGION, **STAND_IN_CREDENTIALS
        ).Table(self.table_name)
        count = 0
        with table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)
                count += 1
        return count

    def delete_ids(self, ids: Iterable[str]) -> None:
        client = self.client()
        for tenure_id in ids:
            client.delete_item(TableName=self.table_name, Key={"id": {"S": tenure_id}})

    def ids(self) -> set[str]:
        found: set[str] = set()
        paginator = self.client().get_paginator("scan")
        for page in paginator.paginate(TableName=self.table_name, ProjectionExpression="id"):
            found.update(item["id"]["S"] for item in page["Items"])
        return found

    def load(self, records: dict[str, dict[str, Any]], sentinel_every: int = 5) -> None:
        """Make the table hold exactly these canonical tenures (rendered as DynamoDB items).

        Every ``sentinel_every``-th tenure stores its null dates as the int-min sentinel
        rather than NULL, as rows written from event payloads would.
        """
        ordered = sorted(records)
        self.put_items(
            dynamodb_item(
                records[i],
                version=1 + n % 3,
                sentinel_dates=bool(sentinel_every) and n % sentinel_every == 0,
            )
            for n, i in enumerate(ordered)
        )
        self.delete_ids(self.ids() - set(ordered))


def main(argv: list[str] | None = None) -> None:
    """Start a seeded stand-in and write the event files of the last few days; block."""
    from lbh_platform.settings import load_settings
    from lbh_platform.storage.lake import Lake
    from lbh_platform.tenure.generator import generate_stream, write_day

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--tenures", type=int, default=200)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = load_settings()
    today = date.today()
    days = [today - timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    stream = generate_stream(days, tenures=args.tenures, seed=args.seed)
    stand_in = DynamoDbStandIn(os.environ.get("TENURE_DYNAMODB_TABLE") or DEFAULT_TABLE)
    stand_in.port = args.port
    stand_in.start()
    stand_in.load(stream.initial)
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    for truth in stream.days:
        write_day(lake, truth)
    print(f"DynamoDB stand-in: {stand_in.endpoint_url} table {stand_in.table_name}")
    print(f"  {len(stream.initial)} tenures; event files for {days[0]}..{days[-1]} in")
    print(f"  {settings.raw_zone}/event-streaming/tenure_api/")
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
