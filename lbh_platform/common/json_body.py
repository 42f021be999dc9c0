"""Decoding JSON response bodies fast, with exactly the standard library's results.

A multi-megabyte API page spends most of its client time turning JSON into Python objects
under the interpreter lock. msgspec's decoder does it in less time than ``json.loads`` and
keeps integers of any size exact (orjson turns integers beyond 64 bits into floats, which
would change a value). Whatever msgspec refuses (``NaN``/``Infinity``, a byte-order mark,
UTF-16, invalid JSON) is handed to ``json.loads``, so what is accepted, what it decodes to
and the error raised for a bad body are the standard library's.
"""

import json
from typing import Any

import msgspec

_DECODER = msgspec.json.Decoder()


def loads(body: bytes | str) -> Any:
    """``json.loads(body)``, faster."""
    try:
        return _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return json.loads(body)
