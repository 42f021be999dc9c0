"""An append-only audit log in the lake: one JSON file per entry, never rewritten.

``<refined zone>/lbh-audit/<kind>/<YYYYMMDDTHHMMSSffffff>Z-<id>.json`` (kinds: ``erasure``,
``retention``), each one line of JSON, written under a hidden temporary name and moved into
place, so an entry is whole or absent and two writers never touch one file. Athena reads the
folder with the JSON SerDe; :meth:`AuditLog.entries` reads it here. Entries hold no erased
value: erasures record salted hashes (see :mod:`lbh_platform.erasure.keys`).
"""

import contextlib
import getpass
import json
import os
import posixpath
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from lbh_platform.common.errors import DataError
from lbh_platform.storage.lake import Lake

AUDIT_PREFIX = "lbh-audit"


def operator() -> str:
    """Who runs this process (the OS user), for an audit entry's ``who``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


class AuditLog:
    """The entries of one lake's audit folder."""

    def __init__(self, fs: pafs.FileSystem, base: str, display: str):
        self.fs = fs
        self.base = base.rstrip("/")
        self.display = display

    def __repr__(self) -> str:
        return f"AuditLog({self.display})"

    @classmethod
    def of(cls, lake: Lake, zone: str = "refined") -> "AuditLog":
        """The lake's audit log (in the refined zone by default; local or S3)."""
        # A table under the audit folder gives the zone's filesystem (local or S3) through
        # the lake's public API; the entries themselves are not a partitioned table.
        located = lake.table(zone, AUDIT_PREFIX, "entries", "entry")
        return cls(located.fs, posixpath.dirname(located.base), posixpath.dirname(located.display))

    def append(self, kind: str, entry: Mapping[str, Any]) -> str:
        """Write one entry (``recorded_at`` added); returns where it went."""
        now = datetime.now(UTC)
        name = f"{now.strftime('%Y%m%dT%H%M%S%f')}Z-{uuid.uuid4().hex[:12]}.json"
        folder = f"{self.base}/{kind}"
        if not isinstance(self.fs, pafs.S3FileSystem):
            self.fs.create_dir(folder, recursive=True)
        text = json.dumps({"recorded_at": now.isoformat(), **entry}, sort_keys=True) + "\n"
        temporary = f"{folder}/_tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open_output_stream(temporary) as sink:
                sink.write(text.encode())
            self.fs.move(temporary, f"{folder}/{name}")
        except BaseException:
            with contextlib.suppress(OSError, FileNotFoundError):
                self.fs.delete_file(temporary)
            raise
        return f"{self.display}/{kind}/{name}"

    def entries(self, kind: str) -> list[dict[str, Any]]:
        """Every entry of ``kind``, oldest first."""
        selector = pafs.FileSelector(f"{self.base}/{kind}", allow_not_found=True)
        names = sorted(
            info.path
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
            and info.path.endswith(".json")
            and not posixpath.basename(info.path).startswith(("_", "."))
        )
        found = []
        for path in names:
            with self.fs.open_input_stream(path) as stream:
                text = stream.read().decode("utf-8", "replace")
            try:
                found.append(json.loads(text))
            except ValueError as exc:
                raise DataError(f"audit entry {path} is not JSON: {exc}") from exc
        return found
