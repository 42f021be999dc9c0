"""The production package stays production code: it never imports the development kit or the
tests, holds no simulator, stand-in or demo module, and the image ships it without the kit."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ROOT / "lbh_platform"
FORBIDDEN = ("lbh_platform_devkit", "lbh_platform_tests")
# Modules that belong to the development kit, by name (lbh_platform_devkit/ holds them).
DEVKIT_MODULES = {"simulator", "stand_in", "stand_ins", "seed", "generator", "demo", "dev"}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an ``import`` / ``from ... import`` names (absolute ones), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def forbidden_imports(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(root)}:{line}: imports {module}"
        for line, module in imported_modules(tree)
        if module.split(".")[0] in FORBIDDEN
    ]


def test_the_production_package_imports_neither_the_devkit_nor_the_tests() -> None:
    problems = [p for path in sorted(PRODUCTION.rglob("*.py")) for p in forbidden_imports(path)]
    assert problems == []


def test_the_check_sees_an_import_of_the_devkit_anywhere_in_a_module(tmp_path) -> None:
    module = tmp_path / "lbh_platform" / "m.py"
    module.parent.mkdir()
    module.write_text(
        "def f():\n    from lbh_platform_devkit.local import LocalStandIns\n"
        "    import lbh_platform_tests.conftest\n"
    )
    assert forbidden_imports(module, root=tmp_path) == [
        "lbh_platform/m.py:2: imports lbh_platform_devkit.local",
        "lbh_platform/m.py:3: imports lbh_platform_tests.conftest",
    ]


def test_no_simulator_stand_in_or_demo_module_is_left_in_the_production_package() -> None:
    left = [
        str(path.relative_to(ROOT))
        for path in PRODUCTION.rglob("*")
        if (path.is_dir() or path.suffix == ".py") and path.stem in DEVKIT_MODULES
    ]
    assert left == []


def test_the_devkit_is_a_package_beside_the_production_one() -> None:
    import lbh_platform_devkit

    assert Path(lbh_platform_devkit.__file__).resolve().parent == ROOT / "lbh_platform_devkit"


@pytest.fixture(scope="module")
def dockerfile_copies() -> list[str]:
    """The sources of every COPY in deploy/Dockerfile (the last word is the destination)."""
    copies = []
    for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words and words[0] == "COPY":
            copies.extend(w for w in words[1:-1] if not w.startswith("--"))
    return copies


def test_the_image_copies_the_production_package(dockerfile_copies) -> None:
    assert "lbh_platform" in dockerfile_copies


def test_the_image_copies_neither_the_devkit_nor_the_tests(dockerfile_copies) -> None:
    # A wildcard or the whole context ("." or "*") would bring the kit in too.
    shipped = [
        c
        for c in dockerfile_copies
        if c.rstrip("/") in (".", "*") or re.match(r"lbh_platform_(devkit|tests)", c)
    ]
    assert shipped == []
