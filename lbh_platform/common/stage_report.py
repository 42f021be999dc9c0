"""What a stage reports after publishing a partition; shared by every pipeline."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageReport:
    """``stage`` (and ``table``, when a unit publishes several tables at one stage) names the
    asset within its source's unit: the asset key is made by the builder, not here."""

    stage: str
    partition: str
    rows: int
    metadata: dict[str, Any] = field(default_factory=dict)
    table: str | None = None

    @property
    def label(self) -> str:
        return self.stage if self.table is None else f"{self.stage}/{self.table}"
