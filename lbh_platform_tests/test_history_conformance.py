"""The history on both engines: the Arrow engine and Spark keep the same versions day by day
(compactions included), rebuild the same history in one pass, answer "as of D" as snapshot D,
and each reads and continues the other's segments."""

import dataclasses
from datetime import timedelta

import pyarrow as pa
import pytest

from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.history import arrow_files, maintain
from lbh_platform.history.source import HistorySource, history_table
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.history import PREFIX
from lbh_platform.tascomi.history import history_source as tascomi_source
from lbh_platform_tests.test_history_deletions import (
    FIRST,
    POLICY,
    Stream,
    source_of,
    value,
)
from lbh_platform_tests.test_history_tascomi import (
    SMALL,
    TABLE,
    assert_as_of_is_snapshot,
    canonical,
    run_days,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_engine():
    from lbh_platform.engines.spark_engine import SparkEngine
    from lbh_platform.engines.spark_session import local_spark_session

    return SparkEngine(local_spark_session())


def arrow_of(frame) -> pa.Table:  # noqa: ANN001
    return frame if isinstance(frame, pa.Table) else frame.toArrow()


def beside(lake: Lake, source: HistorySource, name: str) -> HistorySource:
    database = lake.database("tascomi", "refined")
    history = history_table(lake, "refined", PREFIX, name, database)
    return dataclasses.replace(source, history=history)


def test_both_engines_keep_rebuild_and_read_the_same_history(spark_engine, tmp_path, monkeypatch):
    monkeypatch.setattr(arrow_files, "ROW_GROUP_VALUES", 60)
    monkeypatch.setattr(arrow_files, "MIN_GROUP_ROWS", 4)
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    arrow, spark = ArrowEngine(), spark_engine
    base = tascomi_source(lake, TABLE.name)
    sources = {
        "arrow": (base, [arrow]),
        "spark": (beside(lake, base, "contacts_spark"), [spark]),
        "mixed": (beside(lake, base, "contacts_mixed"), [spark, arrow]),
    }
    counter = {"day": 0}

    def maintain_daily(day: str) -> None:
        for source, engines in sources.values():
            engine = engines[counter["day"] % len(engines)]
            maintain.update(source, day, engine, policy=SMALL)
        counter["day"] += 1

    built = run_days(lake, days=12, on_snapshot=maintain_daily)
    versions = {
        k: canonical(arrow_of(maintain.versions(s.history, spark if k == "spark" else arrow)))
        for k, (s, _) in sources.items()
    }
    assert versions["arrow"] == versions["spark"] == versions["mixed"]
    for day in built:
        assert_as_of_is_snapshot(lake, sources["spark"][0].history, day, spark)
        assert_as_of_is_snapshot(lake, sources["mixed"][0].history, day, arrow)
    maintain.rebuild(sources["spark"][0], spark)
    assert (
        canonical(arrow_of(maintain.versions(sources["spark"][0].history, arrow)))
        == (versions["arrow"])
    )
    for day in built:
        assert_as_of_is_snapshot(lake, sources["spark"][0].history, day, arrow)


def test_spark_keeps_deletions_as_the_arrow_engine_does(spark_engine, tmp_path):
    lake = Lake({"refined": str(tmp_path / "refined")})
    stream = Stream()
    arrow_source = source_of(lake, stream)
    spark_source = dataclasses.replace(
        arrow_source, history=history_table(lake, "refined", "history", "entities_spark", "db")
    )
    for n in range(10):
        day = value(FIRST + timedelta(days=n))
        arrow_source.increments.write(day, stream.day(FIRST + timedelta(days=n)))
        maintain.update(arrow_source, day, policy=POLICY)
        maintain.update(spark_source, day, spark_engine, policy=POLICY)
    daily = canonical(arrow_of(maintain.versions(arrow_source.history)))
    assert canonical(arrow_of(maintain.versions(spark_source.history, spark_engine))) == daily
    for day in stream.truth:
        got = arrow_of(maintain.as_of(spark_source.history, day, spark_engine))
        assert set(got["id"].to_pylist()) == set(stream.truth[day]), day
    maintain.rebuild(spark_source, spark_engine, policy=POLICY)
    assert canonical(arrow_of(maintain.versions(spark_source.history))) == daily


def test_spark_keeps_a_history_read_off_snapshots_as_the_arrow_engine_does(spark_engine, tmp_path):
    """Alloy's and the event streams' histories (changes of nested, growing snapshots) on
    Spark, day by day and rebuilt in one pass, give each day's snapshot."""
    from lbh_platform.history import from_snapshots
    from lbh_platform_tests.test_history_from_snapshots import FIRST as START
    from lbh_platform_tests.test_history_from_snapshots import World, same, tables
    from lbh_platform_tests.test_history_from_snapshots import value as day_value

    lake = Lake({"refined": str(tmp_path / "refined")})
    arrow_source = tables(lake, "entities", ("id",))
    spark_source = dataclasses.replace(
        arrow_source, history=history_table(lake, "refined", "history", "entities_spark", "db")
    )
    world = World(9)
    days = [day_value(START + timedelta(days=n)) for n in range(12)]
    for n, day in enumerate(days):
        arrow_source.snapshots.write(day, world.day(START + timedelta(days=n)))
        from_snapshots.update(arrow_source, day)
        from_snapshots.update(spark_source, day, spark_engine)
    daily = canonical(arrow_of(maintain.versions(arrow_source.history)))
    assert canonical(arrow_of(maintain.versions(spark_source.history, spark_engine))) == daily
    maintain.rebuild(spark_source.source(), spark_engine)
    assert canonical(arrow_of(maintain.versions(spark_source.history))) == daily
    for day in days:
        same(maintain.as_of(spark_source.history, day), arrow_source.snapshots.read(day), "id")
