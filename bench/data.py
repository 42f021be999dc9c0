"""Deterministic, vectorised synthetic data: a long table, an ``applications``-like wide one,
a day's increment for each, and the wide table's raw JSON text.

The wide table has the simulator's own ``applications`` field layout (750 fields once the GIS
image the client drops is left out), typed by the column-type catalogue. Everything is drawn
with numpy from one seed, so a run regenerates identical data in a few seconds.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.import_columns import import_columns, snapshot_columns, yyyymmdd
from lbh_platform.storage.partitioned_table import PartitionedTable

ID = "id"
LAST_UPDATED = "last_updated"
DAY = date(2024, 3, 12)  # the snapshot being built
BASE_DAY = DAY - timedelta(days=1)  # the previous snapshot
UPDATED_FRACTION = 0.005  # of base rows, updated in the day's increment
NEW_FRACTION = 0.005  # of base rows, new ids in the increment
REPEATED_FRACTION = 0.2  # of increment ids, also present with an older version (day before)
DROPPED_FIELDS = ("gis_map_image_base64",)
_EPOCH_US = int(datetime(2010, 1, 1).timestamp() * 1_000_000)
_DAY_US = 86_400 * 1_000_000
_WORDS = [
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
]
_NULL_RATES = (0.0, 0.02, 0.05, 0.1, 0.1, 0.3, 0.6, 0.95)  # as the simulator's


@dataclass(frozen=True)
class Layout:
    """A table's columns as (name, kind); kind is a catalogue type or ``string``/``import``."""

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def width(self) -> int:
        return len(self.columns)


def long_layout() -> Layout:
    """40 columns: id, last_updated, the nine import columns every increment carries, and 29
    others (12 strings, 6 integers, 4 doubles, 4 booleans, 3 timestamps)."""
    columns: list[tuple[str, str]] = [(ID, "integer"), (LAST_UPDATED, "timestamp")]
    columns += [(f"text_{i:02d}", "string") for i in range(12)]
    columns += [(f"count_{i:02d}", "integer") for i in range(6)]
    columns += [(f"amount_{i:02d}", "double") for i in range(4)]
    columns += [(f"flag_{i:02d}", "boolean") for i in range(4)]
    columns += [(f"when_{i:02d}", "timestamp") for i in range(3)]
    columns += [("import", "import")]  # expands to the nine import columns
    return Layout("long", tuple(columns))


def wide_layout() -> Layout:
    """The simulator's ``applications`` fields (minus the dropped GIS image), catalogue-typed."""
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
    from lbh_platform.tascomi.tables import load_tables
    from lbh_platform_devkit.tascomi.simulator.records import build_spec

    catalogue = ColumnTypeCatalogue.load()
    table = next(t for t in load_tables() if t.name == "applications")
    spec = build_spec(table, catalogue.columns("applications"), bad_value_rate=0.0)
    columns: list[tuple[str, str]] = [(ID, "integer")]
    for column in spec.columns:
        if column.name in DROPPED_FIELDS:
            continue
        kind = "timestamp" if column.kind == "last_updated" else column.kind
        columns.append((column.name, kind))
    return Layout("wide", tuple(columns))


def wide_types() -> dict[str, str]:
    """The catalogue's type map for ``applications`` (what the increment stage recasts by)."""
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue

    return ColumnTypeCatalogue.load().columns("applications")


class Generator:
    """Column values for given ids; the seed and the column name fix every value."""

    def __init__(self, seed: int):
        self.seed = seed
        rng = np.random.default_rng(seed)
        phrases = [" ".join(rng.choice(_WORDS, size=int(rng.integers(1, 7)))) for _ in range(512)]
        self.phrases = pa.array(phrases, pa.string())
        self.references = pa.array(
            [f"{2010 + i % 12}/{i:06d}" for i in range(200_000)], pa.string()
        )

    def _rng(self, *parts: object) -> np.random.Generator:
        key = [self.seed, *(abs(hash_text(str(p))) for p in parts)]
        return np.random.default_rng(key)

    def column(self, name: str, kind: str, n: int, salt: int) -> pa.Array:
        rng = self._rng(name, salt)
        rate = _NULL_RATES[abs(hash_text(name)) % len(_NULL_RATES)]
        mask = rng.random(n) < rate if rate else None
        if kind in ("integer", "long"):
            top = 10**12 if kind == "long" else 10 ** (1 + abs(hash_text(name)) % 6)
            values = rng.integers(0, top, n, dtype=np.int64)
            return pa.array(values, pa.int64() if kind == "long" else pa.int32(), mask=mask)
        if kind in ("float", "double"):
            top = 10.0 ** (1 + abs(hash_text(name)) % 5)
            return pa.array(np.round(rng.random(n) * top, 2), pa.float64(), mask=mask)
        if kind == "boolean":
            return pa.array(rng.random(n) < 0.5, pa.bool_(), mask=mask)
        if kind == "timestamp":
            micros = _EPOCH_US + rng.integers(0, 4000 * 86_400, n) * 1_000_000
            return pa.array(micros, pa.timestamp("us"), mask=mask)
        if kind == "string":
            vocab = self.references if name.endswith(("reference", "uprn")) else self.phrases
            indices = pa.array(rng.integers(0, len(vocab), n, dtype=np.int32), mask=mask)
            return pa.DictionaryArray.from_arrays(indices, vocab).cast(pa.string())
        raise ValueError(f"unknown kind {kind!r}")

    def rows(
        self, layout: Layout, ids: np.ndarray, updated_us: np.ndarray, salt: int, day: date
    ) -> pa.Table:
        """Rows for ``ids`` (versions told apart by ``salt``) last updated at ``updated_us``."""
        n = len(ids)
        columns: dict[str, pa.Array] = {}
        for name, kind in layout.columns:
            if name == ID:
                columns[name] = pa.array(ids.astype(np.int32), pa.int32())
            elif name == LAST_UPDATED:
                columns[name] = pa.array(updated_us // 1_000_000 * 1_000_000, pa.timestamp("us"))
            elif kind == "import":
                columns.update(_import_columns(n, day))
            else:
                columns[name] = self.column(name, kind, n, salt)
        return pa.table(columns)


def hash_text(text: str) -> int:
    """A stable 32-bit hash (``hash()`` is salted per process)."""
    import zlib

    return zlib.crc32(text.encode())


def _import_columns(n: int, day: date) -> dict[str, pa.Array]:
    imported_at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=3)
    pages = np.arange(n, dtype=np.int32) // 100 + 1
    metadata = import_columns(n, day, imported_at)
    metadata.pop("import_date")  # the partition column: in the path, not in the file
    return {
        "page_number": pa.array(pages, pa.int32()),
        "import_api_url_requested": pc.binary_join_element_wise(
            "https://hackney-planning.idoxcloud.com/rest/v1/x?page=",
            pc.cast(pa.array(pages), pa.string()),
            "",
        ),
        "import_api_status_code": pa.array(np.full(n, 200, dtype=np.int32)),
        "import_exception_thrown": pa.nulls(n, pa.string()),
        **metadata,
    }


def _day_us(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time()).timestamp() * 1_000_000)


@dataclass(frozen=True)
class SnapshotCase:
    """Where one table's previous snapshot and day's increment were written, and sizes."""

    table: str
    root: str  # refined zone holding snapshot/<table> and increment/<table>
    base_rows: int
    columns: int
    increment_rows: int
    updated_ids: int
    new_ids: int
    repeated_ids: int
    expected_rows: int
    base_bytes: int
    increment_bytes: int


def snapshot_tables(root: str, table: str) -> tuple[PartitionedTable, PartitionedTable]:
    """(snapshots, increments) of ``table`` under ``root``, laid out as the lake does."""
    import pyarrow.fs as pafs

    fs = pafs.LocalFileSystem()
    snapshots = PartitionedTable(
        fs, f"{root}/snapshot/{table}", "snapshot_date", f"snapshot/{table}"
    )
    increments = PartitionedTable(
        fs, f"{root}/increment/{table}", "import_date", f"increment/{table}"
    )
    return snapshots, increments


def write_snapshot_case(root: str, layout: Layout, rows: int, seed: int) -> SnapshotCase:
    """The previous snapshot (as the engine writes one) and the day's increment partition.

    Increment: 0.5% of rows updated, 0.5% new ids, and a fifth of those ids also present with
    an older version (changed on both days of a two-day window), so dedupe has work to do.
    """
    generator = Generator(seed)
    rng = np.random.default_rng([seed, rows, layout.width])
    ids = np.arange(1, rows + 1, dtype=np.int64)
    before = _day_us(BASE_DAY - timedelta(days=365))
    base_updated = before + rng.integers(0, 364 * _DAY_US, rows)
    base = generator.rows(layout, ids, base_updated, salt=0, day=BASE_DAY)
    base = base.append_column("import_date", pa.array([yyyymmdd(BASE_DAY)] * rows, pa.string()))
    for name, values in snapshot_columns(rows, BASE_DAY).items():
        if name != "snapshot_date":
            base = base.append_column(name, values)

    updated = rng.choice(ids, size=max(1, int(rows * UPDATED_FRACTION)), replace=False)
    new = np.arange(rows + 1, rows + 1 + max(1, int(rows * NEW_FRACTION)), dtype=np.int64)
    latest_ids = np.concatenate([updated, new])
    repeated = rng.choice(latest_ids, size=int(len(latest_ids) * REPEATED_FRACTION), replace=False)
    day_before = _day_us(BASE_DAY - timedelta(days=1))
    latest = generator.rows(
        layout,
        latest_ids,
        _day_us(BASE_DAY) + rng.integers(0, _DAY_US, len(latest_ids)),
        salt=2,
        day=DAY,
    )
    older = generator.rows(
        layout, repeated, day_before + rng.integers(0, _DAY_US, len(repeated)), salt=1, day=DAY
    )
    increment = pa.concat_tables([latest, older])
    increment = increment.take(pa.array(rng.permutation(increment.num_rows)))

    snapshots, increments = snapshot_tables(root, layout.name)
    base_written = snapshots.write(yyyymmdd(BASE_DAY), base)
    increment_written = increments.write(yyyymmdd(DAY), increment)
    return SnapshotCase(
        table=layout.name,
        root=root,
        base_rows=rows,
        columns=layout.width + (8 if any(k == "import" for _, k in layout.columns) else 0),
        increment_rows=increment.num_rows,
        updated_ids=len(updated),
        new_ids=len(new),
        repeated_ids=len(repeated),
        expected_rows=rows + len(new),
        base_bytes=base_written.bytes_written,
        increment_bytes=increment_written.bytes_written,
    )


def _text(values: pa.Array, kind: str) -> pa.Array:
    """A typed column as the API's text (numbers as strings, booleans ``t``/``f``)."""
    if kind == "string":
        return values
    if kind == "boolean":
        return pc.if_else(values, "t", "f")
    if kind == "timestamp":
        return pc.strftime(values.cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
    return pc.cast(values, pa.string())


def json_lines(layout: Layout, rows: int, seed: int) -> pa.Array:
    """``rows`` records of ``layout`` as the JSON text the API serves, one string per record
    (every field present, values strings or null), built column-wise."""
    generator = Generator(seed)
    rng = np.random.default_rng([seed, rows])
    ids = np.arange(1, rows + 1, dtype=np.int64)
    updated = _day_us(BASE_DAY) + rng.integers(0, _DAY_US, rows)
    table = generator.rows(layout, ids, updated, salt=3, day=DAY)
    groups: list[pa.Array] = []
    pieces: list[pa.Array] = []
    for name, kind in layout.columns:
        text = _text(table[name].combine_chunks(), kind)
        quoted = pc.binary_join_element_wise(f'"{name}":"', text, '"', "")
        pieces.append(pc.fill_null(quoted, f'"{name}":null'))
        if len(pieces) == 50:
            groups.append(pc.binary_join_element_wise(*pieces, ","))
            pieces = []
    if pieces:
        groups.append(pc.binary_join_element_wise(*pieces, ","))
    body = pc.binary_join_element_wise(*groups, ",")
    return pc.binary_join_element_wise("{", body, "}", "")


def raw_partition(texts: pa.Array, resource: str, day: date) -> pa.Table:
    """The ``api_response`` rows for these record texts, as the raw stage writes them."""
    n = len(texts)
    pages = np.arange(n, dtype=np.int32) // 100 + 1
    imported_at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=3)
    return pa.table(
        {
            resource: texts,
            "page_number": pa.array(pages, pa.int32()),
            "import_api_url_requested": pc.binary_join_element_wise(
                f"https://hackney-planning.idoxcloud.com/rest/v1/{resource}?page=",
                pc.cast(pa.array(pages), pa.string()),
                "",
            ),
            "import_api_status_code": pa.array(np.full(n, 200, dtype=np.int32)),
            "import_exception_thrown": pa.nulls(n, pa.string()),
            **import_columns(n, day, imported_at),
        }
    )
