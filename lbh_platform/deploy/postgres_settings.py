"""The ``DAGSTER_PG_*`` settings that ``deploy/dagster.yaml`` reads, with their defaults.

Dagster's ``{env: NAME}`` has no defaults and no Secrets Manager; the entrypoint fills both in
the environment of the process it starts, so the password is only ever in process memory.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError

HOST, PORT, DB, USER, PASSWORD = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_DB",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
)
SECRET_ID = "DAGSTER_PG_SECRET_ID"  # a Secrets Manager secret with a "password" key (as RDS's)
WAIT = "DAGSTER_PG_WAIT_SECONDS"  # how long to wait for an unreachable server at start-up
DEFAULTS = {HOST: "localhost", PORT: "5432", DB: "dagster", USER: "dagster", WAIT: "30"}
# The names deploy/dagster.yaml must reference (a test keeps the two in step).
CONFIG_VARIABLES = (HOST, PORT, DB, USER, PASSWORD)


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    password_source: str  # the setting to fix when the password is wrong
    wait_seconds: float

    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.database} as user {self.user!r}"


def resolve(environ: Mapping[str, str] | None = None, read_secret=None) -> PostgresSettings:
    """Settings from ``environ`` (default: the process's), the password from
    ``DAGSTER_PG_PASSWORD`` or else from the secret ``DAGSTER_PG_SECRET_ID`` names."""
    env = dict(registry.environ(environ))

    def value(name: str) -> str:
        return env.get(name) or DEFAULTS[name]

    try:
        port = int(value(PORT))
    except ValueError:
        raise ConfigurationError(f"{PORT}={env.get(PORT)!r} is not a port number") from None
    try:
        wait = float(value(WAIT))
    except ValueError:
        raise ConfigurationError(f"{WAIT}={env.get(WAIT)!r} is not a number of seconds") from None

    if env.get(PASSWORD):
        password, source = env[PASSWORD], PASSWORD
    elif env.get(SECRET_ID):
        if read_secret is None:
            from lbh_platform.storage.secrets import read_secret
        password = read_secret(env[SECRET_ID], ["password"], variable=SECRET_ID)["password"]
        source = f"the secret {SECRET_ID}={env[SECRET_ID]!r}"
    else:
        raise ConfigurationError(
            f"no PostgreSQL password: set {PASSWORD}, or {SECRET_ID} to a Secrets Manager "
            'secret holding {"password": ...}'
        )
    return PostgresSettings(
        host=value(HOST),
        port=port,
        database=value(DB),
        user=value(USER),
        password=password,
        password_source=source,
        wait_seconds=wait,
    )


def process_environment(settings: PostgresSettings, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with every variable of deploy/dagster.yaml set (defaults and the password)."""
    env = dict(base)
    env.update(
        {
            HOST: settings.host,
            PORT: str(settings.port),
            DB: settings.database,
            USER: settings.user,
            PASSWORD: settings.password,
        }
    )
    return env
