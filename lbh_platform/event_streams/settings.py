"""Each event-streamed entity's settings, ``<NAME>_DYNAMODB_*`` (see
:mod:`lbh_platform.settings_registry`): declared for every configured entity when the
configuration is loaded, so a new entry brings its own."""

from dataclasses import replace
from typing import TYPE_CHECKING

from lbh_platform.settings_registry import Setting, declare

if TYPE_CHECKING:
    from lbh_platform.event_streams.spec import EventStream

DEFAULT_SEGMENTS = 4


def declare_stream_settings(stream: "EventStream", shipped: bool = True) -> tuple[Setting, ...]:
    """``shipped``: the entity is in the shipped configuration (documented and deployed);
    an entity of another configuration file (a test's) is declared for reading only."""
    prefix = f"{stream.env_prefix}_DYNAMODB"
    settings = (
        Setting(
            f"{prefix}_TABLE",
            f"DynamoDB table of the {stream.label} initial state.",
            default=stream.dynamodb_table,
            scope="sources",
        ),
        Setting(
            f"{prefix}_SEGMENTS",
            f"Parallel scan segments of the {stream.label} initial state.",
            default=str(DEFAULT_SEGMENTS),
            scope="sources",
        ),
        Setting(
            f"{prefix}_PAGE_SIZE",
            f"`Limit` per scan request of the {stream.label} initial state.",
            shown_default="unset (DynamoDB's 1 MB pages)",
            scope="sources",
        ),
    )
    return declare(*(replace(s, documented=shipped) for s in settings))


def _declare_shipped() -> None:
    from lbh_platform.event_streams.spec import load_event_streams

    for stream in load_event_streams():
        declare_stream_settings(stream)


_declare_shipped()
