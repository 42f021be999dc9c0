"""Ingestion: pages per second through ``TascomiClient.fetch`` from the simulator over real
HTTP on loopback, with 50 ms of latency added to every request.

The bound is set by latency and concurrency: ``max_pages_in_flight / latency`` pages per
second (the configured default of ``TascomiApiResource``). Page 1 must arrive before the rest
can be asked for, so even a perfect client needs ``latency * (1 + ceil((n - 1) / k))`` for
``n`` pages; that ideal is reported too.

The simulator runs in its own process (as a remote API would), so its rendering does not
share the client's interpreter lock. Each table is fetched once to warm the simulator's
render cache, then timed three times; the best is reported.

Child usage: ``python -m bench.cases.ingestion serve <scale> <latency> <epoch>``: prints the
URL as JSON, serves until stdin closes.
"""

import json
import math
import subprocess
import sys
import time
from datetime import date, timedelta
from typing import Any

from bench.common import PYTHON, ROOT, median

LATENCY = 0.05
PUBLIC, PRIVATE = "sim-public-key", "sim-private-key"


def _serve(argv: list[str]) -> None:
    scale, latency, epoch = float(argv[0]), float(argv[1]), date.fromisoformat(argv[2])
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
    from lbh_platform.tascomi.tables import load_tables
    from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

    tables = [t for t in load_tables() if t.name in ("appeals", "applications")]
    simulator = TascomiSimulator(
        tables,
        ColumnTypeCatalogue.load(),
        scale=scale,
        epoch=epoch,
        public_key=PUBLIC,
        private_key=PRIVATE,
    )
    simulator.latency = latency
    url = simulator.start()
    print(json.dumps({"url": url}), flush=True)
    sys.stdin.readline()  # the parent closes stdin to stop us
    simulator.stop()


def _fetch_rate(url: str, table: str, in_flight: int, repeats: int) -> dict[str, Any]:
    from lbh_platform.tascomi.client import TascomiClient

    with TascomiClient(url, PUBLIC, PRIVATE, max_pages_in_flight=in_flight) as client:
        started = time.perf_counter()
        pages = client.fetch(table)
        cold = time.perf_counter() - started
        timings = []
        cpu = time.process_time()
        for _ in range(repeats):
            started = time.perf_counter()
            pages = client.fetch(table)
            timings.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
    n = len(pages)
    seconds = min(timings)
    bound = in_flight / LATENCY
    ideal_seconds = LATENCY * (1 + math.ceil((n - 1) / in_flight))
    return {
        "pages": n,
        "records": sum(len(p.records) for p in pages),
        "page_kb": round(sum(len(json.dumps(r)) for r in pages[0].records) / 1000, 1),
        "seconds": seconds,
        "median_seconds": median(timings),
        "all_seconds": timings,
        "cold_seconds": cold,
        "pages_per_second": n / seconds,
        "bound_pages_per_second": bound,
        "ideal_pages_per_second": n / ideal_seconds,
        "fraction_of_bound": n / seconds / bound,
        # Phase breakdown: the client's CPU per page (all its threads), and what the raw stage
        # then spends on the fetched pages (checks + raw rows), so no work hides there.
        "client_cpu_ms_per_page": cpu / (repeats * n) * 1000 if n else 0.0,
        "raw_stage_ms_per_page": _raw_stage_ms(table, pages),
    }


def _raw_stage_ms(table: str, pages: list[Any]) -> float:
    """Median ms per page of the ingest stage's work on fetched pages after the fetch."""
    from lbh_platform.tascomi.record_checks import check_pages
    from lbh_platform.tascomi.tables import load_tables
    from lbh_platform.tascomi.transforms import raw_response_table

    if not pages:
        return 0.0
    id_column = next(t.id_column for t in load_tables() if t.name == table)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        checked = check_pages(pages, table, id_column, "bench")
        raw_response_table(table, checked.pages, date.today())
        timings.append(time.perf_counter() - started)
    return median(timings) / len(pages) * 1000


def run(ctx: Any) -> dict[str, Any]:
    from lbh_platform.lib.resources import TascomiApiResource

    in_flight = int(TascomiApiResource.model_fields["max_pages_in_flight"].default)
    # appeals: 60 x scale records at first; applications: 200 x scale (28 KB each).
    narrow_scale, wide_scale = (50, 3) if ctx.quick else (333, 30)
    results: dict[str, Any] = {"latency_seconds": LATENCY, "max_pages_in_flight": in_flight}
    epoch = (date.today() - timedelta(days=2)).isoformat()
    for table, scale in (("appeals", narrow_scale), ("applications", wide_scale)):
        server = subprocess.Popen(
            [PYTHON, "-m", "bench.cases.ingestion", "serve", str(scale), str(LATENCY), epoch],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            url = json.loads(server.stdout.readline())["url"]
            measured = _fetch_rate(url, table, in_flight, repeats=3)
            results[table] = {"ok": True, "scale": scale, **measured}
            ctx.log(
                f"  {table}: {measured['pages']} pages of ~{measured['page_kb']:.0f} KB in "
                f"{measured['seconds']:.2f}s = {measured['pages_per_second']:.1f} pages/s "
                f"(bound {measured['bound_pages_per_second']:.0f}, cold fetch "
                f"{measured['cold_seconds']:.1f}s; client CPU "
                f"{measured['client_cpu_ms_per_page']:.1f} ms/page, raw stage after it "
                f"{measured['raw_stage_ms_per_page']:.1f} ms/page)"
            )
        except Exception as exc:  # noqa: BLE001 - recorded, the run continues
            results[table] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            ctx.log(f"  {table}: ERROR {exc}")
        finally:
            assert server.stdin is not None
            server.stdin.close()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        _serve(sys.argv[2:])
