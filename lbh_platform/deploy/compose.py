"""The commands, environment and health checks of deploy/docker-compose.yaml, as a process
would run them.

``make serve`` and the deployment test start each Dagster service with exactly its compose
``entrypoint`` + ``command`` and ``environment``, and run its ``healthcheck``, with ``${VAR}``,
``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?message}`` and ``$$`` substituted from an
environment as Compose does, so the compose file is what is tested.
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


def service_command(service: str, env: Mapping[str, str], path: Path = COMPOSE_FILE) -> list[str]:
    """``entrypoint`` + ``command`` of ``service``, interpolated from ``env``."""
    spec = _service(service, path)
    argv = _as_list(spec.get("entrypoint"), service, "entrypoint") + _as_list(
        spec.get("command"), service, "command"
    )
    if not argv:
        raise ConfigurationError(f"{path}: service {service!r} has no entrypoint or command")
    return [substitute(part, env) for part in argv]


def _service(service: str, path: Path) -> dict:
    services = load(path)["services"]
    if service not in services:
        raise ConfigurationError(f"{path}: no service {service!r} (has {sorted(services)})")
    return services[service] or {}


def _env_file_values(spec: dict, service: str, path: Path) -> dict[str, str]:
    """What the service's ``env_file`` entries hold (paths relative to the compose file; a
    missing optional file is skipped, as Compose does)."""
    from dotenv import dotenv_values  # Dagster's own dependency

    entries = spec.get("env_file") or []
    values: dict[str, str] = {}
    for entry in [entries] if isinstance(entries, str | dict) else entries:
        name, required = (
            (entry, True)
            if isinstance(entry, str)
            else (entry.get("path"), entry.get("required", True))
        )
        file = Path(path).parent / str(name)
        if not file.exists():
            if required:
                raise ConfigurationError(f"service {service!r}: env_file {file} does not exist")
            continue
        values.update({k: v for k, v in dotenv_values(file).items() if v is not None})
    return values


def service_environment(
    service: str, env: Mapping[str, str], path: Path = COMPOSE_FILE, *, env_files: bool = True
) -> dict[str, str]:
    """The environment Compose gives ``service``: its ``env_file`` values (when
    ``env_files``), then its ``environment`` interpolated from ``env``; a key without a value
    passes ``env``'s value through when set and is left out otherwise."""
    spec = _service(service, path)
    result = _env_file_values(spec, service, path) if env_files else {}
    environment = spec.get("environment") or {}
    if isinstance(environment, list):  # ["NAME=value", "NAME"]
        environment = dict(
            item.split("=", 1) if "=" in item else (item, None) for item in map(str, environment)
        )
    if not isinstance(environment, dict):
        raise ConfigurationError(f"service {service!r}: `environment` must be a mapping or list")
    for name, value in environment.items():
        if value is None:
            if env.get(name) is not None:
                result[name] = env[name]
            else:
                result.pop(name, None)
        else:
            result[name] = substitute(str(value), env)
    return result


def healthcheck_command(
    service: str, env: Mapping[str, str], path: Path = COMPOSE_FILE
) -> list[str]:
    """The service's ``healthcheck.test`` as an argv (``CMD`` form; ``CMD-SHELL`` through
    ``sh -c``), interpolated from ``env``."""
    test = (_service(service, path).get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list) or not test or test[0] not in ("CMD", "CMD-SHELL"):
        raise ConfigurationError(f"{path}: service {service!r} has no CMD healthcheck")
    argv = [substitute(str(part), env) for part in test[1:]]
    return argv if test[0] == "CMD" else ["sh", "-c", " ".join(argv)]
