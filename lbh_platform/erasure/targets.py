"""What an erasure is told about a source: its stages in pipeline order, each a partitioned
table or a set of raw files, and where each holds the key (see :mod:`.engine`)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lbh_platform.erasure.files import FileStore
from lbh_platform.erasure.locate import Locator
from lbh_platform.storage.partitioned_table import PartitionedTable

# (partition value, its footer notes now) -> the notes to publish it with
Restate = Callable[[str, dict[str, str]], Mapping[str, str]]


@dataclass(frozen=True)
class TableTarget:
    """One stage's partitioned table and where its rows hold the key."""

    stage: str
    table: PartitionedTable
    locator: Locator
    depends_on: tuple[str, ...] = ()  # the stages (earlier targets) it is built from
    cumulative: bool = False  # built on its previous partition and inputs up to its value
    restate: Restate | None = None

    @property
    def location(self) -> str:
        return self.table.display


@dataclass(frozen=True)
class FileTarget:
    """Raw files by day (an event sink's), each holding one or more records."""

    stage: str
    files: FileStore
    locator: Locator

    @property
    def location(self) -> str:
        return self.files.display


Target = TableTarget | FileTarget
