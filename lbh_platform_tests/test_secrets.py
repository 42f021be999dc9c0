"""API keys from Secrets Manager (moto over HTTP): settings, resources that fetch real data
with them, clear errors, and values that never reach logs or exception text."""

import json
import logging
import threading
from datetime import date, timedelta

import pytest

from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.alloy.settings import load_alloy_settings
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.defs.alloy.resources import AlloyApiResource
from lbh_platform.defs.tascomi.resources import TascomiApiResource, tascomi_api_resource
from lbh_platform.storage.secrets import read_secret
from lbh_platform.tascomi.settings import load_tascomi_settings
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform_devkit.alloy.simulator import AlloySimulator
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator
from lbh_platform_tests.aws_stand_in import SECRET_ACCESS_KEY, aws  # noqa: F401

PUBLIC, PRIVATE = "secret-public-4f1c", "secret-private-9d2e"
ALLOY_KEY = "secret-alloy-key-77ab"
VALUES = (PUBLIC, PRIVATE, ALLOY_KEY, SECRET_ACCESS_KEY)


@pytest.fixture()
def stored(aws):  # noqa: F811
    manager = aws.client("secretsmanager")
    manager.create_secret(
        Name="lbh/tascomi", SecretString=json.dumps({"public_key": PUBLIC, "private_key": PRIVATE})
    )
    manager.create_secret(Name="lbh/alloy", SecretString=json.dumps({"api_key": ALLOY_KEY}))
    manager.create_secret(Name="lbh/half", SecretString=json.dumps({"public_key": PUBLIC}))
    manager.create_secret(Name="lbh/text", SecretString=f"not json {PRIVATE}")
    return aws


def assert_no_secret_values(*texts: str) -> None:
    for text in texts:
        for value in VALUES:
            assert value not in text


def test_settings_take_secret_ids_when_plain_keys_are_absent(monkeypatch):
    real = {"TASCOMI_API_URL": "https://tascomi.example/rest/v1/"}
    with pytest.raises(ConfigurationError, match="TASCOMI_SECRET_ID"):
        load_tascomi_settings(real)
    settings = load_tascomi_settings({**real, "TASCOMI_SECRET_ID": "lbh/tascomi"})
    assert settings.access.secret_id == "lbh/tascomi"
    assert not any(settings.access.keys.values())
    plain = {**real, "TASCOMI_PUBLIC_KEY": "p", "TASCOMI_PRIVATE_KEY": "q"}
    assert load_tascomi_settings({**plain, "TASCOMI_SECRET_ID": "x"}).access.secret_id is None
    alloy = {"ALLOY_API_URL": "https://alloy.example/api/"}
    with pytest.raises(ConfigurationError, match="ALLOY_SECRET_ID"):
        load_alloy_settings(alloy)
    with_alloy_secret = load_alloy_settings({**alloy, "ALLOY_SECRET_ID": "lbh/alloy"})
    assert with_alloy_secret.access.secret_id == "lbh/alloy"

    # One mechanism for every source: the secret's id, or the keys as environment variables.
    from_secret = tascomi_api_resource(settings)
    assert from_secret.secret_id == "lbh/tascomi" and not from_secret.public_key
    monkeypatch.setenv("TASCOMI_PUBLIC_KEY", "p")
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "q")
    from_environment = tascomi_api_resource(load_tascomi_settings(plain))
    assert from_environment.secret_id is None
    assert from_environment.api_keys(public_key="p", private_key="q") == {
        "public_key": "p",
        "private_key": "q",
    }


def test_read_secret_fields_and_clear_errors(stored, caplog):
    caplog.set_level(logging.DEBUG)
    keys = read_secret("lbh/tascomi", ("public_key", "private_key"), variable="TASCOMI_SECRET_ID")
    assert keys == {"public_key": PUBLIC, "private_key": PRIVATE}
    errors = []
    for secret_id, match in (
        ("lbh/missing", "TASCOMI_SECRET_ID='lbh/missing'.*no such secret"),
        ("lbh/half", "the secret has no private_key"),
        ("lbh/text", "must be a JSON object"),
    ):
        with pytest.raises(ConfigurationError, match=match) as failure:
            read_secret(secret_id, ("public_key", "private_key"), variable="TASCOMI_SECRET_ID")
        errors.append(failure)
    texts = [str(e.value) for e in errors] + [e.getrepr().__str__() for e in errors]
    assert_no_secret_values(caplog.text, *texts)


def test_secret_reads_hide_only_their_own_botocore_debug_lines(stored, caplog):
    caplog.set_level(logging.DEBUG)
    read_secret("lbh/alloy", ("api_key",), variable="ALLOY_SECRET_ID")
    assert_no_secret_values(caplog.text)
    # Other threads' and later calls' botocore logging is untouched.
    caplog.clear()
    worker = threading.Thread(target=lambda: stored.client("s3").list_buckets())
    worker.start()
    worker.join()
    assert "Response body" in caplog.text


def test_tascomi_resource_fetches_with_keys_from_the_secret(stored, catalogue, caplog):
    caplog.set_level(logging.DEBUG)
    tables = [TascomiTable(name="appeals")]
    with TascomiSimulator(
        tables, catalogue, public_key=PUBLIC, private_key=PRIVATE, epoch=date(2024, 1, 1)
    ) as simulator:
        resource = TascomiApiResource(
            base_url=simulator.base_url,
            secret_id="lbh/tascomi",
            secret_variable="TASCOMI_SECRET_ID",
        )
        pages = resource.fetch("appeals", None)
        assert pages and pages[0].status == 200
        assert_no_secret_values(caplog.text, repr(resource), repr(resource.client()))
        missing = TascomiApiResource(base_url=simulator.base_url, secret_id="lbh/no")
        with pytest.raises(ConfigurationError, match="no such secret"):
            missing.fetch("appeals", None)


def test_alloy_resource_exports_with_the_key_from_the_secret(stored, caplog):
    caplog.set_level(logging.DEBUG)
    datasets = [d for d in load_datasets() if d.name == "graffiti"]
    epoch = date.today() - timedelta(days=5)
    with AlloySimulator(datasets, api_key=ALLOY_KEY, epoch=epoch, polls_to_complete=1) as sim:
        resource = AlloyApiResource(
            base_url=sim.base_url, secret_id="lbh/alloy", poll_interval_seconds=0.05
        )
        result = resource.export(datasets[0], None)
        assert "graffiti" in result.tables
    assert_no_secret_values(caplog.text, repr(resource))
