"""The commands of README.md and docs/OPERATING.md work as written.

Every ```sh / ```bash block is read and each command's words are expanded by bash, as the
reader's shell would (command substitutions and variables included). Each command is then
checked against the checkout and the loaded code location, never against key strings kept
here: a ``make`` target exists; a ``python -m`` module exists and answers ``--help``;
``bin/dagster``'s subcommand exists, its module loads, every ``--select`` part resolves to
assets, a partitioned materialisation selects every stage upstream of what it builds (a later
stage alone fails for a day whose earlier stages never ran), its partitions exist, and jobs,
ops and tags name what the job has. The README's own commands then run for real on a
temporary instance and zones, and their run shows in that instance (the UI's).
"""

import importlib
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/OPERATING.md")
WRAPPER, VENV_PYTHON = "bin/dagster", ".venv/bin/python"
PROGRAMS = ("make", WRAPPER, VENV_PYTHON)
_BLOCK = re.compile(r"^```(?:sh|bash)\n(.*?)^```", re.DOTALL | re.MULTILINE)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Command:
    document: str
    line: str  # as written, continuations joined
    argv: tuple[str, ...]  # as the shell expands it

    def __str__(self) -> str:
        return f"{self.document}: {self.line}"


def _logical_lines(block: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip()]


def _expand(lines: list[str]) -> list[tuple[str, ...]]:
    """Each command's argv, expanded by bash: the programs are shell functions that print
    their arguments, so nothing but the assignments' command substitutions runs."""
    shims = "\n".join(
        f'{program}() {{ printf "%s\\0" {shlex.quote(program)} "$@"; printf "\\1\\0"; }}'
        for program in PROGRAMS
    )
    out = subprocess.run(
        ["bash", "-euc", shims + "\n" + "\n".join(lines)],
        capture_output=True,
        check=True,
        cwd=ROOT,
    ).stdout.decode()
    words, commands = [], []
    for word in out.split("\0")[:-1]:
        if word == "\1":
            commands.append(tuple(words))
            words = []
        else:
            words.append(word)
    return commands


def commands_of(document: str, text: str) -> list[Command]:
    found = []
    for block in _BLOCK.findall(text):
        lines = _logical_lines(block)
        written = []
        for line in lines:
            words = shlex.split(line, comments=True)
            if not words or _ASSIGNMENT.match(words[0]):
                continue
            assert words[0] in PROGRAMS, (
                f"{document}: `{line}` runs {words[0]!r}; a documented command is one of "
                f"{PROGRAMS} (or teach this test to check it)"
            )
            written.append(line)
        expanded = _expand(lines)
        assert len(expanded) == len(written), f"{document}: a block's commands did not all expand"
        found += [Command(document, w, e) for w, e in zip(written, expanded, strict=True)]
    return found


def documented_commands() -> list[Command]:
    return [c for doc in DOCUMENTS for c in commands_of(doc, (ROOT / doc).read_text())]


COMMANDS = documented_commands()


# --- checks of one command (also fed bad commands below, to show they fail) ---------------


def _options(args: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """(subcommand words, {option: value}); every documented option takes a value."""
    words, options, rest = [], {}, list(args)
    while rest:
        arg = rest.pop(0)
        if arg.startswith("-"):
            assert rest, f"option {arg} has no value"
            options[arg] = rest.pop(0)
        elif options:
            raise AssertionError(f"unexpected argument {arg!r} after the options")
        else:
            words.append(arg)
    return words, options


def _definitions(module: str) -> dg.Definitions:
    loaded = importlib.import_module(module)
    found = [v for v in vars(loaded).values() if isinstance(v, dg.Definitions)]
    assert len(found) == 1, f"module {module} has {len(found)} Definitions objects"
    return found[0]


def _resolve(defs: dg.Definitions, select: str) -> set[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    keys: set[dg.AssetKey] = set()
    for part in select.split(","):  # as `dagster asset materialize` splits it
        resolved = dg.AssetSelection.from_string(part).resolve(graph, allow_missing=True)
        assert resolved, f"--select {part!r} matches no asset of the code location"
        keys |= resolved
    return keys


def _check_partition_run(defs: dg.Definitions, keys: set[dg.AssetKey], options) -> None:
    graph = defs.resolve_asset_graph()
    missing = {
        parent.to_user_string(): key.to_user_string()
        for key in keys
        for parent in graph.get(key).parent_keys
        if graph.has(parent) and graph.get(parent).is_materializable and parent not in keys
    }
    assert not missing, (
        f"the selection leaves out stages upstream of what it builds (upstream: selected): "
        f'{missing}; select them too, e.g. +key:"…"'
    )
    job = defs.get_repository_def().get_implicit_job_def_for_assets(list(keys))
    assert job is not None, "the selection mixes partitions definitions: not one run"
    partitions = {graph.get(k).partitions_def for k in keys}
    assert None not in partitions and len(partitions) == 1, "not one partitions definition"
    [definition] = partitions
    if "--partition" in options:
        days = [options["--partition"]]
    else:
        days = options["--partition-range"].split("...")
        assert len(days) == 2, "--partition-range is <start>...<end>"
        for key in keys:
            policy = graph.get(key).backfill_policy
            assert policy is not None and policy.max_partitions_per_run is None, (
                f"{key.to_user_string()} does not build a range in one run"
            )
    for day in days:
        assert definition.has_partition_key(day), f"partition {day!r} does not exist"


def check_dagster(args: tuple[str, ...]) -> None:
    words, options = _options(args)
    if words == ["definitions", "validate"]:
        assert (ROOT / options["-w"]).is_file(), f"no workspace file {options['-w']}"
        return
    defs = _definitions(options["-m"])
    keys = _resolve(defs, options["--select"]) if "--select" in options else set()
    if words == ["asset", "materialize"]:
        assert keys, "asset materialize needs --select"
        _check_partition_run(defs, keys, options)
    if "-j" in options:
        job = defs.resolve_job_def(options["-j"])
        if "-o" in options:
            names = set(options["-o"].split(","))
            known = {node.name for node in job.graph.nodes}
            assert names <= known, f"job {job.name} has no op {sorted(names - known)}"
        if "--tags" in options:
            tags = json.loads(options["--tags"])
            day = tags.get("dagster/partition")
            if day is not None:
                assert job.partitions_def is not None, f"job {job.name} is not partitioned"
                assert job.partitions_def.has_partition_key(day), f"partition {day!r} not in job"


def check_command(argv: tuple[str, ...]) -> None:
    program, args = argv[0], argv[1:]
    if program == "make":
        targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.M))
        assert set(args) <= targets, f"Makefile has no target {sorted(set(args) - targets)}"
    elif program == VENV_PYTHON:
        assert args[0] == "-m", "documented Python commands run a module (-m)"
        assert importlib.util.find_spec(args[1]) is not None, f"no module {args[1]}"
    else:
        assert (ROOT / WRAPPER).is_file() and (ROOT / WRAPPER).stat().st_mode & 0o111
        check_dagster(args)


@pytest.mark.parametrize("command", COMMANDS, ids=[c.line[:70] for c in COMMANDS])
def test_each_documented_command_names_what_exists(command: Command) -> None:
    check_command(command.argv)


def test_the_readme_documents_the_front_door_commands():
    readme = [c.argv for c in COMMANDS if c.document == "README.md"]
    assert {("make", "run"), ("make", "test"), ("make", "dev")} <= set(readme)
    assert any(argv[:3] == (WRAPPER, "asset", "materialize") for argv in readme)


def _entry_points() -> list[tuple[str, ...]]:
    """Each documented program and subcommand once, as `--help` takes it."""
    seen: dict[tuple[str, ...], None] = {}
    for command in COMMANDS:
        program, args = command.argv[0], command.argv[1:]
        if program == VENV_PYTHON:
            seen[("-m", args[1])] = None
        elif program == WRAPPER:
            seen[("-m", "dagster", *_options(args)[0])] = None
    return list(seen)


@pytest.mark.parametrize("entry", _entry_points(), ids=" ".join)
def test_each_entry_point_answers_help(entry: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, *entry, "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    "argv",
    [
        ("make", "no-such-target"),
        (VENV_PYTHON, "-m", "lbh_platform.cli.no_such_module"),
        (WRAPPER, "asset", "list", "-m", "lbh_platform.no_such_module"),
        (WRAPPER, "job", "list", "-m", "lbh_platform.definitions", "-j", "no_such_job"),
        (WRAPPER, "asset", "list", "-m", "lbh_platform.definitions", "--select", 'key:"no/such"'),
        (
            WRAPPER,
            "asset",
            "materialize",
            "-m",
            "lbh_platform.definitions",
            "--select",
            'group:tascomi,key:"no/such/asset"',
            "--partition",
            "2024-03-05",
        ),
    ],
    ids=["target", "module", "dagster module", "job", "asset", "one asset of a list"],
)
def test_a_command_naming_something_missing_fails(argv) -> None:
    with pytest.raises((AssertionError, ImportError, dg.DagsterInvariantViolationError)):
        check_command(argv)


def test_a_backfill_of_one_stage_without_its_upstream_fails() -> None:
    defs = _definitions("lbh_platform.definitions")
    graph = defs.resolve_asset_graph()
    later = next(k for k in graph.get_all_asset_keys() if graph.get(k).parent_keys)
    select = f'key:"{later.to_user_string()}"'
    argv = (WRAPPER, "asset", "materialize", "-m", "lbh_platform.definitions", "--select", select)
    with pytest.raises(AssertionError, match="upstream"):
        check_command((*argv, "--partition", "2024-03-05"))


# --- the README's commands, for real -------------------------------------------------------


@pytest.mark.integration
def test_the_readmes_commands_run_and_their_run_shows_in_the_instance(
    tmp_path: Path, monkeypatch
) -> None:
    """In order, as a reader after `make run`; `probe` (documented "with `make dev`
    running") runs while simulators are announced for the instance, as `make dev`'s are."""
    from datetime import datetime

    from lbh_platform_devkit.local import LONDON, local_stand_ins

    home = tmp_path / "dagster_home"
    environ = {
        **_process_environment(),
        "DAGSTER_HOME": str(home),
        "LBH_RAW_ZONE": str(tmp_path / "raw-zone"),
        "LBH_REFINED_ZONE": str(tmp_path / "refined-zone"),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("TASCOMI_API_URL", "ALLOY_API_URL", "LBH_DUCKDB_PATH"):
        environ.pop(name, None)
    ran = 0
    for command in (c for c in COMMANDS if c.document == "README.md"):
        program, args = command.argv[0], command.argv[1:]
        if program == "make":
            continue  # long-running: checked above to be targets
        runner = [sys.executable, str(ROOT / "bin" / "local_dagster.py")]
        argv = [*runner, *args] if program == WRAPPER else [sys.executable, *args]
        needs_dev = args[:2] == ("-m", "lbh_platform.cli.probe")
        assert "--write" not in args, "a README command must not change the checkout"
        for name in ("TASCOMI_API_URL", "TASCOMI_PUBLIC_KEY", "TASCOMI_PRIVATE_KEY"):
            monkeypatch.setenv(name, "")  # restored after: the simulators set them
        today = datetime.now(LONDON).date()
        with (
            local_stand_ins(home, first_day=today, scale=None, event_stream_days=None)
            if needs_dev
            else _nothing()
        ):
            done = subprocess.run(
                argv, capture_output=True, text=True, cwd=ROOT, env=environ, timeout=600
            )
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        ran += 1
    assert ran >= 2
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert runs and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)


@contextmanager
def _nothing():
    yield


def _process_environment() -> dict[str, str]:
    from lbh_platform.settings_registry import process_environment

    return process_environment()
