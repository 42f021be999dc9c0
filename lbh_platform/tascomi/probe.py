"""Probe a Tascomi resource before adding it: what the API serves, next to the catalogue.

The playbook's first step for a new table was to "test the endpoint" in a notebook and check
its columns against the type dictionary by eye. This does both from the first pages: record
count, every field with the type the pipeline's own cast rules accept for all its sampled
values, the catalogue's type (new, missing, conflicting), the share of nulls, how
``last_updated`` spreads (a daily or weekly hint), and the exact configuration to add.
No Dagster here: the command line is ``lbh_platform.cli.probe``.
"""

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pyarrow as pa
import requests

from lbh_platform.common.http import ApiError, ApiRequestError, AuthenticationError
from lbh_platform.common.recast import recast
from lbh_platform.tascomi.client import TascomiClient
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import PAUSED_RULE

LONDON = ZoneInfo("Europe/London")
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # as the table list requires
DEFAULT_PAGES = 5
# Tried in this order; the first the pipeline casts every sampled value with wins. Integer
# before boolean, so 0/1 columns stay numbers; timestamp also takes plain dates.
CANDIDATE_TYPES = ("integer", "long", "double", "boolean", "timestamp")
SPREAD_DAYS = (1, 7, 30, 365)
DAILY_CHANGES_PER_MONTH = 30  # about one changed record a day or more: ingest daily
_LEADING_ZERO = re.compile(r"^[+-]?0[0-9]")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ProbeError(Exception):
    """The probe cannot go on; the message says why and what to do (never a secret)."""


def check_name(resource: str) -> None:
    """A resource name becomes a table, asset key and folder name: refuse anything else."""
    if not TABLE_NAME.match(resource):
        raise ProbeError(
            f"{resource!r} is not a valid table name: use lower-case letters, digits and "
            "underscores, starting with a letter (it becomes the table, asset and folder name)"
        )


@dataclass(frozen=True)
class FieldReport:
    """One field as sampled, next to its catalogue entry."""

    name: str
    inferred: str | None  # a catalogue type, "string", "nested", "null"; None when missing
    catalogue: str | None
    status: str  # ok | new | string | missing | conflict | null
    null_share: float | None
    cast_failures: int = 0  # sampled values the catalogue's type cannot cast

    def describe(self) -> str:
        if self.status == "conflict":
            failed = self.cast_failures
            return f"conflict: {failed} sampled value(s) would not cast as {self.catalogue}"
        return {
            "ok": "ok",
            "new": "new: not in the catalogue (typed below)",
            "string": "untyped string (stays a string)",
            "missing": "missing: in the catalogue, not in the sample",
            "null": "always null in the sample",
        }[self.status]


@dataclass(frozen=True)
class Spread:
    """How ``last_updated`` spreads over the sample, and the cadence it suggests."""

    oldest: str | None
    newest: str | None
    changed_within: dict[int, int]  # days -> records last updated within that many days
    without: int
    cadence: str
    reason: str


@dataclass(frozen=True)
class ProbeReport:
    resource: str
    total_records: int | None  # what the API announces (X-Number-Of-Results)
    sampled: int
    pages_read: int
    pages_total: int
    fields: list[FieldReport]
    spread: Spread
    in_catalogue: bool
    id_column_present: bool
    listed: bool = False  # already in the table list
    paused: bool = False  # under 'paused:' in the table list

    @property
    def complete(self) -> bool:
        return self.pages_read >= self.pages_total

    @property
    def table_entry(self) -> dict[str, str]:
        return {"name": self.resource, "cadence": self.spread.cadence}

    @property
    def table_line(self) -> str:
        """The table-list entry, in the file's own flow style."""
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.table_entry.items()) + "}"

    @property
    def typed_columns(self) -> dict[str, str]:
        """The catalogue block for a table the catalogue does not know yet (sorted)."""
        if self.in_catalogue:
            return {}
        typed = {f.name: f.inferred for f in self.fields if f.status == "new" and f.inferred}
        return dict(sorted(typed.items()))

    @property
    def catalogue_block(self) -> str | None:
        columns = self.typed_columns
        if not columns:
            return None
        return f"{self.resource}:\n" + "".join(f"  {c}: {t}\n" for c, t in columns.items())


class AnnouncedTotal:
    """A ``requests`` response hook remembering page 1's ``X-Number-Of-Results`` (the client
    turns it into a page count; the probe reports the record count itself)."""

    def __init__(self) -> None:
        self.value: int | None = None

    def __call__(self, response: requests.Response, *args: object, **kwargs: object):
        query = parse_qs(urlsplit(response.url).query)
        if response.status_code == 200 and query.get("page") == ["1"]:
            try:
                self.value = int(response.headers["X-Number-Of-Results"])
            except (KeyError, ValueError):
                self.value = None
        return response


def counting_session() -> tuple[requests.Session, AnnouncedTotal]:
    """A session for the client that remembers the announced record count."""
    session = requests.Session()
    total = AnnouncedTotal()
    session.hooks["response"].append(total)
    return session, total


def string_columns(records: Sequence[Mapping[str, object]]) -> tuple[pa.Table, set[str]]:
    """Every key as a nullable string column, as ``parsed`` holds it; and the nested keys."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    nested: set[str] = set()
    columns: dict[str, pa.Array] = {}
    for name in names:
        values: list[str | None] = []
        for record in records:
            value = record.get(name)
            if isinstance(value, dict | list):
                nested.add(name)
            if value is None or isinstance(value, str):
                values.append(value)
            elif isinstance(value, bool):
                values.append("true" if value else "false")
            elif isinstance(value, int | float):
                values.append(json.dumps(value))
            else:
                values.append(json.dumps(value, separators=(",", ":")))
        columns[name] = pa.array(values, pa.string())
    return pa.table(columns), nested


def _present(values: Iterable[str | None]) -> list[str]:
    return [v for v in values if v is not None and v.strip() != ""]


def infer_types(table: pa.Table, nested: set[str]) -> dict[str, str]:
    """Per column, the first candidate type the pipeline's recast casts without failure."""
    failures = {
        kind: recast(table, dict.fromkeys(table.column_names, kind)).cast_failures
        for kind in CANDIDATE_TYPES
    }
    inferred: dict[str, str] = {}
    for name in table.column_names:
        present = _present(table[name].to_pylist())
        if name in nested:
            inferred[name] = "nested"
        elif not present:
            inferred[name] = "null"
        else:
            kind = next((k for k in CANDIDATE_TYPES if not failures[k].get(name)), "string")
            if kind in ("integer", "long", "double") and any(
                _LEADING_ZERO.match(v) for v in present
            ):
                kind = "string"  # codes such as 007 would lose their zeros
            if kind == "timestamp" and all(_DATE_ONLY.match(v.strip()) for v in present):
                kind = "date"
            inferred[name] = kind
    return inferred


def compare(
    table: pa.Table, inferred: Mapping[str, str], catalogue: Mapping[str, str]
) -> list[FieldReport]:
    """Each sampled field next to its catalogue type, then the catalogue's missing ones."""
    present = {c: catalogue[c] for c in table.column_names if c in catalogue}
    failures = recast(table, present).cast_failures if present else {}
    reports = []
    for name in table.column_names:
        values = table[name].to_pylist()
        share = 1 - len(_present(values)) / len(values) if values else 0.0
        kind, typed = inferred[name], catalogue.get(name)
        if typed is None:
            status = "string" if kind in ("string", "nested", "null") else "new"
        elif failures.get(name):
            status = "conflict"
        elif kind == "null":
            status = "null"
        else:
            status = "ok"
        reports.append(FieldReport(name, kind, typed, status, share, failures.get(name, 0)))
    for name, typed in catalogue.items():
        if name not in table.column_names:
            reports.append(FieldReport(name, None, typed, "missing", None))
    return reports


def spread(values: Sequence[str | None], now: datetime) -> Spread:
    """Oldest/newest ``last_updated`` and how many changed lately: a cadence hint."""
    stamps = sorted(v for v in values if isinstance(v, str) and v.strip())
    today = now.astimezone(LONDON).date() if now.tzinfo else now.date()
    within = {}
    for days in SPREAD_DAYS:
        since = (today - timedelta(days=days)).isoformat()
        within[days] = sum(1 for s in stamps if s[:10] > since)
    month = within[30]
    if month >= DAILY_CHANGES_PER_MONTH:
        cadence = "daily"
        reason = f"{month} records changed in the last 30 days (about {month / 30:.1f} a day)"
    else:
        cadence = "weekly"
        reason = (
            f"only {month} record(s) changed in the last 30 days: a slowly changing lookup "
            "table, ingested on Sundays"
        )
    return Spread(
        stamps[0] if stamps else None,
        stamps[-1] if stamps else None,
        within,
        len(values) - len(stamps),
        cadence,
        reason,
    )


def probe(
    client: TascomiClient,
    resource: str,
    catalogue: ColumnTypeCatalogue,
    *,
    pages: int = DEFAULT_PAGES,
    now: datetime | None = None,
    total: AnnouncedTotal | None = None,
    listed: Collection[str] = (),
    paused: Collection[str] = (),
) -> ProbeReport:
    """Fetch the first ``pages`` pages of ``resource`` and compare them with the catalogue.

    Raises :class:`ProbeError` with a plain message for a bad name, refused credentials, a
    resource the API does not know (404) or one with no records (202).
    """
    check_name(resource)
    if pages < 1:
        raise ProbeError(f"--pages must be at least 1, got {pages}")
    try:
        got, page_count = client.fetch_first_pages(resource, pages)
    except AuthenticationError as exc:
        raise ProbeError(
            f"the API refused the credentials (HTTP {exc.status}) for {resource!r}: check "
            "TASCOMI_PUBLIC_KEY and TASCOMI_PRIVATE_KEY (or TASCOMI_SECRET_ID), and that this "
            "machine's clock is right (the hash is valid for one minute)"
        ) from None
    except ApiRequestError as exc:
        if exc.status == 404:
            raise ProbeError(
                f"the API has no resource {resource!r} (HTTP 404 from {client.base_url}"
                f"{resource}): check the name against the Tascomi API"
            ) from None
        raise ProbeError(str(exc)) from None
    except ApiError as exc:
        raise ProbeError(str(exc)) from None
    records = [record for page in got for record in page.records]
    if not records:
        raise ProbeError(
            f"the API returned no records for {resource!r} (HTTP 202): it is unknown to this "
            "API or empty, so there is nothing to infer columns from"
        )
    table, nested = string_columns(records)
    fields = compare(table, infer_types(table, nested), catalogue.columns(resource))
    updated = table["last_updated"].to_pylist() if "last_updated" in table.column_names else []
    return ProbeReport(
        resource=resource,
        total_records=total.value if total is not None else None,
        sampled=len(records),
        pages_read=len(got),
        pages_total=page_count,
        fields=fields,
        spread=spread(updated or [None] * len(records), now or datetime.now(UTC)),
        in_catalogue=resource in catalogue.tables(),
        id_column_present="id" in table.column_names,
        listed=resource in listed,
        paused=resource in paused,
    )


def render(report: ProbeReport, tables_file: str, catalogue_file: str) -> str:
    """The report as text, ending with the exact configuration to add."""
    total = (
        f"{report.total_records} records (announced by the API)"
        if report.total_records is not None
        else f"{report.sampled} records read"
    )
    lines = [
        f"Tascomi resource {report.resource!r}: {total}",
        f"  sampled {report.sampled} record(s) from {report.pages_read} of "
        f"{report.pages_total} page(s)" + ("" if report.complete else " (use --pages for more)"),
    ]
    s = report.spread
    changed = ", ".join(f"{d} day(s): {n}" for d, n in s.changed_within.items())
    lines += [
        f"  last_updated: oldest {s.oldest or '-'}, newest {s.newest or '-'}"
        + (f", {s.without} record(s) without one" if s.without else ""),
        f"  changed within {changed}",
        f"  cadence hint: {s.cadence} ({s.reason})",
    ]
    if not report.id_column_present:
        lines.append(
            "  warning: no 'id' field: add id_column (and completeness_column) to the entry"
        )
    width = max((len(f.name) for f in report.fields), default=5)
    lines += ["", f"  {'field':<{width}}  {'inferred':<9}  {'catalogue':<9}  nulls   status"]
    for f in report.fields:
        nulls = "-" if f.null_share is None else f"{f.null_share:6.1%}"
        lines.append(
            f"  {f.name:<{width}}  {f.inferred or '-':<9}  {f.catalogue or '-':<9}  "
            f"{nulls:>6}  {f.describe()}"
        )
    counts = {k: sum(1 for f in report.fields if f.status == k) for k in ("new", "missing")}
    conflicts = sum(1 for f in report.fields if f.status == "conflict")
    lines += [
        "",
        f"  {len(report.fields)} fields: {counts['new']} new typed, {counts['missing']} missing, "
        f"{conflicts} conflicting",
        "",
    ]
    if report.listed:
        lines.append(f"{report.resource} is already in {tables_file}: nothing to add there")
    elif report.paused:
        lines += [
            f"{report.resource} is under 'paused:' in {tables_file}: {PAUSED_RULE}, as:",
            f"  - {report.table_line}",
        ]
    else:
        lines += [f"Add to {tables_file} (under tables:):", f"  - {report.table_line}"]
    block = report.catalogue_block
    if report.in_catalogue:
        lines.append(
            f"{catalogue_file} already lists {report.resource}: review the new, missing and "
            "conflicting fields above by hand"
        )
    elif block:
        lines += [f"Add to {catalogue_file}:", *("  " + b for b in block.splitlines())]
    else:
        lines.append(f"No typed columns: nothing to add to {catalogue_file}")
    return "\n".join(lines)
