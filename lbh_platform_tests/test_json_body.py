"""The fast JSON body decoder gives exactly what ``json.loads`` gives, or its error."""

import json
import math

import pytest

from lbh_platform.common import json_body


@pytest.mark.parametrize(
    "body",
    [
        b'[{"id":"1","name":"\\u00e9\\ud83d\\ude00 \xc3\xa9","n":null,"t":true,"f":1.5e-7}]',
        b'{"a":1,"a":2}',  # the last duplicate key wins
        b"[18446744073709551616, -9223372036854775809, 1234567890123456789012345678901]",
        b"[0.1, 5e-324, 1.7976931348623157e308, 123456789012345678901234567890.5]",
        b" [1] \n",
        b"\xef\xbb\xbf[1]",  # a byte-order mark: json.loads accepts it
        '[1, "é"]'.encode("utf-16"),  # json.loads detects UTF-16
        b"[NaN, Infinity, -Infinity, 1e400]",
    ],
)
def test_decodes_exactly_as_the_standard_library(body):
    got, expected = json_body.loads(body), json.loads(body)
    assert json.dumps(got) == json.dumps(expected)  # same values and types (1 is not 1.0)


def test_big_integers_stay_integers():
    assert json_body.loads(b"[18446744073709551616]") == [18446744073709551616]
    assert isinstance(json_body.loads(b"[18446744073709551616]")[0], int)
    assert math.isnan(json_body.loads(b"[NaN]")[0])


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b'[{"id": 1}', b"", b"\xff\xfe\xfa"])
def test_a_bad_body_raises_what_json_loads_raises(body):
    with pytest.raises(ValueError) as fast:
        json_body.loads(body)
    with pytest.raises(ValueError) as slow:
        json.loads(body)
    assert type(fast.value) is type(slow.value)
