"""Field paths: where a value sits in a row, a nested field by path.

``name`` is a column; ``name.field`` a field of a struct column; ``name[].field`` a field of
each element of a list column (``household_members[].id``). A path is written the same way in
the personal-data declarations, in an erasure's key locator and for a JSON record (the record's
keys instead of columns). Names may hold any character but ``.``, ``[`` and ``]``.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lbh_platform.common.errors import ConfigurationError

KeyTest = Callable[[str], bool]  # whether a value's text is one of the keys
_STEP = re.compile(r"^([^.\[\]]+)(\[\])?$")


@dataclass(frozen=True)
class Step:
    name: str
    each: bool = False  # the value is a list: the rest of the path applies to each element

    def __str__(self) -> str:
        return f"{self.name}[]" if self.each else self.name


@dataclass(frozen=True)
class FieldPath:
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return ".".join(str(s) for s in self.steps)

    @property
    def column(self) -> str:
        """The top-level column (or record key) the path starts at."""
        return self.steps[0].name

    @property
    def in_list(self) -> bool:
        """Whether the value is inside list elements (an erasure removes those elements)."""
        return any(s.each for s in self.steps[:-1])

    @property
    def ends_in_list(self) -> bool:
        return self.steps[-1].each


def parse_path(text: str, where: str = "field path") -> FieldPath:
    """``a``, ``a.b``, ``a[].b``...; a clear error naming ``where`` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError(f"{where}: a field path must be a non-empty text, got {text!r}")
    steps = []
    for part in text.strip().split("."):
        found = _STEP.match(part)
        if found is None:
            raise ConfigurationError(
                f"{where}: {text!r} is not a field path (write column, column.field or "
                "column[].field)"
            )
        steps.append(Step(found.group(1), bool(found.group(2))))
    return FieldPath(tuple(steps))


def values_at(record: Any, steps: tuple[Step, ...]) -> Iterator[Any]:
    """Every value at ``steps`` in a decoded record (dicts and lists), skipping missing ones."""
    if not steps:
        yield record
        return
    if not isinstance(record, Mapping):
        return
    step, rest = steps[0], steps[1:]
    value = record.get(step.name)
    if value is None:
        return
    if step.each:
        if isinstance(value, list):
            for element in value:
                yield from values_at(element, rest)
        return
    yield from values_at(value, rest)


def text_of(value: Any) -> str:
    """A value as the text keys are compared with (``123`` and ``"123"`` are one key)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def holds(record: Any, path: FieldPath, test: KeyTest) -> bool:
    """Whether any value at ``path`` in ``record`` is a key."""
    return any(v is not None and test(text_of(v)) for v in values_at(record, path.steps))


def without_elements(record: Any, path: FieldPath, test: KeyTest) -> tuple[Any, int]:
    """``record`` with every element of the path's innermost list that holds a key removed
    (a person inside a household: the household stays); returns the count removed."""
    last = max(i for i, s in enumerate(path.steps) if s.each)
    if last == len(path.steps) - 1:  # ``a[]``: the elements are the values themselves
        return _drop(record, path.steps, last, lambda e: e is not None and test(text_of(e)))
    inner = FieldPath(path.steps[last + 1 :])
    return _drop(record, path.steps, last, lambda e: holds(e, inner, test))


def _drop(record: Any, steps: tuple[Step, ...], last: int, matched: Any) -> tuple[Any, int]:
    if not isinstance(record, Mapping):
        return record, 0
    step = steps[0]
    value = record.get(step.name)
    if value is None:
        return record, 0
    if last == 0:
        if not isinstance(value, list):
            return record, 0
        kept = [e for e in value if not matched(e)]
        return {**record, step.name: kept}, len(value) - len(kept)
    if step.each:
        if not isinstance(value, list):
            return record, 0
        edited, removed = [], 0
        for element in value:
            new, n = _drop(element, steps[1:], last - 1, matched)
            edited.append(new)
            removed += n
        return ({**record, step.name: edited}, removed) if removed else (record, 0)
    new, removed = _drop(value, steps[1:], last - 1, matched)
    return ({**record, step.name: new}, removed) if removed else (record, 0)
