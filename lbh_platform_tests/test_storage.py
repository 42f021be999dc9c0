"""Partitioned parquet tables: layout, atomic replace, failed writes keep the old partition."""

import pyarrow as pa
import pytest

from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import DATA_FILE
from lbh_platform.tascomi.locations import tascomi_table


@pytest.fixture()
def lake(tmp_path):
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def test_layout_is_the_originals_hive_style_paths(lake, tmp_path):
    tascomi_table(lake, "api_response", "appeals").write("20240101", pa.table({"a": [1]}))
    tascomi_table(lake, "snapshot", "appeals").write("20240101", pa.table({"a": [1]}))
    assert (
        tmp_path / "raw/planning/tascomi/api-responses/appeals/import_date=20240101" / DATA_FILE
    ).is_file()
    assert (
        tmp_path / "refined/planning/tascomi/snapshot/appeals/snapshot_date=20240101" / DATA_FILE
    ).is_file()


def test_rewrite_replaces_never_appends_and_partition_column_comes_back(lake):
    table = tascomi_table(lake, "parsed", "t")
    table.write("20240102", pa.table({"x": [1, 2, 3], "import_date": ["20240102"] * 3}))
    table.write("20240102", pa.table({"x": [9]}))
    table.write("20240101", pa.table({"x": [0]}))
    assert table.partitions() == ["20240101", "20240102"]
    assert table.read("20240102").to_pylist() == [{"x": 9, "import_date": "20240102"}]
    assert table.read("20240102", columns=["x", "missing"]).column_names == ["x"]


def test_failed_write_leaves_previous_partition_readable_and_no_debris(lake, tmp_path, monkeypatch):
    table = tascomi_table(lake, "increment", "t")
    table.write("20240101", pa.table({"x": [1]}))

    def crash_mid_write(data, sink, **kwargs):
        sink.write(b"PAR1 half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr("lbh_platform.storage.partitioned_table.pq.write_table", crash_mid_write)
    with pytest.raises(RuntimeError, match="disk full"):
        table.write("20240101", pa.table({"x": [2, 3]}))
    assert table.read("20240101")["x"].to_pylist() == [1]
    folder = tmp_path / "refined/planning/tascomi/increment/t/import_date=20240101"
    assert sorted(p.name for p in folder.iterdir()) == [DATA_FILE]


def test_partition_with_only_a_temporary_file_is_not_listed(lake, tmp_path):
    table = tascomi_table(lake, "parsed", "t")
    folder = tmp_path / "raw/planning/tascomi/parsed/t/import_date=20240105"
    folder.mkdir(parents=True)
    (folder / "_tmp-abc.parquet").write_bytes(b"partial")
    assert table.partitions() == []
    assert not table.exists("20240105")
