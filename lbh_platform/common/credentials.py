"""An API's address and credentials from the settings: one rule for every source.

Plain key variables win; otherwise a Secrets Manager secret id (read at run time by the
resource, never at load); with neither, the built-in simulator's keys when the address is the
simulator's; otherwise a configuration error naming what to set. Keys never reach ``repr``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError


@dataclass(frozen=True)
class ApiAccess:
    url: str
    keys: dict[str, str] = field(repr=False)  # field -> value; empty strings when from a secret
    secret_id: str | None
    key_variables: dict[str, str]  # field -> the setting holding it
    secret_variable: str

    @property
    def from_secret(self) -> bool:
        return self.secret_id is not None


def api_access(
    *,
    source: str,
    url_variable: str,
    simulator_url: str,
    key_variables: Mapping[str, str],
    simulator_keys: Mapping[str, str],
    secret_variable: str,
    environ: Mapping[str, str] | None = None,
) -> ApiAccess:
    env = registry.environ(environ)
    url = registry.get(url_variable, env) or simulator_url
    if not url.endswith("/"):
        url += "/"
    plain = {name: registry.get(var, env) or "" for name, var in key_variables.items()}
    secret = None if all(plain.values()) else registry.get(secret_variable, env) or None
    if secret:
        plain = {name: "" for name in plain}
    elif url == simulator_url:
        plain = {name: value or simulator_keys[name] for name, value in plain.items()}
    else:
        missing = [key_variables[n] for n, v in plain.items() if not v]
        if missing:
            raise ConfigurationError(
                f"{url_variable} is set to a real API but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set: export the {source} API "
                f"key{'s' if len(key_variables) > 1 else ''}, or {secret_variable} naming a "
                f"Secrets Manager secret that holds {'them' if len(key_variables) > 1 else 'it'} "
                f"(or unset {url_variable} to use the built-in simulator)"
            )
    return ApiAccess(url, plain, secret, dict(key_variables), secret_variable)


def resolved_keys(access: ApiAccess, aws_region: str | None = None) -> dict[str, str]:
    """The keys themselves: the plain ones, or the secret's (read now, kept in memory only)."""
    if access.secret_id is None:
        return dict(access.keys)
    from lbh_platform.storage.secrets import read_secret

    return read_secret(
        access.secret_id, tuple(access.keys), variable=access.secret_variable, region=aws_region
    )
