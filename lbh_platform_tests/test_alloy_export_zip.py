"""Reading an Alloy export zip: Alloy's JoinedDesign_ names, members the dataset does not use
left unread, a size limit per member (zip bombs included) and decode errors that name the
member; the limit's setting."""

import io
import struct
import tracemalloc
import zipfile

import pytest

from lbh_platform.alloy.client import (
    DEFAULT_MAX_MEMBER_BYTES,
    AlloyClient,
    ExportMemberError,
    table_name,
    unzip_tables,
)
from lbh_platform.alloy.settings import load_alloy_settings
from lbh_platform.alloy.transforms import csv_to_table
from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.defs.alloy.resources import alloy_api_resource

ROOT = "Jobs/Jobs.csv"


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def declared_size(content: bytes, size: int, member: int = 0) -> bytes:
    """The zip with the ``member``-th file's uncompressed size in the central directory set
    to ``size`` (what a zip bomb claims)."""
    data = bytearray(content)
    at = data.find(b"PK\x01\x02")
    for _ in range(member):
        at = data.find(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, at + 24, size)
    return bytes(data)


@pytest.mark.parametrize(
    ("member", "table"),
    [
        ("Jobs/JoinedDesign_Task Statuses_1.csv", "task_statuses_1"),
        ("Jobs/joineddesign_Task Statuses_1.csv", "task_statuses_1"),
        ("JOINEDDESIGN_Teams_2.csv", "teams_2"),
        ("Jobs/Task Statuses_1.csv", "task_statuses_1"),  # as the production job left them
        ("Jobs/JoinedDesign_Waste &amp; Recycling_3.csv", "waste_recycling_3"),
    ],
)
def test_joined_members_lose_alloys_prefix(member, table):
    content = zipped({ROOT: b"Item ID\r\nJ1\r\n", member: b"Primary Item,Item ID\r\nJ1,T1\r\n"})
    unzipped = unzip_tables(content, "Jobs.csv", "jobs", wanted=["jobs", table])
    assert list(unzipped.tables) == ["jobs", table]
    assert unzipped.tables[table].text() == "Primary Item,Item ID\r\nJ1,T1\r\n"
    assert table_name(member.replace("&amp;", "&")) == table


def test_one_table_from_two_members_fails_naming_both():
    content = zipped(
        {
            ROOT: b"Item ID\r\n",
            "Jobs/JoinedDesign_Crews_1.csv": b"Item ID\r\n",
            "Jobs/Crews_1.csv": b"Item ID\r\n",
        }
    )
    with pytest.raises(DataError, match=r"'crews_1' \('Jobs/JoinedDesign_Crews_1.csv' and"):
        unzip_tables(content, "Jobs.csv", "jobs", wanted=["jobs", "crews_1"])
    # A table the dataset does not use cannot fail the export, even twice over.
    unzipped = unzip_tables(content, "Jobs.csv", "jobs", wanted=["jobs"])
    assert list(unzipped.tables) == ["jobs"]
    assert sorted(unzipped.ignored) == ["Jobs/Crews_1.csv", "Jobs/JoinedDesign_Crews_1.csv"]


def test_members_the_dataset_does_not_use_are_never_read():
    bomb = declared_size(
        zipped({ROOT: b"Item ID\r\nJ1\r\n", "Jobs/JoinedDesign_Other_2.csv": b"\xe9" * 1000}),
        2**32 - 1,
        member=1,
    )
    unzipped = unzip_tables(bomb, "Jobs.csv", "jobs", wanted=["jobs"], max_member_bytes=100)
    assert unzipped.tables["jobs"].text() == "Item ID\r\nJ1\r\n"
    assert unzipped.ignored == ["Jobs/JoinedDesign_Other_2.csv"]
    latin = zipped({ROOT: b"Item ID\r\nJ1\r\n", "Jobs/Notes.csv": "Caf\xe9\r\n".encode("latin-1")})
    unzipped = unzip_tables(latin, "Jobs.csv", "jobs", wanted=["jobs"])
    assert csv_to_table(unzipped.tables["jobs"].lines())["item_id"].to_pylist() == ["J1"]
    assert unzipped.ignored == ["Jobs/Notes.csv"]


def test_a_member_over_the_limit_fails_naming_it_before_reading():
    content = zipped({ROOT: b"Item ID\r\n" + b"J1\r\n" * 100})
    member = unzip_tables(content, "Jobs.csv", "jobs", max_member_bytes=100).tables["jobs"]
    with pytest.raises(ExportMemberError, match=r"'Jobs/Jobs.csv' is 409 bytes .* limit of 100"):
        member.text()
    # The declared size is what the zip says; as much as it says is read, no more.
    within = unzip_tables(content, "Jobs.csv", "jobs", max_member_bytes=409)
    assert within.tables["jobs"].text().count("J1") == 100


def test_a_zip_bomb_fails_naming_the_member_without_inflating_it():
    # 64 MiB of rows, compressed to about 64 KiB, claiming to be 1 KiB.
    rows = b"Item ID,Title\r\n" + b"J1,aaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" * 2**21
    content = zipped({ROOT: rows})
    del rows
    assert len(content) < 1024 * 1024
    lying = declared_size(content, 1024)
    member = unzip_tables(lying, "Jobs.csv", "jobs", max_member_bytes=10_000).tables["jobs"]
    tracemalloc.start()
    try:
        with pytest.raises(ExportMemberError, match=r"'Jobs/Jobs.csv' is corrupt after") as error:
            csv_to_table(member.lines())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "CRC" in str(error.value)
    assert peak < 4 * 1024 * 1024  # the 64 MiB were never inflated
    # Honest about its size, it is refused before a byte is inflated.
    honest = unzip_tables(content, "Jobs.csv", "jobs", max_member_bytes=1024).tables["jobs"]
    with pytest.raises(
        ExportMemberError, match=r"is 67,108,879 bytes uncompressed, more than the limit of 1,024"
    ):
        next(honest.lines())


def test_a_member_that_is_not_utf8_names_line_and_byte():
    text = "Item ID,Title\r\nJ1,Caf\xe9 on the corner\r\n".encode("latin-1")
    member = unzip_tables(zipped({ROOT: text}), "Jobs.csv", "jobs").tables["jobs"]
    with pytest.raises(ExportMemberError) as error:
        csv_to_table(member.lines())
    message = str(error.value)
    assert "'Jobs/Jobs.csv' is not valid UTF-8: line 2, byte offset 21" in message
    assert "b'\\xe9 on'" in message


def test_a_utf8_bom_is_dropped_and_quoted_newlines_kept():
    text = '\ufeffItem ID,Notes\r\nJ1,"two\r\nlines"\r\n'.encode()
    member = unzip_tables(zipped({ROOT: text}), "Jobs.csv", "jobs").tables["jobs"]
    table = csv_to_table(member.lines())
    assert table.to_pylist() == [{"item_id": "J1", "notes": "two\r\nlines"}]


def test_the_member_limit_is_a_setting(zones, monkeypatch):
    assert load_alloy_settings().max_member_bytes == DEFAULT_MAX_MEMBER_BYTES == 2 * 1024**3
    monkeypatch.setenv("ALLOY_MAX_MEMBER_BYTES", "1048576")
    settings = load_alloy_settings()
    assert settings.max_member_bytes == 1048576
    assert alloy_api_resource(settings).max_member_bytes == 1048576
    for bad in ("lots", "0", "-5"):
        monkeypatch.setenv("ALLOY_MAX_MEMBER_BYTES", bad)
        with pytest.raises(ConfigurationError, match="ALLOY_MAX_MEMBER_BYTES must be"):
            load_alloy_settings()
    with pytest.raises(ConfigurationError, match="max_member_bytes must be > 0"):
        AlloyClient("http://alloy.invalid/api/", "key", max_member_bytes=0)
