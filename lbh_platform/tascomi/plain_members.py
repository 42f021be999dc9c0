"""Where the records of a page hold a few named members, found by vectorised scans of the
body rather than by a second JSON decode.

A decode holds the interpreter lock for its whole run (3 ms for a 2.9 MB page), and while
it does, the thread about to send the next request waits. numpy's scans of the body give
the same answer for a *plain* body without needing the lock for long:

- no backslash anywhere, so every quote opens or closes a string;
- every string followed directly by one of ``: , } ]``, so a string followed by ``:`` is
  a key and every key is found;
- every value starting right after its colon with no object or array among them, so the
  records are flat and every key found is a top-level key of its record.

Anything else gives None and the caller decodes instead, as it does for a record holding
a name twice (which of the two counts is the decoder's rule, not ours). The body must
already be known to be valid JSON: this reads its layout, it does not check it. Pure.
"""

from collections.abc import Sequence

import numpy as np

__all__ = ["Member", "plain_members"]

# (key's opening quote, value's first byte, one past the value's last byte), body offsets.
Member = tuple[int, int, int]

_QUOTE, _COLON = ord('"'), ord(":")
_SCALAR_ENDS = frozenset(b",}] \t\n\r")


def _table(members: bytes) -> np.ndarray:
    """A byte -> bool lookup: one take tests every byte against the set."""
    table = np.zeros(256, bool)
    table[list(members)] = True
    return table


_AFTER_A_STRING = _table(b":,}]")
_NOT_A_PLAIN_VALUE = _table(b"{[ \t\n\r")


def plain_members(
    body: bytes, starts: Sequence[int], names: Sequence[str]
) -> list[list[Member | None]] | None:
    """For each of ``names``, each record's member of that name (None where it has none);
    the records begin at ``starts`` (ascending offsets of their ``{``). None when the body
    is not plain, or a record holds one of the names twice."""
    if b"\\" in body:
        return None
    view = np.frombuffer(body, np.uint8)
    quotes = np.flatnonzero(view == _QUOTE)
    if len(quotes) % 2:
        return None  # not valid JSON: let the decode say so
    opens, closes = quotes[0::2], quotes[1::2]
    following = view[closes + 1]  # a valid body ends with "]", never with a quote
    if not _AFTER_A_STRING[following].all():
        return None
    keys = np.flatnonzero(following == _COLON)  # which strings are keys
    key_opens, key_closes = opens[keys], closes[keys]
    value_starts = key_closes + 2
    if _NOT_A_PLAIN_VALUE[view[value_starts]].any():
        return None
    lengths = key_closes - key_opens - 1
    record_starts = np.asarray(starts, np.int64)
    found: list[list[Member | None]] = []
    for name in names:
        spelled = np.frombuffer(name.encode(), np.uint8)
        hits = np.flatnonzero(lengths == len(spelled))
        if len(hits):
            window = view[key_opens[hits, None] + 1 + np.arange(len(spelled))]
            hits = hits[(window == spelled).all(axis=1)]
        holders = np.searchsorted(record_starts, key_opens[hits], side="right") - 1
        if len(np.unique(holders)) != len(holders):
            return None
        members: list[Member | None] = [None] * len(starts)
        for hit, record in zip(hits.tolist(), holders.tolist(), strict=True):
            start = int(value_starts[hit])
            if body[start] == _QUOTE:  # the next string: its closing quote ends the value
                end = int(quotes[2 * int(keys[hit]) + 3]) + 1
            else:
                end = start
                while body[end] not in _SCALAR_ENDS:
                    end += 1
            members[record] = (int(key_opens[hit]), start, end)
        found.append(members)
    return found
