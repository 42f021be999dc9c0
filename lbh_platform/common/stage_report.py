"""What a stage reports after publishing a partition; shared by every pipeline."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageReport:
    """``key`` is the asset key path, e.g. ``("tascomi", "parsed", "appeals")``."""

    key: tuple[str, ...]
    partition: str
    rows: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "/".join(self.key)
