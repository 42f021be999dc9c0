"""Erasure's settings (see :mod:`lbh_platform.settings_registry`)."""

from lbh_platform.settings_registry import Setting, declare

SALT = "LBH_ERASURE_SALT"
MIN_SALT_CHARACTERS = 16

declare(
    Setting(
        SALT,
        "The salt of the keyed hash (HMAC-SHA256) an erasure records for each erased key, so "
        "the audit and the ingest's erased-record filter never hold the values. At least "
        f"{MIN_SALT_CHARACTERS} characters; keep it for good: with another salt, recorded "
        "erasures no longer match (see docs/PERSONAL_DATA.md).",
        secret=True,
    ),
)

MASKED_VIEWS = "LBH_MASKED_VIEWS"
MASKED_MODES = ("drop", "hash")

declare(
    Setting(
        MASKED_VIEWS,
        "How the local SQL catalogue's `<table>_masked` views treat the declared personal "
        "columns: `drop` (left out) or `hash` (SHA-256 of the text: distinct counts and joins "
        "still work, but a guessable value can be found again). See docs/PERSONAL_DATA.md.",
        default="drop",
    ),
)
