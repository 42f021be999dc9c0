"""The keys an erasure looks for, and the erased keys an ingest drops, as key tests.

A key is compared as text (``123`` and ``"123"`` are one key). An erasure holds the values it
was given (:class:`KeySet`); afterwards only a salted hash of each is kept (HMAC-SHA256 with
``LBH_ERASURE_SALT``), and :class:`ErasedKeys` recognises a value by hashing it, so nothing
stored after an erasure holds an erased value.
"""

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure.settings import MIN_SALT_CHARACTERS, SALT


class Keys(Protocol):
    """Whether values are keys: one text at a time, or a whole string array."""

    literal: tuple[str, ...] | None  # the values themselves, when known (a fast pre-filter)

    def __call__(self, text: str) -> bool: ...

    def matching(self, values: pa.Array) -> pa.Array: ...


def erasure_salt(given: Mapping[str, str] | None = None) -> str:
    """The salt from ``LBH_ERASURE_SALT``; a clear error (never the value) when unusable."""
    salt = registry.get(SALT, given)
    if salt is None:
        raise ConfigurationError(
            f"{SALT} is not set: an erasure records a salted hash of each key and needs a "
            f"secret salt of at least {MIN_SALT_CHARACTERS} characters (keep it for good)"
        )
    if len(salt) < MIN_SALT_CHARACTERS:
        raise ConfigurationError(
            f"{SALT} is too short (its value is not shown): use at least "
            f"{MIN_SALT_CHARACTERS} characters"
        )
    return salt


def key_hash(salt: str, key: str) -> str:
    """The salted hash recorded for ``key`` (hex HMAC-SHA256)."""
    return hmac.new(salt.encode(), key.encode(), hashlib.sha256).hexdigest()


def salt_fingerprint(salt: str) -> str:
    """A short mark of the salt in every audit entry: a later erasure under another salt is
    seen at once (the salt itself cannot be found from it)."""
    return hmac.new(salt.encode(), b"lbh-erasure-salt", hashlib.sha256).hexdigest()[:16]


def _texts(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
        values = values.cast(pa.string())
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    return values


class KeySet:
    """The key values an erasure was asked for (held in memory only)."""

    def __init__(self, values: Iterable[object]):
        texts = []
        for value in values:
            text = str(value).strip()
            if not text:
                raise ValueError("an erasure key is empty")
            texts.append(text)
        if not texts:
            raise ValueError("an erasure needs at least one key")
        self.literal: tuple[str, ...] | None = tuple(sorted(set(texts)))
        self._set = frozenset(self.literal)
        self._array = pa.array(self.literal, pa.string())

    def __repr__(self) -> str:  # never the values
        return f"KeySet({len(self._set)} keys)"

    def __len__(self) -> int:
        return len(self._set)

    def __call__(self, text: str) -> bool:
        return text in self._set

    def matching(self, values: pa.Array) -> pa.Array:
        return pc.fill_null(pc.is_in(_texts(values), value_set=self._array), False)

    def hashes(self, salt: str) -> list[str]:
        return sorted(key_hash(salt, k) for k in self._set)


class ErasedKeys:
    """Keys whose erasure is recorded, known by their salted hashes, with when each was
    (last) erased: what an ingest drops so the next run does not bring them back."""

    literal: tuple[str, ...] | None = None

    def __init__(self, salt: str, erased: Mapping[str, datetime]):
        self._salt = salt
        self._erased = dict(erased)

    def __repr__(self) -> str:
        return f"ErasedKeys({len(self._erased)} keys)"

    def __len__(self) -> int:
        return len(self._erased)

    def __call__(self, text: str) -> bool:
        return bool(self._erased) and key_hash(self._salt, text) in self._erased

    def erased_at(self, text: str) -> datetime | None:
        if not self._erased:
            return None
        return self._erased.get(key_hash(self._salt, text))

    def blocks(self, text: str, changed_at: datetime | None = None) -> bool:
        """Whether a record with key ``text`` is to be dropped: erased, and not changed by
        the source since the erasure (``changed_at`` after it: the source's new data)."""
        when = self.erased_at(text)
        if when is None:
            return False
        return changed_at is None or _aware(changed_at) <= when

    def matching(self, values: pa.Array) -> pa.Array:
        texts = _texts(values)
        if not self._erased or len(texts) == 0:
            return pa.array([False] * len(texts), pa.bool_())
        distinct = pc.unique(texts.drop_null()).to_pylist()
        hit = [v for v in distinct if key_hash(self._salt, v) in self._erased]
        if not hit:
            return pa.array([False] * len(texts), pa.bool_())
        return pc.fill_null(pc.is_in(texts, value_set=pa.array(hit, pa.string())), False)


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
