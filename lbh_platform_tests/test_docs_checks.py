"""docs/CHECKS.md says, for every check the code location has, what it means and what to do."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "CHECKS.md"


@pytest.fixture(scope="module")
def check_names(tmp_path_factory) -> set[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        from lbh_platform.definitions import load_definitions

        graph = load_definitions().get_repository_def().asset_graph
        return {key.name for key in graph.asset_check_keys}


def test_every_check_has_a_row(check_names):
    text = DOC.read_text()
    documented = set(re.findall(r"`([a-z0-9_<>]+)`", text))
    completeness = "<column>_complete" in documented
    missing = sorted(
        name
        for name in check_names
        if name not in documented and not (name.endswith("_complete") and completeness)
    )
    assert missing == [], f"add these checks to {DOC.name}"
