"""The production topology's settings (see :mod:`lbh_platform.settings_registry`).

``DAGSTER_PG_*`` are what deploy/dagster.yaml reads (the entrypoint fills their defaults and
the password); ``DAGSTER_CODE_SERVER_*`` / ``DAGSTER_WEBSERVER_*`` place the services;
``LBH_SERVE_*`` are ``make serve``'s.
"""

from lbh_platform.settings_registry import Setting, declare


def _deploy(name: str, meaning: str, **extra: object) -> Setting:
    return Setting(name, meaning, scope="deployment", **extra)  # type: ignore[arg-type]


declare(
    _deploy(
        "DAGSTER_PG_HOST",
        "PostgreSQL host of the Dagster instance.",
        default="localhost",
        compose_default="postgres",
    ),
    _deploy("DAGSTER_PG_PORT", "PostgreSQL port.", default="5432"),
    _deploy("DAGSTER_PG_DB", "PostgreSQL database.", default="dagster"),
    _deploy("DAGSTER_PG_USER", "PostgreSQL user.", default="dagster"),
    _deploy(
        "DAGSTER_PG_PASSWORD",
        "PostgreSQL password (or `DAGSTER_PG_SECRET_ID`).",
        secret=True,
    ),
    _deploy(
        "DAGSTER_PG_SECRET_ID",
        'Secrets Manager secret holding `{"password": …}` (as RDS writes it), read when '
        "`DAGSTER_PG_PASSWORD` is unset.",
    ),
    _deploy(
        "DAGSTER_PG_WAIT_SECONDS",
        "How long a service waits at start-up for an unreachable PostgreSQL.",
        default="30",
    ),
    _deploy(
        "DAGSTER_CODE_SERVER_HOST",
        "Where the webserver and daemon find the code server.",
        compose_default="code_server",
    ),
    _deploy("DAGSTER_CODE_SERVER_PORT", "The code server's gRPC port.", default="4000"),
    _deploy(
        "DAGSTER_CODE_SERVER_BIND",
        "Address the code server listens on.",
        default="0.0.0.0",
        deployed=False,
    ),
    _deploy(
        "DAGSTER_WEBSERVER_BIND",
        "Address the webserver listens on.",
        default="0.0.0.0",
        deployed=False,
    ),
    _deploy("DAGSTER_WEBSERVER_PORT", "The webserver's port.", default="3000", deployed=False),
    _deploy(
        "DAGSTER_WORKSPACE",
        "The workspace file of the webserver and daemon.",
        default="/opt/dagster/app/deploy/workspace.yaml",
        deployed=False,
    ),
    _deploy(
        "DAGSTER_COMPUTE_LOGS_DIR",
        "Folder of the steps' and ticks' captured output (deploy/dagster.yaml `compute_logs`): "
        "run workers write it on the code server's host and the webserver reads it, so both "
        "must see the same folder (compose: the `compute-logs` volume).",
        shown_default="`$DAGSTER_HOME/storage` (`/opt/dagster/compute_logs` in compose)",
        compose_default="/opt/dagster/compute_logs",
    ),
    _deploy(
        "LBH_DEPLOYMENT",
        "`embedded` (one machine, the demo) or `production` (the three services on "
        "PostgreSQL): in production every schedule and sensor the daily operation needs "
        "starts RUNNING.",
        default="embedded",
        compose_default="production",
    ),
    _deploy("LBH_SERVE_DIR", "`make serve`'s state folder.", default=".serve", deployed=False),
    _deploy(
        "LBH_SERVE_PG_PORT",
        "`make serve`'s PostgreSQL port (0: a free one).",
        default="0",
        deployed=False,
    ),
    _deploy(
        "LBH_PG_BIN",
        "Folder of PostgreSQL's `initdb`/`pg_ctl`/`postgres` for `make serve` and the tests.",
        shown_default="the newest `/usr/lib/postgresql/*/bin`",
        deployed=False,
    ),
)
