"""Deterministic synthetic Tascomi data: a per-table version log plus lazy record rendering.

The simulator must serve years of daily changes for 48 tables quickly and identically on every
run, so nothing is stored per field. Each table keeps a compact log of versions (id, version
number, UTC timestamp, London day) as ``array`` columns, grown day by day on demand; a record's
content is a pure function of (seed, table, id, version) and is only rendered to JSON when it is
served, then kept in a bounded cache.
"""

import base64
import hashlib
import json
import random
import threading
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import TascomiTable

LONDON = ZoneInfo("Europe/London")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_EPOCH = date(2021, 9, 1)

# Field-count targets taken from the real API (FACTS: applications has ~751 fields).
APPLICATIONS_FIELDS = 751
UNCATALOGUED_STRING_COLUMNS = 10
INITIAL_SPREAD_DAYS = 365  # the initial population was last updated within the year before epoch
# A resource the table list does not ingest has no cadence of its own: one named like a lookup
# table is simulated as a slowly changing one (so probe's hint says weekly), any other as busy.
LOOKUP_SUFFIXES = ("_types", "_categories", "_codes", "_levels", "_statuses", "_reasons")
LOOKUP_NAMES = frozenset({"titles"})

Maker = Callable[[random.Random], object]

_GENERIC_STRINGS = (
    "name",
    "description",
    "notes",
    "reference",
    "code",
    "title",
    "comments",
    "status_text",
    "label",
)
_UNCATALOGUED_STRINGS = (
    "reference",
    "description",
    "site_address",
    "postcode",
    "constraint_type",
    "status_text",
    "notes",
    "officer_name",
    "ward_name",
    "uprn",
    "category",
    "outcome_text",
)
_PREFIXES = (
    "site",
    "applicant",
    "agent",
    "proposal",
    "officer",
    "case",
    "decision",
    "consultation",
    "committee",
    "ward",
    "parish",
    "location",
    "development",
    "heritage",
    "tree",
    "highway",
    "flood",
    "condition",
    "appeal",
    "fee",
    "neighbour",
    "press",
    "legal",
    "planning",
)
_SUFFIXES = (
    "name",
    "address",
    "description",
    "notes",
    "reference",
    "code",
    "status_text",
    "comments",
    "postcode",
    "contact",
    "details",
    "summary",
    "title",
    "label",
)
_WORDS = (
    "rear",
    "extension",
    "single",
    "storey",
    "loft",
    "conversion",
    "dormer",
    "window",
    "replacement",
    "change",
    "use",
    "retail",
    "residential",
    "flat",
    "basement",
    "roof",
    "terrace",
    "garden",
    "outbuilding",
    "demolition",
    "erection",
    "new",
    "building",
    "shopfront",
    "signage",
    "advertisement",
    "tree",
    "works",
    "listed",
    "conservation",
    "area",
    "Hackney",
    "Dalston",
    "Clapton",
    "Homerton",
    "Shoreditch",
    "Stoke",
    "Newington",
    "Road",
    "Street",
    "Lane",
    "Place",
    "approved",
    "refused",
    "pending",
    "withdrawn",
    "officer",
    "report",
    "condition",
    "discharge",
    "variation",
    "minor",
    "major",
    "householder",
    "prior",
    "approval",
)
_POSTCODE_AREAS = ("E2", "E5", "E8", "E9", "N1", "N4", "N16", "EC2A")
_BAD_VALUES: dict[str, tuple[str, ...]] = {
    "integer": ("n/a", "12a", "one"),
    "long": ("n/a", "9e9x", "unknown"),
    "float": ("n/a", "1,5", "abc"),
    "double": ("n/a", "2..5", "abc"),
    "boolean": ("maybe", "unknown", "2"),
    "timestamp": ("2021-13-45 99:99:99", "yesterday", "n/a"),
    "date": ("2021-02-30", "n/a", "tomorrow"),
}
_NULL_RATES = (0.0, 0.02, 0.05, 0.1, 0.1, 0.3, 0.6, 0.95)
_VALUE_DAYS_START = date(2010, 1, 1)
_VALUE_DAYS = 4000  # typed dates/timestamps are drawn from 2010-01-01 onwards

_rng_phrases = random.Random(20210901)
_PHRASES = tuple(
    " ".join(_rng_phrases.choice(_WORDS) for _ in range(_rng_phrases.randint(1, 6)))
    for _ in range(512)
)
_DAY_STRINGS = tuple(
    (_VALUE_DAYS_START + timedelta(days=i)).isoformat() for i in range(_VALUE_DAYS)
)


def seed_int(*parts: object) -> int:
    """A stable 64-bit seed from any parts (``hash()`` is salted per process, so not used)."""
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _crc(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def london_text(ts: int) -> str:
    """UTC epoch seconds -> ``YYYY-MM-DD HH:MM:SS`` in London local time, as the API shows."""
    return datetime.fromtimestamp(ts, LONDON).strftime(TIMESTAMP_FORMAT)


def london_day_start(day: date) -> int:
    """UTC epoch seconds of London midnight starting ``day`` (23/25-hour days handled)."""
    return int(datetime.combine(day, time(), LONDON).timestamp())


def london_date(moment: datetime) -> date:
    """The London calendar date of an aware datetime (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LONDON).date()


# --- column makers -------------------------------------------------------------------------


def _with_nulls(null_rate: float, value: Maker) -> Maker:
    if null_rate <= 0:
        return value

    def make(rng: random.Random) -> object:
        return None if rng.random() < null_rate else value(rng)

    return make


def _typed_value(kind: str, column: str) -> Maker:
    """A generator of valid text for one catalogue type."""
    if kind in ("integer", "long"):
        magnitude = 10 ** (
            12 if kind == "long" else (5 if column.endswith("_id") else 1 + _crc(column) % 6)
        )

        def make_int(rng: random.Random) -> object:
            return str(int(rng.random() * magnitude))

        return make_int
    if kind in ("float", "double"):
        top = 10.0 ** (1 + _crc(column) % 5)

        def make_float(rng: random.Random) -> object:
            return f"{rng.random() * top:.2f}"

        return make_float
    if kind == "boolean":
        return lambda rng: "t" if rng.random() < 0.5 else "f"
    if kind == "timestamp":

        def make_ts(rng: random.Random) -> object:
            seconds = int(rng.random() * 86400)
            return (
                f"{_DAY_STRINGS[int(rng.random() * _VALUE_DAYS)]} "
                f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            )

        return make_ts
    if kind == "date":
        return lambda rng: _DAY_STRINGS[int(rng.random() * _VALUE_DAYS)]
    raise ValueError(f"unknown column type {kind!r} for column {column}")


def _typed_maker(kind: str, column: str, null_rate: float, bad_rate: float) -> Maker:
    value = _typed_value(kind, column)
    if bad_rate > 0:
        bad = _BAD_VALUES[kind]
        valid = value

        def value(rng: random.Random) -> object:
            if rng.random() < bad_rate:
                return bad[int(rng.random() * len(bad))]
            return valid(rng)

    return _with_nulls(null_rate, value)


def _string_maker(column: str, null_rate: float) -> Maker:
    """Plain text, flavoured by the column name so the data looks plausible."""
    if column.endswith("postcode"):

        def value(rng: random.Random) -> object:
            area = _POSTCODE_AREAS[int(rng.random() * len(_POSTCODE_AREAS))]
            return f"{area} {int(rng.random() * 9) + 1}{chr(65 + int(rng.random() * 26))}Z"
    elif column.endswith("address"):

        def value(rng: random.Random) -> object:
            return f"{int(rng.random() * 300) + 1} {_PHRASES[int(rng.random() * 512)]}, London"
    elif column.endswith("reference") or column == "uprn":

        def value(rng: random.Random) -> object:
            return f"{2010 + int(rng.random() * 12)}/{int(rng.random() * 99999):05d}"
    else:

        def value(rng: random.Random) -> object:
            r = rng.random()
            return "" if r < 0.03 else _PHRASES[int(r * 100003) % 512]

    return _with_nulls(null_rate, value)


def _reference_number(rng: random.Random) -> object:
    return f"{2010 + int(rng.random() * 12)}/{int(rng.random() * 9999):04d}"


def _gis_image(rng: random.Random) -> object:
    """A few KB of base64 on about one application in ten (the real field can be huge)."""
    if rng.random() >= 0.1:
        return None
    return base64.b64encode(rng.randbytes(2000 + int(rng.random() * 3000))).decode()


def _nested_details(rng: random.Random) -> object:
    """A nested JSON value, so consumers have to keep nested values as JSON text."""
    tags = [_WORDS[int(rng.random() * len(_WORDS))] for _ in range(int(rng.random() * 4))]
    return {
        "mime_type": ("application/pdf", "image/jpeg", "text/plain")[int(rng.random() * 3)],
        "pages": int(rng.random() * 40) + 1,
        "tags": tags,
        "checksum": {"algorithm": "md5", "value": f"{rng.getrandbits(64):016x}"},
    }


@dataclass(frozen=True)
class Column:
    """One field of a table: how to generate it and whether it changes between versions."""

    name: str
    kind: str  # a catalogue type, "string", or a special kind ("id", "last_updated", ...)
    stable: bool  # True: depends on the record id only; False: new value per version
    make: Maker


@dataclass(frozen=True)
class TableSpec:
    """The field layout of one synthetic table."""

    name: str
    static: bool
    columns: tuple[Column, ...]  # sorted by name, excluding id (always the first field)

    @property
    def field_names(self) -> list[str]:
        return ["id", *(c.name for c in self.columns)]


def _string_names(table: str, taken: set[str], count: int, pool: Iterable[str]) -> list[str]:
    names: list[str] = []
    for name in pool:
        if len(names) == count:
            break
        if name not in taken:
            names.append(name)
            taken.add(name)
    if len(names) < count:
        raise ValueError(f"cannot invent {count} string columns for {table}")
    return names


def _application_string_pool() -> Iterable[str]:
    # Interleave prefixes so the chosen names are spread over all of them.
    for suffix in _SUFFIXES:
        for prefix in _PREFIXES:
            yield f"{prefix}_{suffix}"


def build_spec(table: TascomiTable, typed: dict[str, str], *, bad_value_rate: float) -> TableSpec:
    """Decide the columns of one table from its catalogue entry and a few known specials."""
    name = table.name
    columns: list[Column] = []
    special = {"id", "last_updated"}
    for column, kind in typed.items():
        if column in special:
            continue
        null_rate = _NULL_RATES[_crc(name, column) % len(_NULL_RATES)]
        stable = _crc("stable", name, column) % 4 != 0 and column != "last_updated_by"
        bad = bad_value_rate
        if column == "document_id" and name == "public_consultations":
            null_rate, bad, stable = 0.0, 0.0, True  # its completeness is checked
        columns.append(Column(column, kind, stable, _typed_maker(kind, column, null_rate, bad)))
    columns.append(Column("last_updated", "last_updated", False, lambda rng: None))

    taken = set(typed) | special
    if name == "applications":
        columns.append(Column("application_reference_number", "string", True, _reference_number))
        columns.append(Column("gis_map_image_base64", "string", True, _gis_image))
        taken |= {"application_reference_number", "gis_map_image_base64"}
        count = APPLICATIONS_FIELDS - len(taken)
        strings = _string_names(name, taken, count, _application_string_pool())
    elif not typed:
        strings = _string_names(name, taken, UNCATALOGUED_STRING_COLUMNS, _UNCATALOGUED_STRINGS)
    else:
        strings = _string_names(name, taken, 3 + _crc(name) % 4, _GENERIC_STRINGS)
    for column in strings:
        null_rate = _NULL_RATES[_crc(name, column) % len(_NULL_RATES)]
        stable = _crc("stable", name, column) % 3 != 0
        columns.append(Column(column, "string", stable, _string_maker(column, null_rate)))
    if name == "documents":
        columns.append(Column("file_details", "nested", True, _nested_details))
    columns.sort(key=lambda c: c.name)
    return TableSpec(name=name, static=table.is_static, columns=tuple(columns))


# --- version log ---------------------------------------------------------------------------


class VersionLog:
    """Every version of every record of one table, in timestamp order, as compact arrays.

    Day ``d`` (London date ``epoch + d``) is generated from its own RNG and the log's state
    after day ``d - 1``, so growing the log lazily gives the same result as generating it all.
    """

    def __init__(self, name: str, static: bool, *, seed: int, scale: float, epoch: date):
        self.name = name
        self.static = static
        self.seed = seed
        self.scale = float(scale)
        self.epoch = epoch
        self.ids = array("q")
        self.versions = array("q")
        self.ts = array("q")  # UTC epoch seconds
        self.days = array("q")  # London day index relative to epoch
        self._counts = array("q")  # versions so far, per record (id = first_id + position)
        rng = random.Random(seed_int(seed, name, "layout", scale))
        self.first_id = 1 + rng.randrange(5000)
        self.next_day = 0  # first day not generated yet
        self._initial(rng)

    def _initial(self, rng: random.Random) -> None:
        if self.static:
            count = rng.randint(10, 20)
        else:
            base = 200 if self.name == "applications" else 60
            count = max(1, int(base * self.scale))
        events = []
        for _ in range(count):
            day = -1 - rng.randrange(INITIAL_SPREAD_DAYS)
            start = london_day_start(self.epoch + timedelta(days=day))
            end = london_day_start(self.epoch + timedelta(days=day + 1))
            events.append((rng.randrange(start, end), day))
        events.sort()
        for ts, day in events:
            self._append(self._new_record(), ts, day)

    def _new_record(self) -> int:
        self._counts.append(0)
        return len(self._counts) - 1

    def _append(self, position: int, ts: int, day: int) -> None:
        self.ids.append(self.first_id + position)
        self.versions.append(self._counts[position])
        self._counts[position] += 1
        self.ts.append(ts)
        self.days.append(day)

    def extend_to(self, last_day: int) -> None:
        """Generate days up to and including ``last_day`` (relative to epoch)."""
        per_day = max(1, int(5 * self.scale))
        low, high = max(1, round(per_day * 0.6)), max(1, round(per_day * 1.4))
        while self.next_day <= last_day:
            day = self.next_day
            rng = random.Random(seed_int(self.seed, self.name, "day", day, self.scale))
            existing = len(self._counts)
            if self.static:
                updates = 1 if rng.random() < 1 / 7 else 0
                creations = 1 if rng.random() < 1 / 45 else 0
            else:
                updates = rng.randint(low, high)
                creations = rng.randint(low, high)
            updated = rng.sample(range(existing), min(updates, existing))
            start = london_day_start(self.epoch + timedelta(days=day))
            end = london_day_start(self.epoch + timedelta(days=day + 1))
            events = [(rng.randrange(start, end), position) for position in updated]
            events += [(rng.randrange(start, end), -1) for _ in range(creations)]
            events.sort()
            for ts, position in events:
                self._append(self._new_record() if position < 0 else position, ts, day)
            self.next_day = day + 1

    @property
    def record_count(self) -> int:
        return len(self._counts)

    def plant(self, position: int | None, ts: int) -> int:
        """Insert one version at ``ts`` (a new record when ``position`` is None), keeping the
        log in timestamp order; returns the record's position. Days up to ``ts`` must be
        generated already, so later days are generated after it, deterministically."""
        if position is None:
            position = self._new_record()
        at = bisect_right(self.ts, ts)
        day = (london_date(datetime.fromtimestamp(ts, UTC)) - self.epoch).days
        self.ids.insert(at, self.first_id + position)
        self.versions.insert(at, self._counts[position])
        self._counts[position] += 1
        self.ts.insert(at, ts)
        self.days.insert(at, day)
        return position

    def current(self, cutoff: int) -> list[int]:
        """Log positions of the newest version per id among the first ``cutoff``, by id."""
        latest = dict(zip(self.ids[:cutoff], range(cutoff), strict=True))
        return [latest[key] for key in sorted(latest)]


# --- per-table data and the whole data set -------------------------------------------------


class TableData:
    """One table's version log, current-state cache and renderer."""

    _CURRENT_CACHE = 8

    def __init__(self, spec: TableSpec, log: VersionLog, seed: int, cache: "RenderCache"):
        self.spec = spec
        self.log = log
        self.seed = seed
        self._cache = cache
        self._lock = threading.Lock()
        self._current: OrderedDict[int, list[int]] = OrderedDict()

    def _day_index(self, moment: float) -> int:
        return (london_date(datetime.fromtimestamp(moment, UTC)) - self.log.epoch).days

    def matching(self, now: float, on: date | None = None) -> list[int]:
        """Log positions of the current records (as of ``now``), optionally only those whose
        current ``last_updated`` is on the London date ``on``; sorted by id."""
        with self._lock:
            self.log.extend_to(self._day_index(now))
            cutoff = bisect_left(self.log.ts, now)
            current = self._current.get(cutoff)
            if current is None:
                current = self.log.current(cutoff)
                self._current[cutoff] = current
                if len(self._current) > self._CURRENT_CACHE:
                    self._current.popitem(last=False)
            else:
                self._current.move_to_end(cutoff)
        if on is None:
            return current
        day = (on - self.log.epoch).days
        days = self.log.days
        return [position for position in current if days[position] == day]

    def plant(self, moment: float, record_id: int | None = None) -> int:
        """Add a version at ``moment`` (UTC epoch seconds): of ``record_id``, or of a new
        record when None. Returns the record id."""
        with self._lock:
            self.log.extend_to(self._day_index(moment))
            position = None
            if record_id is not None:
                position = record_id - self.log.first_id
                if not 0 <= position < self.log.record_count:
                    raise KeyError(f"{self.spec.name} has no record {record_id}")
            position = self.log.plant(position, int(moment))
            self._current.clear()
        return self.log.first_id + position

    def render(self, record_id: int, version: int, ts: int) -> dict:
        """The record dict of one version: a pure function of (seed, table, id, version)."""
        stable = random.Random(seed_int(self.seed, self.spec.name, record_id))
        changing = random.Random(seed_int(self.seed, self.spec.name, record_id, version))
        record: dict[str, object] = {"id": str(record_id)}
        for column in self.spec.columns:
            record[column.name] = column.make(stable if column.stable else changing)
        record["last_updated"] = london_text(ts)
        return record

    def fragment(self, position: int) -> bytes:
        """The JSON text of the version at a log position (cached, encoded: a page is then
        one join of bytes, not a join and an encode of megabytes under the server's lock)."""
        record_id = self.log.ids[position]
        version = self.log.versions[position]
        key = (self.spec.name, record_id, version)
        text = self._cache.get(key)
        if text is None:
            record = self.render(record_id, version, self.log.ts[position])
            text = json.dumps(record, separators=(",", ":")).encode()
            self._cache.put(key, text)
        return text


class RenderCache:
    """A thread-safe LRU of rendered JSON texts (ASCII bytes), bounded by total size."""

    def __init__(self, max_chars: int = 256_000_000):
        self.max_chars = max_chars
        self._items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int]) -> bytes | None:
        with self._lock:
            text = self._items.get(key)
            if text is not None:
                self._items.move_to_end(key)
            return text

    def put(self, key: tuple[str, int, int], text: bytes) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = text
            self._chars += len(text)
            while self._chars > self.max_chars and self._items:
                _, dropped = self._items.popitem(last=False)
                self._chars -= len(dropped)


def unconfigured(name: str) -> TascomiTable:
    """How a resource the table list does not ingest is simulated (see LOOKUP_SUFFIXES)."""
    lookup = name in LOOKUP_NAMES or name.endswith(LOOKUP_SUFFIXES)
    return TascomiTable(name, cadence="weekly" if lookup else "daily")


class SyntheticData:
    """Every resource the simulated API has, each generated lazily on first use.

    As the real API, it has more resources than are ingested: the configured ``tables``, every
    table of the catalogue (the original's dictionary covers all the API's resources) and
    ``more_resources`` (paused names). A resource's records depend only on its name, cadence,
    typed columns, seed, scale and epoch, never on which other tables are configured.
    """

    def __init__(
        self,
        tables: list[TascomiTable],
        catalogue: ColumnTypeCatalogue,
        *,
        more_resources: Collection[str] = (),
        seed: int = 0,
        scale: float = 1.0,
        epoch: date = DEFAULT_EPOCH,
        bad_value_rate: float = 0.0,
    ):
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if not 0.0 <= bad_value_rate <= 1.0:
            raise ValueError(f"bad_value_rate must be within 0..1, got {bad_value_rate}")
        self.seed = seed
        self.scale = float(scale)  # 1 and 1.0 must seed the same data
        self.epoch = epoch
        self.bad_value_rate = bad_value_rate
        self._tables = {table.name: table for table in tables}
        for name in (*catalogue.tables(), *more_resources):
            self._tables.setdefault(name, unconfigured(name))
        self._catalogue = catalogue
        self._data: dict[str, TableData] = {}
        self._lock = threading.Lock()
        self._cache = RenderCache()

    @property
    def names(self) -> list[str]:
        return list(self._tables)

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def table(self, name: str) -> TableData:
        """The table's data, building its spec and initial log on first use."""
        with self._lock:
            data = self._data.get(name)
            if data is None:
                table = self._tables[name]
                spec = build_spec(
                    table, self._catalogue.columns(name), bad_value_rate=self.bad_value_rate
                )
                log = VersionLog(
                    name, table.is_static, seed=self.seed, scale=self.scale, epoch=self.epoch
                )
                data = self._data[name] = TableData(spec, log, self.seed, self._cache)
            return data
