"""The schedules-and-sensors table of docs/DEPLOYING.md, read for the tests that keep it true."""

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "DEPLOYING.md"
HEADER = "| schedule or sensor | kind | production | embedded | why |"


def documented_states() -> dict[str, dict[str, str]]:
    """name -> {"kind", "production", "embedded"} for each row of the table."""
    lines = DOC.read_text().splitlines()
    start = lines.index(HEADER) + 2  # past the header and its rule
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        name, kind, production, embedded, _why = (c.strip() for c in line.strip("|").split("|"))
        rows[name.strip("`")] = {"kind": kind, "production": production, "embedded": embedded}
    return rows
