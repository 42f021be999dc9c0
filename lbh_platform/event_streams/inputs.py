"""No day lost: what each snapshot must apply, and the proof that it did.

Every events partition records, in its parquet footer, the raw files it was compacted from
(count, newest modification time, a fingerprint of their names) and a digest of the events it
holds. Every snapshot records its base (with the base's build digest) and, for each events
partition it applied, that digest. From these:

- a raw folder between the base and the snapshot's day with no events partition, or whose files
  changed since it was compacted (late files), must be compacted before the snapshot is built
  (:func:`Inputs.to_compact`);
- a snapshot is *stale* when any events partition in its window was not applied, was compacted
  again since (another digest), or has raw files it does not hold, or when its base was rebuilt
  with other inputs (:func:`Inputs.snapshot_problems`); a stale snapshot is rebuilt, and every
  later one after it, in date order.

The window of a snapshot is ``(base, day]`` on a snapshot base, ``[base, day]`` on an initial
extract (the extract's own day's events are applied again: every event holds the whole state).
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import pyarrow as pa

from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.sink import EventFile, EventFiles
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.event_streams.watch import fingerprint
from lbh_platform.storage.lake import Lake

BASE_KEY = "lbh.base"
BASE_BUILD_KEY = "lbh.base_build"
BUILD_KEY = "lbh.build"
APPLIED_KEY = "lbh.events_applied"
DIGESTS_KEY = "lbh.events_digests"
UNKNOWN_KEY = "lbh.unknown_entity_events"
RAW_FILES_KEY = "lbh.raw_files"
RAW_NEWEST_KEY = "lbh.raw_newest"
RAW_FINGERPRINT_KEY = "lbh.raw_fingerprint"
EVENTS_READ_KEY = "lbh.events_read"
EVENTS_DIGEST_KEY = "lbh.events_digest"
OUTSIDE_SCHEMA_KEY = "lbh.fields_outside_schema"


@dataclass(frozen=True)
class Base:
    stage: str  # "initial_state" or "snapshot"
    value: str

    @property
    def label(self) -> str:
        return f"{self.stage}:{self.value}"

    @classmethod
    def parse(cls, label: str) -> "Base":
        stage, _, value = label.partition(":")
        return cls(stage, value)

    def covers(self, value: str, day: str) -> bool:
        """Whether events partition ``value`` is in the window of a snapshot of ``day``."""
        if self.stage == "initial_state":
            return self.value <= value <= day
        return self.value < value <= day


def digest(parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def events_digest(event_ids: list[str]) -> str:
    """The identity of an events partition: its events, whatever their order."""
    return f"{len(event_ids)}:{digest(sorted(event_ids))}"


def table_digest(table: pa.Table) -> str:
    """The identity of an extract's rows (its Arrow IPC bytes)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:32]


def raw_record(files: list[EventFile]) -> dict[str, str]:
    """What an events partition records of the raw files it was compacted from."""
    return {
        RAW_FILES_KEY: str(len(files)),
        RAW_NEWEST_KEY: _newest(files),
        RAW_FINGERPRINT_KEY: fingerprint([f.name for f in files]),
    }


def _next_day(value: str) -> str:
    return (datetime.strptime(value, "%Y%m%d") + timedelta(days=1)).strftime("%Y%m%d")


def _newest(files: list[EventFile]) -> str:
    times = [f.modified for f in files if f.modified is not None]
    return max(times).isoformat() if times else ""


@dataclass
class RawComparison:
    """A day's raw files now against what its events partition was compacted from."""

    value: str
    files_now: int
    newest_now: str
    files_compacted: int | None  # None: no events partition, or none recorded
    newest_compacted: str | None
    compacted: bool

    @property
    def state(self) -> str:
        """missing (never compacted), outdated (files changed since), current, or raw_gone
        (compacted, its raw files since removed: the events are kept)."""
        if not self.compacted:
            return "missing" if self.files_now else "current"
        if self.files_now == 0:
            return "raw_gone" if self.files_compacted else "current"
        if self.files_compacted is None:
            return "outdated"
        same = self.files_now == self.files_compacted and self.newest_now == self.newest_compacted
        return "current" if same else "outdated"


@dataclass
class Inputs:
    """One entity's raw folders, events partitions and snapshots, each listed once."""

    lake: Lake
    stream: EventStream
    _files: dict[str, list[EventFile]] = field(default_factory=dict)
    _footers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    @cached_property
    def sink(self) -> EventFiles:
        return EventFiles(self.lake, self.stream.topic)

    def partitions(self, stage: str) -> list[str]:
        return self._partitions[stage]

    @cached_property
    def _partitions(self) -> dict[str, list[str]]:
        return {
            stage: stage_table(self.lake, self.stream, stage).partitions()
            for stage in ("initial_state", "events", "snapshot")
        }

    def files(self, value: str) -> list[EventFile]:
        if value not in self._files:
            self._files[value] = self.sink.files(value)
        return self._files[value]

    def footer(self, stage: str, value: str) -> dict[str, str]:
        if (stage, value) not in self._footers:
            table = stage_table(self.lake, self.stream, stage)
            self._footers[(stage, value)] = table.file_metadata(value)
        return self._footers[(stage, value)]

    def compare(self, value: str) -> RawComparison:
        files = self.files(value)
        compacted = value in self.partitions("events")
        notes = self.footer("events", value) if compacted else {}
        recorded = notes.get(RAW_FILES_KEY)
        return RawComparison(
            value,
            len(files),
            _newest(files),
            int(recorded) if recorded is not None else None,
            notes.get(RAW_NEWEST_KEY) if recorded is not None else None,
            compacted,
        )

    def window(self, base: Base, day: str) -> list[str]:
        """Every calendar day in the window of a snapshot of ``day`` (its raw folders are
        looked up by their known paths, not by walking the topic's history)."""
        first = base.value if base.stage == "initial_state" else _next_day(base.value)
        days = set(self.partitions("events"))
        moment = datetime.strptime(first, "%Y%m%d")
        end = datetime.strptime(day, "%Y%m%d")
        while moment <= end:
            days.add(moment.strftime("%Y%m%d"))
            moment += timedelta(days=1)
        return sorted(v for v in days if base.covers(v, day))

    def to_compact(self, base: Base, day: str) -> list[RawComparison]:
        """Raw folders in the window never compacted, or whose files changed since."""
        found = [self.compare(v) for v in self.window(base, day)]
        return [c for c in found if c.state in ("missing", "outdated")]

    def build_digest(self, stage: str, value: str) -> str:
        return self.footer(stage, value).get(BUILD_KEY, "")

    def snapshot_problems(self, day: str) -> dict[str, list[str]]:
        """Why snapshot ``day`` does not hold every event landed in its window (empty: it
        does). Keys: not_compacted, not_applied, recompacted, raw_changed, applied_missing,
        base_rebuilt, no_record."""
        notes = self.footer("snapshot", day)
        if BASE_KEY not in notes:
            return {"no_record": [f"snapshot {day} has no record of its base"]}
        base = Base.parse(notes[BASE_KEY])
        applied = json.loads(notes.get(APPLIED_KEY, "[]"))
        digests = json.loads(notes.get(DIGESTS_KEY, "{}"))
        events = set(self.partitions("events"))
        problems: dict[str, list[str]] = {
            "not_compacted": [],
            "not_applied": [],
            "recompacted": [],
            "raw_changed": [],
            "applied_missing": [],
            "base_rebuilt": [],
        }
        for value in self.window(base, day):
            state = self.compare(value).state
            if state == "missing":
                problems["not_compacted"].append(value)
                continue
            if value not in events:
                continue
            if value not in applied:
                problems["not_applied"].append(value)
                continue
            if state == "outdated":
                problems["raw_changed"].append(value)
            current = self.footer("events", value).get(EVENTS_DIGEST_KEY, "")
            if value in digests and digests[value] != current:
                problems["recompacted"].append(value)
        problems["applied_missing"] = [v for v in applied if v not in events]
        base_partitions = self.partitions(base.stage)
        if base.value not in base_partitions:
            problems["base_rebuilt"].append(f"{base.label} is gone")
        elif BASE_BUILD_KEY in notes and notes[BASE_BUILD_KEY] != self.build_digest(
            base.stage, base.value
        ):
            problems["base_rebuilt"].append(base.label)
        return {k: v for k, v in problems.items() if v}

    def stale_snapshots(self, since: str | None = None) -> dict[str, dict[str, list[str]]]:
        """Snapshot partitions (from ``since`` on) that miss events, with why; a snapshot built
        on a stale one is stale too (``base_stale``), so the whole chain is rebuilt."""
        stale: dict[str, dict[str, list[str]]] = {}
        for value in self.partitions("snapshot"):
            if since is not None and value < since:
                continue
            problems = self.snapshot_problems(value)
            base = Base.parse(self.footer("snapshot", value).get(BASE_KEY, ":"))
            if base.stage == "snapshot" and base.value in stale:
                problems["base_stale"] = [base.label]
            if problems:
                stale[value] = problems
        return stale


def describe_problems(problems: dict[str, list[str]]) -> str:
    words = {
        "not_compacted": "raw folders never compacted",
        "not_applied": "events partitions not applied",
        "recompacted": "events partitions compacted again since",
        "raw_changed": "raw folders with files not compacted",
        "applied_missing": "applied events partitions since deleted",
        "base_rebuilt": "base rebuilt since",
        "base_stale": "built on a stale snapshot",
        "no_record": "no record of its inputs",
    }
    return "; ".join(f"{words[k]}: {', '.join(v)}" for k, v in problems.items())
