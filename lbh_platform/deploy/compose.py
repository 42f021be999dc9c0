"""The commands of deploy/docker-compose.yaml, as a process would run them.

``make serve`` and the deployment test start each Dagster service with exactly its compose
``entrypoint`` + ``command``, with ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?message}`` and ``$$`` substituted from an environment as Compose does, so the
compose file is what is tested.
"""

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from lbh_platform.common.errors import ConfigurationError

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "deploy" / "docker-compose.yaml"
DAGSTER_SERVICES = ("code_server", "webserver", "daemon")  # postgres is started separately

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Compose-style interpolation of one string."""

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        missing = not value if op in (":-", ":?") else value is None
        if op in (":-", "-") and missing:
            return arg
        if op in (":?", "?") and missing:
            raise ConfigurationError(f"{name} is required: {arg or 'set it'}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def load(path: Path = COMPOSE_FILE) -> dict:
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ConfigurationError(f"{path}: no `services:` mapping")
    return document


def _as_list(value: object, service: str, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v) for v in value]
    raise ConfigurationError(
        f"service {service!r}: `{field}` must be a list of strings (exec form), got {value!r}"
    )


def service_command(
    service: str, env: Mapping[str, str], path: Path = COMPOSE_FILE
) -> list[str]:
    """``entrypoint`` + ``command`` of ``service``, interpolated from ``env``."""
    services = load(path)["services"]
    if service not in services:
        raise ConfigurationError(f"{path}: no service {service!r} (has {sorted(services)})")
    spec = services[service] or {}
    argv = _as_list(spec.get("entrypoint"), service, "entrypoint") + _as_list(
        spec.get("command"), service, "command"
    )
    if not argv:
        raise ConfigurationError(f"{path}: service {service!r} has no entrypoint or command")
    return [substitute(part, env) for part in argv]
