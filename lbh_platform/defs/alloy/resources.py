"""The Alloy API as a Dagster resource (``alloy_api``)."""

from datetime import datetime

from lbh_platform.alloy.client import DEFAULT_MAX_MEMBER_BYTES, AlloyClient, ExportResult
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.alloy.settings import AlloySettings, load_alloy_settings
from lbh_platform.lib.resources import KeyedResource, key_fields


class AlloyApiResource(KeyedResource):
    """The Alloy API; its key is sent only to ``base_url`` (see the client)."""

    base_url: str
    api_key: str = ""
    max_wait_seconds: float = 1800.0
    poll_interval_seconds: float = 2.0
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES

    def export(self, dataset: AlloyDataset, watermark: datetime | None) -> ExportResult:
        client = AlloyClient(
            self.base_url,
            self.api_keys(api_key=self.api_key)["api_key"],
            max_wait=self.max_wait_seconds,
            poll_interval=self.poll_interval_seconds,
            max_member_bytes=self.max_member_bytes,
        )
        return client.export(dataset, watermark)


def alloy_api_resource(
    settings: AlloySettings | None = None, aws_region: str | None = None
) -> AlloyApiResource:
    settings = settings or load_alloy_settings()
    return AlloyApiResource(
        base_url=settings.access.url,
        poll_interval_seconds=settings.poll_seconds,
        max_member_bytes=settings.max_member_bytes,
        **key_fields(settings.access, aws_region),
    )
