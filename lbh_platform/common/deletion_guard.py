"""The mass-deletion guard for full exports and re-syncs: a snapshot that would drop more
than a configured share of its rows is not published until someone confirms it."""

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError, DataError

CONFIRM_TAG = "lbh/confirm_mass_deletion"
DEFAULT_MAX_SHARE = 0.2


class MassDeletionBlocked(DataError):
    """The snapshot would delete too much; nothing was published."""


def max_deletion_share(environ: dict[str, str] | None = None) -> float:
    """``LBH_MAX_DELETION_SHARE`` (0..1, default 0.2)."""
    text = registry.get("LBH_MAX_DELETION_SHARE", environ) or ""
    if not text:
        return DEFAULT_MAX_SHARE
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise ConfigurationError(f"LBH_MAX_DELETION_SHARE must be between 0 and 1, got {text!r}")
    return share


def guard_deletions(
    what: str, deleted: int, before: int, *, confirmed: bool, limit: float | None = None
) -> float:
    """The share of ``before`` that ``deleted`` is; raises when above the limit unconfirmed."""
    share = deleted / before if before else 0.0
    limit = max_deletion_share() if limit is None else limit
    if share > limit and not confirmed:
        raise MassDeletionBlocked(
            f"{what}: would delete {deleted} of {before} rows ({share:.0%}), more than "
            f"LBH_MAX_DELETION_SHARE={limit:.0%}; nothing was published. If the deletions are "
            f"real, re-run this partition with the run tag {CONFIRM_TAG}=true."
        )
    return share
