"""Decoding JSON response bodies fast, with exactly the standard library's results.

A multi-megabyte API page spends most of its client time turning JSON into Python objects
under the interpreter lock. msgspec's decoder does it in less time than ``json.loads`` and
keeps integers of any size exact (orjson turns integers beyond 64 bits into floats, which
would change a value). Whatever msgspec refuses (``NaN``/``Infinity``, a byte-order mark,
UTF-16, invalid JSON) is handed to ``json.loads``, so what is accepted, what it decodes to
and the error raised for a bad body are the standard library's. JSON nested deeper than the
interpreter's recursion limit (both decoders recurse) raises :class:`TooDeeplyNested`, a
``ValueError``, rather than a bare ``RecursionError`` from deep inside a decoder.
"""

import json
import sys
from typing import Any

import msgspec

__all__ = ["TooDeeplyNested", "loads"]

_DECODER = msgspec.json.Decoder()


class TooDeeplyNested(ValueError):
    """The JSON nests arrays or objects deeper than can be decoded."""

    def __init__(self) -> None:
        super().__init__(
            "JSON nested too deeply to decode (deeper than about "
            f"{sys.getrecursionlimit():,} levels)"
        )


def loads(body: bytes | str) -> Any:
    """``json.loads(body)``, faster."""
    try:
        return _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        pass
    try:
        return json.loads(body)
    except RecursionError:
        raise TooDeeplyNested() from None
