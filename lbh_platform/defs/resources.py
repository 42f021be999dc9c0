"""Dagster resources: thin adapters from configuration to the plain-Python clients."""

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from lbh_platform import settings_registry as registry
from lbh_platform.alloy.client import DEFAULT_MAX_MEMBER_BYTES, AlloyClient, ExportResult
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.catalog.duckdb_catalog import default_duckdb_path
from lbh_platform.common.http import RetryPolicy
from lbh_platform.settings import Settings
from lbh_platform.storage.lake import Lake, catalogs_for
from lbh_platform.storage.secrets import read_secret
from lbh_platform.tascomi.client import Page, TascomiClient


class LakeResource(dg.ConfigurableResource):
    """The data lake's zones (local folders, the embedded default, or ``s3://`` URIs) and the
    catalogues every published partition registers in (Glue; the local DuckDB file)."""

    raw_zone: str
    refined_zone: str
    environment: str = "stg"
    glue_catalog: bool = False
    # None: on when both zones are local folders (DuckDB views cover local zones only).
    duckdb_catalog: bool | None = None
    # None: ``catalog.duckdb`` next to the raw zone.
    duckdb_path: str | None = None
    aws_region: str | None = None

    _lake: Lake | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> "LakeResource":
        return cls(
            raw_zone=settings.raw_zone,
            refined_zone=settings.refined_zone,
            environment=settings.environment,
            glue_catalog=settings.glue_catalog,
            duckdb_catalog=settings.duckdb_catalog,
            duckdb_path=settings.duckdb_path or None,
            aws_region=settings.aws_region,
        )

    def lake(self) -> Lake:
        """One lake per resource instance, so catalogue clients and memos are reused."""
        if self._lake is None:
            zones = {"raw": self.raw_zone, "refined": self.refined_zone}
            local = all("://" not in z or z.startswith("file://") for z in zones.values())
            use_duckdb = local if self.duckdb_catalog is None else self.duckdb_catalog
            self._lake = Lake(
                zones,
                environment=self.environment,
                catalogs=catalogs_for(
                    glue_catalog=self.glue_catalog,
                    duckdb_path=(self.duckdb_path or default_duckdb_path(self.raw_zone))
                    if use_duckdb
                    else None,
                    aws_region=self.aws_region,
                ),
                aws_region=self.aws_region,
            )
        return self._lake


class TascomiApiResource(dg.ConfigurableResource):
    """The Tascomi REST API; keys come from the environment and never reach logs or the UI.

    The limits say what the API may send before a run fails clearly (see the README's
    ``TASCOMI_*`` settings): a request's whole response, a body's size, pages per fetch,
    empty pages in a row, and records per record the table held."""

    base_url: str
    public_key: str
    private_key: str
    max_pages_in_flight: int = 4
    max_attempts: int = 5
    read_timeout_seconds: float = 60.0
    request_deadline_seconds: float = Settings.tascomi_request_deadline_seconds
    max_body_mb: float = Settings.tascomi_max_body_mb
    max_pages: int = Settings.tascomi_max_pages
    max_empty_pages: int = Settings.tascomi_max_empty_pages
    max_growth: float = Settings.tascomi_max_growth

    _client: TascomiClient | None = PrivateAttr(default=None)

    def client(self) -> TascomiClient:
        if self._client is None:
            self._client = self._new_client(self.public_key, self.private_key)
        return self._client

    def _new_client(self, public_key: str, private_key: str) -> TascomiClient:
        return TascomiClient(
            self.base_url,
            public_key,
            private_key,
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

    def fetch(
        self, resource: str, last_updated: date | None, held_records: int | None = None
    ) -> Sequence[Page]:
        """``resource``'s pages; ``held_records`` (the table's size before this run) bounds
        how many records the API may announce."""
        return self.client().fetch(resource, last_updated, held_records=held_records)


class AlloyApiResource(dg.ConfigurableResource):
    """The Alloy API (Bearer key from the environment, never logged or shown)."""

    base_url: str
    api_key: str
    max_wait_seconds: float = 1800.0
    poll_interval_seconds: float = 2.0
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES

    def export(self, dataset: AlloyDataset, watermark: datetime | None) -> ExportResult:
        client = AlloyClient(
            self.base_url,
            self.api_key,
            max_wait=self.max_wait_seconds,
            poll_interval=self.poll_interval_seconds,
            max_member_bytes=self.max_member_bytes,
        )
        return client.export(dataset, watermark)


class SecretsManagerTascomiApiResource(TascomiApiResource):
    """Tascomi keys read from AWS Secrets Manager when the client is first needed.

    Only the secret id is configuration (shown in the UI); the keys stay in memory. The
    secret is JSON ``{"public_key": ..., "private_key": ...}``.
    """

    secret_id: str
    public_key: str = ""
    private_key: str = ""
    aws_region: str | None = None

    def client(self) -> TascomiClient:
        if self._client is None:
            keys = read_secret(
                self.secret_id,
                ("public_key", "private_key"),
                variable="TASCOMI_SECRET_ID",
                region=self.aws_region,
            )
            self._client = self._new_client(keys["public_key"], keys["private_key"])
        return self._client


class SecretsManagerAlloyApiResource(AlloyApiResource):
    """The Alloy key read from AWS Secrets Manager (JSON ``{"api_key": ...}``) at run time."""

    secret_id: str
    api_key: str = ""
    aws_region: str | None = None

    _key: str | None = PrivateAttr(default=None)

    def export(self, dataset: AlloyDataset, watermark: datetime | None) -> ExportResult:
        if self._key is None:
            self._key = read_secret(
                self.secret_id, ("api_key",), variable="ALLOY_SECRET_ID", region=self.aws_region
            )["api_key"]
        client = AlloyClient(
            self.base_url,
            self._key,
            max_wait=self.max_wait_seconds,
            poll_interval=self.poll_interval_seconds,
            max_member_bytes=self.max_member_bytes,
        )
        return client.export(dataset, watermark)


def env_or_value(name: str, value: str) -> str | dg.EnvVar:
    """Read keys through ``EnvVar`` when set, so the UI shows the variable name, not the value."""
    return dg.EnvVar(name) if registry.get(name) else value


def tascomi_api_resource(
    settings: Settings, plain: Callable[[str, str], Any] = env_or_value
) -> TascomiApiResource:
    """From Secrets Manager when a secret id is configured, else from the plain keys, each
    passed through ``plain(variable, value)`` (``dg.EnvVar`` by default, so the UI shows
    variable names, never values)."""
    limits = {
        "request_deadline_seconds": settings.tascomi_request_deadline_seconds,
        "max_body_mb": settings.tascomi_max_body_mb,
        "max_pages": settings.tascomi_max_pages,
        "max_empty_pages": settings.tascomi_max_empty_pages,
        "max_growth": settings.tascomi_max_growth,
    }
    if settings.tascomi_secret_id:
        return SecretsManagerTascomiApiResource(
            base_url=settings.tascomi_api_url,
            secret_id=settings.tascomi_secret_id,
            aws_region=settings.aws_region,
            **limits,
        )
    return TascomiApiResource(
        base_url=settings.tascomi_api_url,
        public_key=plain("TASCOMI_PUBLIC_KEY", settings.tascomi_public_key),
        private_key=plain("TASCOMI_PRIVATE_KEY", settings.tascomi_private_key),
        **limits,
    )


def alloy_api_resource(
    settings: Settings, plain: Callable[[str, str], Any] = env_or_value
) -> AlloyApiResource:
    """As :func:`tascomi_api_resource`, for the Alloy key."""
    if settings.alloy_secret_id:
        return SecretsManagerAlloyApiResource(
            base_url=settings.alloy_api_url,
            secret_id=settings.alloy_secret_id,
            poll_interval_seconds=settings.alloy_poll_seconds,
            max_member_bytes=settings.alloy_max_member_bytes,
            aws_region=settings.aws_region,
        )
    return AlloyApiResource(
        base_url=settings.alloy_api_url,
        api_key=plain("ALLOY_API_KEY", settings.alloy_api_key),
        poll_interval_seconds=settings.alloy_poll_seconds,
        max_member_bytes=settings.alloy_max_member_bytes,
    )


def api_resources(
    settings: Settings, plain: Callable[[str, str], Any] = env_or_value
) -> dict[str, Any]:
    """``tascomi_api`` and ``alloy_api`` together (for callers wiring both sources by hand)."""
    return {
        "tascomi_api": tascomi_api_resource(settings, plain),
        "alloy_api": alloy_api_resource(settings, plain),
    }
