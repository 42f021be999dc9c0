"""Add a table to the Tascomi configuration files without disturbing them.

The table list and the catalogue are hand-kept files with comments and a chosen order
(daily tables first, then weekly; catalogue tables alphabetical). A YAML round trip would
re-emit them, so this inserts text: one line after the last entry of the same cadence, one
block at its alphabetical place; a paused table is resumed by the rule (PAUSED_RULE), its line
under ``paused:`` removed. The result must load with the project's own loaders and
differ only by the new table, or nothing is written; both files are replaced atomically. The
files are read with the bounded loader (:mod:`lbh_platform.common.yaml_loader`) here too.
"""

import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.yaml_loader import compose_yaml, parse_yaml, read_config_text
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import PAUSED_RULE, TascomiTable, load_table_list


class ConfigEditError(Exception):
    """The files cannot be edited as asked; the message names the file and the reason."""


@dataclass(frozen=True)
class Edit:
    """What :func:`add_table` changed."""

    tables_line: int  # 1-based line of the new entry
    catalogue_line: int | None  # 1-based first line of the new block, None when not added
    resumed: bool = False  # the table was under 'paused:' and its name moved to 'tables:'


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _ensure_newline(lines: list[str]) -> None:
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"


def commented_out(text: str, name: str) -> int | None:
    """1-based line where ``name`` is listed but commented out, if any."""
    pattern = re.compile(rf"^\s*#\s*-\s*\{{?\s*name:\s*['\"]?{re.escape(name)}['\"]?\s*[,}}\s]")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line + " "):
            return number
    return None


def insert_table_line(text: str, path: Path, entry: Mapping[str, str]) -> tuple[str, int]:
    """The table list with ``entry`` after the last entry of its cadence (or the last one)."""
    try:
        root = compose_yaml(text, path)
        document = parse_yaml(text, path)
    except ConfigurationError as exc:
        raise ConfigEditError(str(exc)) from None
    sequence = None
    if isinstance(root, yaml.MappingNode):
        sequence = next((v for k, v in root.value if k.value == "tables"), None)
    if not isinstance(sequence, yaml.SequenceNode) or not sequence.value or sequence.flow_style:
        raise ConfigEditError(
            f"{path}: no block list under 'tables:' to add to; add the entry by hand"
        )
    items = document["tables"]
    cadence = entry.get("cadence", "daily")
    same = [
        i
        for i, item in enumerate(items)
        if isinstance(item, dict) and item.get("cadence", "daily") == cadence
    ]
    after = sequence.value[same[-1] if same else -1]
    lines = _lines(text)
    start = after.start_mark
    prefix = lines[start.line][: start.column]
    if prefix.strip() != "-":
        raise ConfigEditError(
            f"{path} line {start.line + 1}: unexpected entry layout; add the entry by hand"
        )
    end = after.end_mark
    last = end.line if end.column > 0 else end.line - 1
    new = prefix + "{" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}\n"
    _ensure_newline(lines)
    lines.insert(last + 1, new)
    return "".join(lines), last + 2


def remove_paused_entry(text: str, path: Path, name: str) -> str:
    """The table list without ``name``'s line under ``paused:`` (a block list, one name a
    line), so that the name can move to ``tables:``."""
    try:
        root = compose_yaml(text, path)
    except ConfigurationError as exc:
        raise ConfigEditError(str(exc)) from None
    sequence = None
    if isinstance(root, yaml.MappingNode):
        sequence = next((v for k, v in root.value if k.value == "paused"), None)
    items = sequence.value if isinstance(sequence, yaml.SequenceNode) else []
    node = next((item for item in items if getattr(item, "value", None) == name), None)
    lines = _lines(text)
    start = None if node is None or sequence.flow_style else node.start_mark
    if start is None or lines[start.line][: start.column].strip() != "-":
        raise ConfigEditError(
            f"{path}: cannot take {name!r} out of 'paused:' here (not one name a line); "
            f"move it by hand: {PAUSED_RULE}"
        )
    del lines[start.line]
    return "".join(lines)


def insert_catalogue_block(
    text: str, path: Path, table: str, columns: Mapping[str, str]
) -> tuple[str, int]:
    """The catalogue with a ``table:`` block at its alphabetical place among the tables."""
    try:
        root = compose_yaml(text, path)
    except ConfigurationError as exc:
        raise ConfigEditError(str(exc)) from None
    lines = _lines(text)
    _ensure_newline(lines)
    indent = "  "
    keys: list[tuple[str, int]] = []
    if isinstance(root, yaml.MappingNode):
        if root.flow_style:
            raise ConfigEditError(f"{path}: a flow-style catalogue; add the block by hand")
        keys = [(k.value, k.start_mark.line) for k, _ in root.value]
        first = next(
            (v for _, v in root.value if isinstance(v, yaml.MappingNode) and v.value), None
        )
        if first is not None and not first.flow_style:
            indent = " " * first.value[0][0].start_mark.column
    elif root is not None:
        raise ConfigEditError(f"{path}: expected '<table>: {{<column>: <type>}}' mappings")
    block = [f"{table}:\n", *(f"{indent}{c}: {t}\n" for c, t in columns.items())]
    following = next((line for name, line in keys if name > table), None)
    if following is None:
        at = len(lines)
    else:
        at = following
        # Comment lines directly above the next table belong to it: insert above them.
        while at > 0 and lines[at - 1].lstrip().startswith("#"):
            at -= 1
    lines[at:at] = block
    return "".join(lines), at + 1


def _replace_atomically(path: Path, text: str) -> None:
    """Write next to ``path`` and move into place, keeping the file's permissions."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check(path: Path, text: str, load: Callable[[str], object], expect: object, what: str) -> None:
    """Load ``text`` with the project's loader (from a temporary copy) and compare."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.check.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        try:
            got = load(temporary)
        except ConfigurationError as exc:
            raise ConfigEditError(f"{path}: the edited file would not load: {exc}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    if got != expect:
        raise ConfigEditError(f"{path}: the edit would change more than {what}; nothing written")


def add_table(
    tables_file: Path,
    catalogue_file: Path,
    entry: Mapping[str, str],
    columns: Mapping[str, str],
) -> Edit:
    """Add ``entry`` to the table list and, if ``columns``, a block to the catalogue.

    A name under ``paused:`` is resumed: moved from ``paused:`` to ``tables:``. Refuses a name
    already under ``tables:`` or there commented out, and a catalogue that already has the
    table. Both edits are checked with the project's loaders before either is written.
    """
    name = entry["name"]
    try:
        table_list = load_table_list(tables_file)
        tables_text = read_config_text(tables_file)
    except ConfigurationError as exc:
        raise ConfigEditError(str(exc)) from None
    tables = table_list.tables
    if any(t.name == name for t in tables):
        raise ConfigEditError(f"{tables_file}: {name!r} is already listed; nothing written")
    resumed = name in table_list.paused
    commented = None if resumed else commented_out(tables_text, name)
    if commented is not None:
        raise ConfigEditError(
            f"{tables_file} line {commented}: {name!r} is there, commented out: uncomment that "
            f"line to ingest it, or delete it ({PAUSED_RULE}); nothing written"
        )
    if resumed:
        tables_text = remove_paused_entry(tables_text, tables_file, name)
    new_tables, tables_line = insert_table_line(tables_text, tables_file, entry)
    added = TascomiTable(name=name, cadence=entry.get("cadence", "daily"))  # type: ignore[arg-type]
    expected_tables = (
        sorted([*tables, added], key=lambda t: t.name),
        sorted(table_list.paused - {name}),
    )

    def load_sorted(path: str) -> tuple[list[TascomiTable], list[str]]:
        loaded = load_table_list(path)
        return sorted(loaded.tables, key=lambda t: t.name), sorted(loaded.paused)

    _check(tables_file, new_tables, load_sorted, expected_tables, f"adding {name}")

    new_catalogue = None
    catalogue_line = None
    if columns:
        try:
            catalogue = ColumnTypeCatalogue.load(catalogue_file)
            catalogue_text = read_config_text(catalogue_file)
        except ConfigurationError as exc:
            raise ConfigEditError(str(exc)) from None
        if name in catalogue.tables():
            raise ConfigEditError(
                f"{catalogue_file}: {name!r} already has a block; edit it by hand; nothing written"
            )
        new_catalogue, catalogue_line = insert_catalogue_block(
            catalogue_text, catalogue_file, name, columns
        )
        expected = {t: catalogue.columns(t) for t in catalogue.tables()} | {name: dict(columns)}

        def load_types(path: str) -> dict[str, dict[str, str]]:
            loaded = ColumnTypeCatalogue.load(path)
            return {t: loaded.columns(t) for t in loaded.tables()}

        _check(catalogue_file, new_catalogue, load_types, expected, f"adding {name}")
    # The table list first: should the second replace fail, a listed table without types
    # still loads (and runs untyped), while types for an unlisted table would not.
    _replace_atomically(tables_file, new_tables)
    if new_catalogue is not None:
        _replace_atomically(catalogue_file, new_catalogue)
    return Edit(tables_line, catalogue_line, resumed)
