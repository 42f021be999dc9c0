"""Resources every source shares: the lake, and the one rule by which an API resource gets
its keys (:class:`KeyedResource`). Each source keeps its own resources in its package."""

from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from lbh_platform import settings_registry as registry
from lbh_platform.catalog.duckdb_catalog import default_duckdb_path
from lbh_platform.common.credentials import ApiAccess
from lbh_platform.settings import Settings
from lbh_platform.storage.lake import Lake, catalogs_for
from lbh_platform.storage.secrets import read_secret


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


class KeyedResource(dg.ConfigurableResource):
    """An API resource's keys, by one rule for every source: from the environment (the
    resource's key fields are ``dg.EnvVar`` s, so the UI shows variable names, never values)
    or, when ``secret_id`` is set, from that Secrets Manager secret, read when first needed
    and kept in memory only."""

    secret_id: str | None = None
    secret_variable: str = ""
    aws_region: str | None = None

    _secret: dict[str, str] | None = PrivateAttr(default=None)

    def api_keys(self, **plain: str) -> dict[str, str]:
        """``plain`` (field -> value), or the secret's values of those fields."""
        if not self.secret_id:
            return plain
        if self._secret is None:
            self._secret = read_secret(
                self.secret_id, tuple(plain), variable=self.secret_variable, region=self.aws_region
            )
        return self._secret


def key_fields(access: ApiAccess, aws_region: str | None) -> dict[str, Any]:
    """A :class:`KeyedResource` 's configuration for ``access``: each key as ``dg.EnvVar``
    when its variable is set (the simulator's keys as they are), or the secret's id."""
    if access.secret_id:
        return {
            "secret_id": access.secret_id,
            "secret_variable": access.secret_variable,
            "aws_region": aws_region,
        }
    return {
        name: dg.EnvVar(access.key_variables[name])
        if registry.get(access.key_variables[name])
        else value
        for name, value in access.keys.items()
    }
