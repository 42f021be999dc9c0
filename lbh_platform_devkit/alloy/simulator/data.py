"""Deterministic, day-by-day Alloy items for the simulator.

Each dataset's root design gains items every day from ``epoch``, some existing items are edited
and a few deleted; every value is a pure function of (seed, dataset, item, version), so an
export and the ground truth `tables()` agree exactly and runs are reproducible.
"""

import hashlib
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from lbh_platform.alloy.datasets import AlloyDataset, join_path

DEFAULT_EPOCH = date(2023, 1, 2)
LOOKUP_ITEMS = 6  # items per joined design (statuses, teams, ...)
_HEX_SUFFIX = re.compile(r"_[0-9a-f]{24}$")
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORDS = (
    *("Allocated", "Completed", "Cancelled", "Open", "Closed", "Awaiting", "Estate", "Park"),
    *("Dalston", "Homerton", "Clapton", "Hoxton", "Shoreditch", "Market", "Bins", "Mattress"),
    *("Sofa", "Bags", "Rubble", "Tyres", "Paint"),
)
_STREETS = ("Mare Street", "Kingsland Road", "Chatsworth Road", "Well Street", "Amhurst Road")

Table = tuple[list[str], list[list[str]]]  # header, rows


def item_id(*parts: object) -> str:
    """A 24-hex id, Alloy style, stable for the same parts."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:24]


def _camel(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text)
    return (words[0].lower() + "".join(w.capitalize() for w in words[1:])) if words else ""


def display_name(code: str, prefixes: tuple[str, ...] = ()) -> str:
    """A display name from an attribute code: ``attributes_tasksRaisedTime`` -> "Raised Time".

    Codes are ``attributes_<designCamel><AttributePascal>[_<hex>]``: drop the known design
    prefix (or, failing that, up to the first capital) and split the rest into words.
    """
    bare = _HEX_SUFFIX.sub("", code.removeprefix("attributes_"))
    for prefix in sorted(prefixes, key=len, reverse=True):
        if prefix and bare.startswith(prefix) and bare[len(prefix) : len(prefix) + 1].isupper():
            bare = bare[len(prefix) :]
            break
    else:
        first_capital = next((i for i, c in enumerate(bare) if c.isupper()), 0)
        bare = bare[first_capital:] or bare
    return _WORD_BREAK.sub(" ", bare)


def _value(code: str, rng: random.Random, label: str, when: datetime, blanks: bool = True) -> str:
    """A plausible CSV value for an attribute, chosen by what its code says it holds."""
    lowered = code.lower()
    if "subtitle" in lowered or "address" in lowered or "location" in lowered:
        return f"{rng.randint(1, 250)} {rng.choice(_STREETS)}"
    if "title" in lowered:
        return label
    if rng.random() < 0.08 and blanks:
        return ""  # not every attribute is filled in
    if "time" in lowered or "date" in lowered:
        moment = when + timedelta(minutes=rng.randint(0, 600))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if "geometry" in lowered:
        lon, lat = -0.06 + rng.uniform(-0.03, 0.03), 51.55 + rng.uniform(-0.02, 0.02)
        return f'{{"type":"Point","coordinates":[{lon:.6f},{lat:.6f}]}}'
    if any(k in lowered for k in ("fms", "offensive", "flag")):
        return rng.choice(("True", "False"))
    if any(k in lowered for k in ("quantity", "area", "number", "uprn", "reference")):
        return str(rng.randint(1, 99999))
    if "email" in lowered:
        return f"resident{rng.randint(1, 999)}@example.org"
    if "postcode" in lowered:
        inward = f"{rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRS')}"
        return f"E{rng.randint(1, 9)} {inward}"
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))


@dataclass
class _Item:
    index: int
    id: str
    created: datetime
    edits: list[datetime] = field(default_factory=list)
    deleted: datetime | None = None

    def version(self, as_of: datetime) -> tuple[int, datetime] | None:
        """(number of edits, last edit time) as of ``as_of``; None if absent or deleted."""
        if self.created > as_of or (self.deleted is not None and self.deleted <= as_of):
            return None
        edits = [e for e in self.edits if e <= as_of]
        return len(edits), (edits[-1] if edits else self.created)


class DatasetData:
    """One dataset's items over time and the CSV tables an export would hold."""

    def __init__(self, dataset: AlloyDataset, *, seed: int, scale: float, epoch: date) -> None:
        self.dataset = dataset
        self.seed = seed
        self.scale = scale
        self.epoch = epoch
        props = dataset.query["aqs"]["properties"]
        self.attributes: list[str] = list(props["attributes"])
        self.root_label = dataset.file_name.rsplit(".", 1)[0]
        self.root_prefixes = (
            dataset.root_design.split("_")[1],
            "items",
            "tasks",
            "defects",
            "jobs",
            "premises",
        )
        self.paths = list(dataset.join_design_names)
        self.path_attributes: dict[str, list[str]] = {p: [] for p in self.paths}
        for attribute in props.get("joinAttributes", []):
            self.path_attributes[join_path(attribute)].append(attribute.rsplit(".", 1)[1])
        # A root attribute that starts a join path holds the linked item's id.
        self.link_of = {
            p.split(".", 1)[1]: p
            for p in self.paths
            if p.startswith("root.") and "." not in p.split(".", 1)[1]
        }
        self._items: list[_Item] = []
        self._lookups: dict[tuple[str, int], tuple[str, list[str], str, str]] = {}
        self._days_done = 0
        self._lock = threading.Lock()

    # --- evolution ----------------------------------------------------------------------------

    def _extend_to(self, moment: datetime) -> None:
        """Generate whole days up to and including ``moment``'s day (once, then cached)."""
        days_needed = (moment.astimezone(UTC).date() - self.epoch).days + 1
        with self._lock:
            while self._days_done < days_needed:
                self._generate_day(self._days_done)
                self._days_done += 1

    def _generate_day(self, day_number: int) -> None:
        rng = random.Random(f"{self.seed}/{self.dataset.name}/day/{day_number}")
        start = datetime.combine(self.epoch + timedelta(days=day_number), time(), UTC)

        def moment() -> datetime:
            return start + timedelta(seconds=rng.randint(7 * 3600, 19 * 3600))

        live = [i for i in self._items if i.deleted is None]
        for item in rng.sample(live, min(len(live), round(rng.randint(1, 4) * self.scale))):
            item.edits.append(moment())
            item.edits.sort()
        if live and rng.random() < 0.15:
            rng.choice(live).deleted = moment()
        for _ in range(round(rng.randint(3, 7) * self.scale)):
            index = len(self._items)
            ident = item_id(self.seed, self.dataset.name, index)
            self._items.append(_Item(index, ident, moment()))

    def live_items(self, as_of: datetime) -> list[tuple[_Item, int, datetime]]:
        """(item, version, last edit) for every item existing at ``as_of``, by item id."""
        self._extend_to(as_of)
        with self._lock:
            found = [(i, v) for i in self._items if (v := i.version(as_of)) is not None]
        return sorted(((i, n, last) for i, (n, last) in found), key=lambda t: t[0].id)

    # --- tables ------------------------------------------------------------------------------

    def _lookup(self, path: str, number: int) -> tuple[str, list[str], str, str]:
        """Joined item ``number`` of ``path``: id, attribute values, title, subtitle."""
        key = (path, number)
        if key not in self._lookups:
            design = self.dataset.join_design_names[path]
            rng = random.Random(f"{self.seed}/{self.dataset.name}/{path}/{number}")
            when = datetime.combine(self.epoch, time(9), UTC)
            title = f"{design} {number + 1}"
            values = [_value(c, rng, title, when, False) for c in self.path_attributes[path]]
            self._lookups[key] = (item_id(self.seed, path, number), values, title, design)
        return self._lookups[key]

    def _links(self, item: _Item, version: int) -> dict[str, int]:
        """Which joined item each path points at for this item version (parents first)."""
        rng = random.Random(f"{self.seed}/{self.dataset.name}/{item.index}/links/{version}")
        links: dict[str, int] = {}
        for path in self.paths:
            parent = join_path(path)
            if parent in links:  # a nested join follows its parent's item
                links[path] = (links[parent] * 7 + 3) % LOOKUP_ITEMS
            else:
                links[path] = rng.randrange(LOOKUP_ITEMS)
        return links

    def _root_row(self, item: _Item, version: int, last_edit: datetime) -> tuple[list[str], dict]:
        """The root CSV row of one item version, and which joined item each path points at."""
        rng = random.Random(f"{self.seed}/{self.dataset.name}/{item.index}/{version}")
        links = self._links(item, version)
        title = f"{self.root_label} {item.index + 1}"
        row = [item.id]
        for attribute in self.attributes:
            value = _value(attribute, rng, title, item.created)
            if attribute in self.link_of:
                value = self._lookup(self.link_of[attribute], links[self.link_of[attribute]])[0]
            row.append(value)
        row.append(last_edit.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        return row, links

    def tables(
        self,
        as_of: datetime,
        header_type: str,
        edited_after: datetime | None = None,
        repeat_older: int = 0,
    ) -> dict[str, Table]:
        """Every output table of an export at ``as_of`` (only items edited after
        ``edited_after``, if given), as header plus rows of CSV strings.

        ``repeat_older`` items that were edited are listed a second time, at the end of the
        root CSV, as their previous version (an export holding one Item ID twice)."""
        code = header_type == "Code"
        root_header = (
            ["Item ID"]
            + [a if code else display_name(a, self.root_prefixes) for a in self.attributes]
            + ["lastEditDate" if code else "Last Edit Date"]
        )
        predecessor = (
            ["Predecessor attributes_itemsTitle", "Predecessor attributes_itemsSubtitle"]
            if code
            else ["Predecessor Title", "Predecessor Subtitle"]
        )
        out: dict[str, Table] = {self.dataset.name: (root_header, [])}
        for path, table in zip(self.paths, self.dataset.joined_designs, strict=True):
            design_prefix = _camel(self.dataset.join_design_names[path])
            header = [
                "AQS Path",
                "Primary Item",
                "Predecessor Item",
                "Predecessor File",
                *predecessor,
                "Item ID",
            ] + [
                a if code else display_name(a, (design_prefix, "items"))
                for a in self.path_attributes[path]
            ]
            out[table] = (header, [])

        repeats: list[list[str]] = []
        for item, version, last_edit in self.live_items(as_of):
            if edited_after is not None and last_edit <= edited_after:
                continue
            row, links = self._root_row(item, version, last_edit)
            out[self.dataset.name][1].append(row)
            if len(repeats) < repeat_older and version > 0:
                earlier = item.edits[version - 2] if version > 1 else item.created
                repeats.append(self._root_row(item, version - 1, earlier)[0])
            title = f"{self.root_label} {item.index + 1}"
            subtitle = (
                row[self.attributes.index("attributes_itemsSubtitle") + 1]
                if ("attributes_itemsSubtitle" in self.attributes)
                else ""
            )
            for path, table in zip(self.paths, self.dataset.joined_designs, strict=True):
                linked_id, values, _, _ = self._lookup(path, links[path])
                parent = join_path(path)
                if parent in links:
                    parent_id, _, parent_title, parent_subtitle = self._lookup(
                        parent, links[parent]
                    )
                else:
                    parent_id, parent_title, parent_subtitle = item.id, title, subtitle
                out[table][1].append(
                    [
                        path,
                        item.id,
                        parent_id,
                        "",
                        parent_title,
                        parent_subtitle,
                        linked_id,
                        *values,
                    ]
                )
        out[self.dataset.name][1].extend(repeats)
        return out
