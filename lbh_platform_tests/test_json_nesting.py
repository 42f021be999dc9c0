"""Deep JSON: a clear ValueError from the body decoders, never a bare RecursionError."""

import json

import pytest

from lbh_platform.common import json_body
from lbh_platform.tascomi.page_records import split_body
from lbh_platform_tests.hostile_api import nested


def test_json_nested_past_the_limit_raises_a_clear_value_error() -> None:
    with pytest.raises(json_body.TooDeeplyNested, match="nested too deeply to decode"):
        json_body.loads(nested(100_000))
    assert issubclass(json_body.TooDeeplyNested, ValueError)


def test_the_fast_split_leaves_deep_json_to_the_standard_path() -> None:
    assert split_body(nested(100_000)) is None


def test_json_nested_within_the_limit_decodes_as_the_standard_library_does() -> None:
    body = nested(300)
    assert json_body.loads(body) == json.loads(body)
    split = split_body(body)
    assert split is not None and list(split) == json.loads(body)
