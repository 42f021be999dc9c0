"""The Tascomi API as a Dagster resource (``tascomi_api``)."""

from collections.abc import Sequence
from datetime import date

from pydantic import PrivateAttr

from lbh_platform.common.http import RetryPolicy
from lbh_platform.lib.resources import KeyedResource, key_fields
from lbh_platform.tascomi.client import Page, TascomiClient
from lbh_platform.tascomi.settings import TascomiSettings, load_tascomi_settings


class TascomiApiResource(KeyedResource):
    """The Tascomi REST API. The limits say what the API may send before a run fails clearly
    (docs/CONFIGURATION.md, ``TASCOMI_*``)."""

    base_url: str
    public_key: str = ""
    private_key: str = ""
    max_pages_in_flight: int = 4
    max_attempts: int = 5
    read_timeout_seconds: float = 60.0
    request_deadline_seconds: float = TascomiSettings.request_deadline_seconds
    max_body_mb: float = TascomiSettings.max_body_mb
    max_pages: int = TascomiSettings.max_pages
    max_empty_pages: int = TascomiSettings.max_empty_pages
    max_growth: float = TascomiSettings.max_growth

    _client: TascomiClient | None = PrivateAttr(default=None)

    def client(self) -> TascomiClient:
        if self._client is None:
            keys = self.api_keys(public_key=self.public_key, private_key=self.private_key)
            self._client = TascomiClient(
                self.base_url,
                keys["public_key"],
                keys["private_key"],
                policy=RetryPolicy(
                    max_attempts=self.max_attempts,
                    read_timeout=self.read_timeout_seconds,
                    deadline=self.request_deadline_seconds,
                    max_body_bytes=int(self.max_body_mb * 1_000_000),
                ),
                max_pages_in_flight=self.max_pages_in_flight,
                max_pages=self.max_pages,
                max_empty_pages=self.max_empty_pages,
                max_growth=self.max_growth,
            )
        return self._client

    def fetch(
        self, resource: str, last_updated: date | None, held_records: int | None = None
    ) -> Sequence[Page]:
        """``resource``'s pages; ``held_records`` (the table's size before this run) bounds
        how many records the API may announce."""
        return self.client().fetch(resource, last_updated, held_records=held_records)


def tascomi_api_resource(
    settings: TascomiSettings | None = None, aws_region: str | None = None
) -> TascomiApiResource:
    settings = settings or load_tascomi_settings()
    return TascomiApiResource(
        base_url=settings.access.url,
        request_deadline_seconds=settings.request_deadline_seconds,
        max_body_mb=settings.max_body_mb,
        max_pages=settings.max_pages,
        max_empty_pages=settings.max_empty_pages,
        max_growth=settings.max_growth,
        **key_fields(settings.access, aws_region),
    )


__all__ = ["TascomiApiResource", "tascomi_api_resource"]
