"""Check the PostgreSQL connection before a service starts, and say which setting to fix.

Dagster itself would retry for a while and then print a long traceback; an operator needs one
line naming ``DAGSTER_PG_PASSWORD`` or ``DAGSTER_PG_HOST``. The password never appears: the
driver's text is scrubbed of it before anything is shown.
"""

import time

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.deploy.postgres_settings import DB, HOST, PORT, USER, PostgresSettings


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def explain(settings: PostgresSettings, message: str) -> ConfigurationError:
    """A ConfigurationError naming the setting behind a driver ``message``."""
    where = settings.where()
    text = message.lower()
    if "password authentication failed" in text or "no password supplied" in text:
        return ConfigurationError(
            f"PostgreSQL at {where} rejected the password: fix {settings.password_source} "
            f"(or {USER}). The password is not shown."
        )
    if "role" in text and "does not exist" in text:
        return ConfigurationError(f"PostgreSQL at {where}: no such user; fix {USER}")
    if "database" in text and "does not exist" in text:
        return ConfigurationError(
            f"PostgreSQL at {where}: no database {settings.database!r}; create it or fix {DB}"
        )
    detail = _scrub(message.strip().splitlines()[0] if message.strip() else "", settings.password)
    return ConfigurationError(
        f"cannot reach PostgreSQL at {settings.host}:{settings.port} ({detail}): fix {HOST} / "
        f"{PORT}, or start the server"
    )


def _unreachable(message: str) -> bool:
    text = message.lower()
    return not any(s in text for s in ("password", "does not exist", "no pg_hba.conf entry", "ssl"))


def check_connection(settings: PostgresSettings, *, sleep=time.sleep, clock=time.monotonic):
    """Connect once and run ``select 1``; wait up to ``settings.wait_seconds`` for a server that
    is not up yet (a container starting beside it), fail at once on anything else."""
    import psycopg2

    deadline = clock() + settings.wait_seconds
    while True:
        try:
            connection = psycopg2.connect(
                host=settings.host,
                port=settings.port,
                dbname=settings.database,
                user=settings.user,
                password=settings.password,
                connect_timeout=5,
                application_name="lbh_platform preflight",
            )
        except psycopg2.OperationalError as exc:
            message = _scrub(str(exc), settings.password)
            if _unreachable(message) and clock() < deadline:
                sleep(1.0)
                continue
            raise explain(settings, message) from None
        try:
            with connection.cursor() as cursor:
                cursor.execute("select 1")
        finally:
            connection.close()
        return
