"""Write what the settings registry generates: ``python -m lbh_platform.cli.configuration``.

- the configuration table of ``docs/CONFIGURATION.md`` (between its ``settings`` markers);
- the environment block every Dagster service of ``deploy/docker-compose.yaml`` receives
  (``x-dagster-env``, between its markers).

``--check`` writes nothing and exits 1 when either file differs from what it would write (the
test suite runs it), so the registry, the docs and the compose file cannot drift apart.
"""

import argparse
import sys
from pathlib import Path

from lbh_platform.settings_registry import Setting, every_setting, markdown_table

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "CONFIGURATION.md"
COMPOSE = REPO / "deploy" / "docker-compose.yaml"
BEGIN, END = "BEGIN generated settings", "END generated settings"
# Values of the container's own layout rather than settings an operator tunes.
CONTAINER = {"DAGSTER_HOME": "/opt/dagster/dagster_home"}
LIBRARY_PREFIXES = ("AWS_", "REQUESTS_", "CURL_")
REQUIRED = {"DAGSTER_PG_PASSWORD": "set DAGSTER_PG_PASSWORD (e.g. in deploy/.env)"}


def compose_value(setting: Setting) -> str:
    """``${NAME:-default}`` (empty means the default to the platform); a variable that AWS's
    own libraries read has no value: Compose passes it through when set and leaves it unset
    otherwise (an empty ``AWS_ENDPOINT_URL`` would break every AWS client)."""
    if setting.name in REQUIRED:
        return f" ${{{setting.name}:?{REQUIRED[setting.name]}}}"
    default = setting.compose_default or setting.default or ""
    if not default and setting.name.startswith(LIBRARY_PREFIXES):
        return ""
    return f" ${{{setting.name}:-{default}}}"


def compose_block(settings: list[Setting]) -> str:
    lines = [
        f"# {BEGIN} (python -m lbh_platform.cli.configuration): every setting the services",
        "# read (docs/CONFIGURATION.md); empty means the default, one without a value passes",
        "# through when set (AWS's own variables). Each",
        "# service also reads deploy/.env (env_file), so a setting written there arrives.",
        "x-dagster-env: &dagster-env",
    ]
    lines += [f"  {name}: {value}" for name, value in CONTAINER.items()]
    for setting in settings:
        if setting.deployed and not setting.pattern and setting.name not in CONTAINER:
            lines.append(f"  {setting.name}:{compose_value(setting)}")
    lines.append(f"# {END}")
    return "\n".join(lines)


def docs_block(settings: list[Setting]) -> str:
    return "\n".join(
        [
            f"<!-- {BEGIN} (python -m lbh_platform.cli.configuration) -->",
            "",
            markdown_table(settings),
            f"<!-- {END} -->",
        ]
    )


def replaced(text: str, block: str, path: Path) -> str:
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if BEGIN in line]
    ends = [i for i, line in enumerate(lines) if END in line]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise SystemExit(f"{path}: needs one '{BEGIN}' line and one '{END}' line after it")
    return "\n".join([*lines[: starts[0]], block, *lines[ends[0] + 1 :]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    settings = every_setting()
    stale = []
    for path, block in ((DOCS, docs_block(settings)), (COMPOSE, compose_block(settings))):
        text = path.read_text()
        wanted = replaced(text, block, path)
        if wanted != text:
            stale.append(path)
            if not args.check:
                path.write_text(wanted)
    if args.check and stale:
        names = ", ".join(str(p.relative_to(REPO)) for p in stale)
        print(
            f"out of date with the settings registry: {names}; run "
            "`python -m lbh_platform.cli.configuration`",
            file=sys.stderr,
        )
        return 1
    for path in stale:
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
