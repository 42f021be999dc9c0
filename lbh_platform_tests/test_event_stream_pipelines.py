"""Every configured entity (Tenure and Contact details) in Dagster against one DynamoDB stand-in
holding both tables over HTTP: the extract, two days of sink files (Parquet per event in the
import_year=/.../import_date= folders), snapshots equal to the generator's truth, every check
green but the quarantine warning the generator plants."""

from datetime import date

import dagster as dg
import pytest

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.defs.event_streams.definitions import build_event_streams_definitions
from lbh_platform.defs.event_streams.spec import job_names
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.spec import load_event_streams
from lbh_platform.lib.engine import build_engine_resources
from lbh_platform.lib.resources import LakeResource
from lbh_platform_devkit.event_streams.generator import generate_stream, write_day
from lbh_platform_devkit.event_streams.stand_in import stand_in_for

pytestmark = pytest.mark.integration
DAYS = [date(2024, 3, 4), date(2024, 3, 5)]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
EXPECTED_WARNINGS = {"every_event_parsed", "freshness_check"}  # planted malformed file; today


def test_both_entities_run_from_one_stand_in_and_match_the_truth(zones, monkeypatch):
    raw, refined = zones
    streams = load_event_streams()
    assert [s.name for s in streams] == ["tenure", "contact_details"]
    lake_resource = LakeResource(raw_zone=str(raw), refined_zone=str(refined))
    lake = lake_resource.lake()
    generated = {s.name: generate_stream(s, DAYS, entities=15, seed=21) for s in streams}
    with stand_in_for(streams) as stand_in:
        assert set(stand_in.tables) == {"TenureInformation", "ContactDetails"}
        for stream in streams:
            stand_in.load(stream, generated[stream.name].initial)
            for day in DAYS:
                write_day(lake, generated[stream.name].day(day), stream)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", stand_in.endpoint_url)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        shared = dg.Definitions(resources={**build_engine_resources(), "lake": lake_resource})
        defs = dg.Definitions.merge(build_event_streams_definitions(streams), shared)
        with dg.instance_for_test() as instance:
            for stream in streams:
                names = job_names(stream)
                for number, day in enumerate(DAYS):
                    job = names["pipeline" if number == 0 else "daily"]
                    result = defs.resolve_job_def(job).execute_in_process(
                        instance=instance,
                        partition_key=day.isoformat(),
                        run_config=QUIET,
                        raise_on_error=False,
                    )
                    assert result.success, (stream.name, day)
                    failed = {
                        e.event_specific_data.check_name
                        for e in result.all_events
                        if e.event_type_value == "ASSET_CHECK_EVALUATION"
                        and not e.event_specific_data.passed
                    }
                    assert failed <= EXPECTED_WARNINGS, (stream.name, day, failed)
                    snapshot = stage_table(lake, stream, "snapshot").read(yyyymmdd(day))
                    columns = stream.schema.columns
                    got = {r["id"]: {c: r[c] for c in columns} for r in snapshot.to_pylist()}
                    assert got == generated[stream.name].day(day).state, (stream.name, day)
