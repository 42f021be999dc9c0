"""One registry of settings is the source of what the code reads, the configuration docs and
the production services' environment: these fail when any of the three disagree."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from lbh_platform import settings_registry as registry
from lbh_platform.cli import configuration
from lbh_platform.common.errors import ConfigurationError

PACKAGE = Path(__file__).resolve().parents[1] / "lbh_platform"
# Names the platform reads (Dagster's own DAGSTER_* names and HTTP headers are not settings).
PREFIXES = "LBH|TASCOMI|ALLOY|AWS|DAGSTER_PG|DAGSTER_CODE|DAGSTER_WEB"
NAME = re.compile(rf"^({PREFIXES})_[A-Z0-9_]*[A-Z0-9]$")


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "simulator" not in p.parts)


def test_only_the_registry_reads_the_process_environment():
    offenders = []
    for path in modules():
        if path.name == "settings_registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert offenders == [], "read settings through lbh_platform.settings_registry"


def test_every_variable_named_in_the_code_is_declared():
    declared = {s.name for s in registry.every_setting()}
    families = [s.name for s in registry.every_setting() if s.pattern]
    undeclared = set()
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                family = any(text.startswith(f) for f in families)
                if NAME.match(text) and text not in declared and not family:
                    undeclared.add(f"{text} ({path.relative_to(PACKAGE.parent)})")
    assert sorted(undeclared) == []


def test_the_docs_and_the_compose_file_are_what_the_registry_generates():
    assert configuration.main(["--check"]) == 0


def test_compose_forwards_every_deployed_setting_and_reads_deploy_env():
    document = yaml.safe_load(configuration.COMPOSE.read_text())
    environment = document["x-dagster-env"]
    for setting in registry.every_setting():
        if setting.deployed and not setting.pattern:
            assert setting.name in environment, setting.name
    for name in ("code_server", "webserver", "daemon"):
        service = document["services"][name]
        assert service["environment"] == environment
        assert {"path": ".env", "required": False} in service["env_file"]


def test_the_docs_show_every_setting_and_mark_secrets():
    text = configuration.DOCS.read_text()
    for setting in registry.every_setting():
        shown = f"`{setting.name}<…>`" if setting.pattern else f"`{setting.name}`"
        row = next(line for line in text.splitlines() if line.startswith(f"| {shown} |"))
        assert ("**Secret**" in row) == setting.secret


def test_blank_means_the_default_and_a_bad_value_names_the_setting():
    assert registry.get("LBH_ENVIRONMENT", {"LBH_ENVIRONMENT": "  "}) == "stg"
    assert registry.number("TASCOMI_MAX_PAGES", {}, int) == 100_000
    with pytest.raises(ConfigurationError, match="TASCOMI_MAX_PAGES must be a positive whole"):
        registry.number("TASCOMI_MAX_PAGES", {"TASCOMI_MAX_PAGES": "-3"}, int)
    with pytest.raises(KeyError, match="NOT_A_SETTING is not a declared setting"):
        registry.get("NOT_A_SETTING", {})
