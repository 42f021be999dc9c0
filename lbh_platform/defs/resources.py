"""Dagster resources: thin adapters from configuration to the plain-Python clients."""

from collections.abc import Sequence
from datetime import date, datetime

import dagster as dg
from pydantic import PrivateAttr

from lbh_platform.alloy.client import AlloyClient, ExportResult
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.common.http import RetryPolicy
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.client import Page, TascomiClient


class LakeResource(dg.ConfigurableResource):
    """The data lake's zones: local folders (the embedded default) or ``s3://`` URIs."""

    raw_zone: str
    refined_zone: str

    def lake(self) -> Lake:
        return Lake({"raw": self.raw_zone, "refined": self.refined_zone})


class TascomiApiResource(dg.ConfigurableResource):
    """The Tascomi REST API; keys come from the environment and never reach logs or the UI."""

    base_url: str
    public_key: str
    private_key: str
    max_pages_in_flight: int = 4
    max_attempts: int = 5
    read_timeout_seconds: float = 60.0

    _client: TascomiClient | None = PrivateAttr(default=None)

    def client(self) -> TascomiClient:
        if self._client is None:
            self._client = TascomiClient(
                self.base_url,
                self.public_key,
                self.private_key,
                policy=RetryPolicy(
                    max_attempts=self.max_attempts, read_timeout=self.read_timeout_seconds
                ),
                max_pages_in_flight=self.max_pages_in_flight,
            )
        return self._client

    def fetch(self, resource: str, last_updated: date | None) -> Sequence[Page]:
        return self.client().fetch(resource, last_updated)


class AlloyApiResource(dg.ConfigurableResource):
    """The Alloy API (Bearer key from the environment, never logged or shown)."""

    base_url: str
    api_key: str
    max_wait_seconds: float = 1800.0
    poll_interval_seconds: float = 2.0

    def export(self, dataset: AlloyDataset, watermark: datetime | None) -> ExportResult:
        client = AlloyClient(
            self.base_url,
            self.api_key,
            max_wait=self.max_wait_seconds,
            poll_interval=self.poll_interval_seconds,
        )
        return client.export(dataset, watermark)
