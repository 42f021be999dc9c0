"""The Tascomi limits of issue 24 as settings: each an environment variable reaching the
client the pipelines and `probe` use, with defaults equal to the client's own."""

import pytest

from lbh_platform.cli.probe import probe_policy
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.http import RetryPolicy
from lbh_platform.defs.tascomi.resources import tascomi_api_resource
from lbh_platform.tascomi import client as client_module
from lbh_platform.tascomi.settings import load_tascomi_settings

LIMITS = {
    "TASCOMI_REQUEST_DEADLINE_SECONDS": "90",
    "TASCOMI_MAX_BODY_MB": "12.5",
    "TASCOMI_MAX_PAGES": "2000",
    "TASCOMI_MAX_EMPTY_PAGES": "3",
    "TASCOMI_MAX_GROWTH": "4",
}


def test_the_limits_reach_the_pipelines_client_and_the_probe() -> None:
    settings = load_tascomi_settings(LIMITS)
    api = tascomi_api_resource(settings).client()
    assert api.policy.deadline == 90.0 and api.policy.max_body_bytes == 12_500_000
    assert (api.max_pages, api.max_empty_pages, api.max_growth) == (2000, 3, 4.0)
    policy = probe_policy(settings)
    assert policy.deadline == 90.0 and policy.max_body_bytes == 12_500_000


def test_the_defaults_are_the_clients_own() -> None:
    api = tascomi_api_resource(load_tascomi_settings({})).client()
    assert api.policy.deadline == RetryPolicy().deadline
    assert api.policy.max_body_bytes == RetryPolicy().max_body_bytes
    assert api.max_pages == client_module.DEFAULT_MAX_PAGES
    assert api.max_empty_pages == client_module.DEFAULT_MAX_EMPTY_PAGES
    assert api.max_growth == client_module.DEFAULT_MAX_GROWTH


@pytest.mark.parametrize("name", sorted(LIMITS))
@pytest.mark.parametrize("value", ["0", "-5", "lots", "inf"])
def test_a_limit_that_is_not_a_positive_number_is_refused_by_name(name, value) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} must be a positive"):
        load_tascomi_settings({name: value})


def test_whole_numbers_are_required_where_they_count_pages() -> None:
    with pytest.raises(ConfigurationError, match="TASCOMI_MAX_PAGES must be a positive whole"):
        load_tascomi_settings({"TASCOMI_MAX_PAGES": "10.5"})
