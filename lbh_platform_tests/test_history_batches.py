"""The history applies the snapshots' batches: a snapshot's recorded imports together (two when
the day before had no snapshot), an import whose snapshot retention removed keeps the batch the
history recorded, else stands alone; imports no snapshot holds yet wait."""

import pytest

from lbh_platform.common.errors import DataError
from lbh_platform.history.batches import Batch, first_difference, plan

INCREMENTS = {v: 1.0 for v in ("20240301", "20240302", "20240303", "20240304", "20240305")}


def test_recorded_batches_missing_snapshot_days_and_pending_imports():
    snapshots = {"20240301": 2.0, "20240303": 2.0, "20240304": 2.0}
    applied = {"20240301": ["20240301"], "20240303": ["20240302", "20240303"]}
    batches = plan(INCREMENTS, snapshots, applied.get, [], "20240305", "t")
    assert [(b.valid_from, b.imports) for b in batches] == [
        ("20240301", ("20240301",)),
        ("20240303", ("20240302", "20240303")),  # the day without a snapshot rides along
        ("20240304", ("20240304",)),  # no note: the imports since the snapshot before
    ]  # 20240305: no snapshot holds it yet


def test_imports_whose_snapshots_are_gone_keep_the_recorded_batch_or_stand_alone():
    recorded = [Batch("20240303", ("20240302", "20240303"))]
    batches = plan(INCREMENTS, {"20240305": 2.0}, lambda v: ["20240304", "20240305"], recorded,
                   "20240305", "t")  # fmt: skip
    assert [(b.valid_from, b.imports) for b in batches] == [
        ("20240301", ("20240301",)),
        ("20240303", ("20240302", "20240303")),
        ("20240305", ("20240304", "20240305")),
    ]


def test_a_rewritten_increment_or_a_changed_batch_is_a_difference():
    snapshots = {"20240301": 2.0, "20240302": 2.0}
    before = plan(INCREMENTS, snapshots, lambda v: [v], [], "20240302", "t")
    assert first_difference(before, before) is None
    rewritten = plan({**INCREMENTS, "20240302": 9.0}, snapshots, lambda v: [v], [], "20240302", "t")
    assert first_difference(before, rewritten) == "20240302"
    merged = plan(INCREMENTS, {"20240302": 3.0}, lambda v: ["20240301", "20240302"], [],
                  "20240302", "t")  # fmt: skip
    assert first_difference(before, merged) == "20240301"


def test_a_batch_whose_increment_is_gone_is_an_error_naming_it():
    with pytest.raises(DataError, match="import\\(s\\) 20240228 whose increment is not published"):
        plan(INCREMENTS, {"20240301": 2.0}, lambda v: ["20240228", "20240301"], [], "20240301",
             "tascomi x history")  # fmt: skip
