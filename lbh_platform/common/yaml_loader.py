"""Configuration files read as YAML with bounds, so a hostile or mistaken file fails fast.

PyYAML's safe loader expands anchors without limit (a few hundred bytes become billions of
values), recurses once per nesting level (a deep list ends in ``RecursionError``) and keeps
the last of two equal keys without a word. Configuration is small and hand-kept, so this
loader refuses what no such file needs, while composing, before the document's values are built:

- more than :data:`MAX_NODES` values, counting every alias (``*name``) as the values it
  stands for, and an alias inside the node it refers to;
- nesting deeper than :data:`MAX_DEPTH` levels;
- a key given twice in one mapping (a merge ``<<:`` may still be overridden);
- a file larger than :data:`MAX_BYTES`.

Every error is a :class:`ConfigurationError` naming the file, line and column, and never
shows a value whole (:func:`shown`).
"""

import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from lbh_platform.common.errors import ConfigurationError

try:  # libyaml's parser where installed: the Python composer below runs on its events
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _Parser = None

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"
T = TypeVar("T")

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 2


def shown(value: object) -> str:
    """``repr(value)`` cut short, for messages: a value from a file may be huge."""
    return _repr.repr(value)


class _Refused(yaml.MarkedYAMLError):
    """A bound this loader enforces, at the place in the file where it was crossed."""

    def __init__(self, problem: str, mark: yaml.Mark):
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting values and depth and refusing repeated keys."""

    def __init__(self) -> None:
        super().__init__()
        self._nodes = 0
        self._depth = 0
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)

    def compose_node(self, parent: Node | None, index: object) -> Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                if event.anchor in self._open:
                    raise _Refused(
                        f"alias *{event.anchor} is inside the node it refers to",
                        event.start_mark,
                    )
                values, height = self._measure(target)
                self._account(values, self._depth + height, event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        self._account(1, self._depth, event.start_mark)
        if event.anchor is not None:
            self._open.add(event.anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(event.anchor)

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)  # type: ignore[attr-defined]
            try:
                first = seen.get(key)
            except TypeError:
                continue  # the constructor refuses an unhashable key itself
            if first is not None:
                raise _Refused(
                    f"key {shown(key)} appears twice in one mapping (first at line "
                    f"{first.line + 1}, column {first.column + 1}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return node

    def _account(self, values: int, depth: int, mark: yaml.Mark) -> None:
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", mark)
        self._nodes += values
        if self._nodes > MAX_NODES:
            raise _Refused(
                f"more than {MAX_NODES:,} values once aliases (*name) are expanded; a "
                "configuration file needs far fewer (an alias bomb?)",
                mark,
            )

    def _measure(self, node: Node) -> tuple[int, int]:
        """Values ``node`` stands for and its height; depth is bounded, so recursion is."""
        known = self._measured.get(id(node))
        if known is not None:
            return known
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        measured = [self._measure(child) for child in children]
        result = (
            1 + sum(values for values, _ in measured),
            1 + max((height for _, height in measured), default=0),
        )
        self._measured[id(node)] = result
        return result


if _Parser is not None:

    class _Loader(_BoundedComposer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc]
        def __init__(self, text: str):
            _Parser.__init__(self, text)
            _BoundedComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

else:  # pragma: no cover
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Loader(  # type: ignore[no-redef]
        Reader, Scanner, Parser, _BoundedComposer, SafeConstructor, Resolver
    ):
        def __init__(self, text: str):
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)
            _BoundedComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)


def _place(mark: yaml.Mark | None) -> str:
    return f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _read(text: str, source: Path | str, read: Callable[[_Loader], T]) -> T:
    """``read(loader)`` with every YAML error as a ConfigurationError naming the place."""
    loader = _Loader(text)
    try:
        return read(loader)
    except _Refused as exc:
        raise ConfigurationError(f"{source}{_place(exc.problem_mark)}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        context = f" ({exc.context}{_place(exc.context_mark)})" if exc.context else ""
        raise ConfigurationError(
            f"{source}{_place(exc.problem_mark)}: not valid YAML: {exc.problem}{context}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source} is not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def parse_yaml(text: str, source: Path | str) -> object:
    """The one document in ``text`` (from the file ``source``), within the bounds above."""
    return _read(text, source, lambda loader: loader.get_single_data())


def read_config_text(path: Path | str) -> str:
    """The file's text, refused beyond :data:`MAX_BYTES`; a missing file is
    ``FileNotFoundError`` so each caller says which file it wanted."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ConfigurationError(
            f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MiB; a configuration file is a "
            "few kilobytes"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def load_yaml(path: Path | str) -> object:
    """The one YAML document in the file ``path``, within the bounds above."""
    return parse_yaml(read_config_text(path), path)


def compose_yaml(text: str, source: Path | str) -> Node | None:
    """The node tree of ``text`` (marks kept, for editing it as text), within the bounds."""
    return _read(text, source, lambda loader: loader.get_single_node())
