"""The parking API's stand-in: records per table, each with the day it was last updated."""

from datetime import date


class ParkingApiStandIn:
    def __init__(self, records: dict[str, list[dict]]):
        self.records = records
        self.calls: list[tuple[str, date]] = []

    def changed(self, table: str, day: date) -> list[dict]:
        """The records of ``table`` last updated on ``day`` (what a daily import fetches)."""
        self.calls.append((table, day))
        return [r for r in self.records.get(table, []) if r["updated"] == day.isoformat()]
