"""A 10M-row result through the lakehouse SQL endpoint.

The query returns the whole full-scale clickstream partition the ingest benchmark wrote
(10.5M rows, 6 columns). Contenders, each in a fresh process:

* ``in-process DuckDB -> Arrow`` - the floor: the same SQL on DuckDB in the client's own
  process, result fetched as an Arrow table;
* ``Flight endpoint`` - :class:`lakeops.query.Client` against the endpoint that
  ``lakeops up`` starts (a separate server process on loopback): handshake, plan (with
  the grant check: the ``steward`` user, as raw is a steward's zone), ``do_get`` on a
  query slot under the default limits (memory per query, time limit), every batch read;
* ``DB-API fetchall`` - the row-based path: the same SQL on DuckDB's DB-API cursor,
  ``fetchall()`` into Python tuples.

The two fast contenders run three times each (best time counts); the row-based one once.
Targets (issue 4): the endpoint >= 0.8x the floor's throughput, >= 10x the row-based path,
kept with the grants and limits of issue 10 in place.

Memory under load (issue 10): as many concurrent aggregations as the endpoint has query
slots, each grouping the 10.5M rows by module, presentation, student, site and day (more
groups than a slot's memory holds, so they spill). Baseline: the same queries on one
in-process DuckDB with its defaults (memory limit 80 % of the machine), peak RSS of its
process; the endpoint's peak RSS is sampled from its process while a client runs them.
Reported against each other and against ``LAKEOPS_SQL_MEMORY_MB``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from benchmarks import lakes
from benchmarks.harness import measure, report, timed
from lakeops.services.ports import free_port

SQL = "SELECT * FROM lakehouse.raw.education.studentVle"


def _parquet(work: str) -> str:
    return lakes.raw_partition(work)


def _local_sql(work: str) -> str:
    return f"SELECT * FROM read_parquet('{_parquet(work)}', hive_partitioning=true)"


def _floor(work: str) -> int:
    import duckdb

    return int(duckdb.connect().execute(_local_sql(work)).to_arrow_table().num_rows)


def _rows(work: str) -> int:
    import duckdb

    return len(duckdb.connect().execute(_local_sql(work)).fetchall())


def _flight(work: str, port: str) -> int:
    from lakeops.core.settings import Settings
    from lakeops.query import connect, grants

    settings = Settings(home=Path(work), flight_port=int(port))
    # raw is a data steward's zone: the grant check and the default limits are in the path
    with connect(settings, user="steward",
                 password=grants.password(settings, "steward")) as client:
        return int(client.table(SQL).num_rows)


# ~0.9 GB of hash table alone on in-process DuckDB: four need more than the endpoint has
HEAVY = ("SELECT count(*) AS n FROM (SELECT code_module, code_presentation, id_student, "
         "id_site, date, sum(sum_click) AS s, count(*) AS c, max(sum_click) AS m "
         "FROM {table} GROUP BY ALL)")


def _heavy_local(work: str, k: str) -> int:
    import duckdb

    db = duckdb.connect()
    sql = HEAVY.format(table=f"read_parquet('{_parquet(work)}')")
    def one() -> int:
        row = db.cursor().execute(sql).fetchone()
        assert row is not None
        return int(row[0])

    return sum(_concurrently(int(k), one))


def _heavy_flight(work: str, port: str, k: str) -> int:
    from lakeops.core.settings import Settings
    from lakeops.query import connect, grants

    settings = Settings(home=Path(work), flight_port=int(port))
    sql = HEAVY.format(table="lakehouse.raw.education.studentVle")

    def one() -> int:
        with connect(settings, user="steward",
                     password=grants.password(settings, "steward")) as client:
            return int(client.table(sql).column("n")[0].as_py())

    return sum(_concurrently(int(k), one))


def _concurrently(k: int, fn: Callable[[], int]) -> list[int]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(k) as pool:
        return list(pool.map(lambda _: fn(), range(k)))


class _PeakRss(threading.Thread):
    """Samples a process's resident set every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = self.idle = self.proc.memory_info().rss
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)


def child(kind: str, work: str, *rest: str) -> None:
    import duckdb  # noqa: F401  (imports are not the work measured)
    import pyarrow.flight  # noqa: F401

    import lakeops.query  # noqa: F401
    import lakeops.query.server  # noqa: F401

    fns = {"floor": _floor, "rows": _rows, "flight": _flight, "heavy-local": _heavy_local,
           "heavy-flight": _heavy_flight}
    timed(fns[kind], work, *rest)


def main(work: Path, *, results_dir: Path) -> dict:
    from lakeops import services
    from lakeops.core.settings import Settings

    port = free_port()
    settings = Settings(home=work, flight_port=port)
    services.up(settings, services=["sql"], timeout=120)
    try:
        mod = "benchmarks.flight_bench"
        results = [
            measure("in-process DuckDB -> Arrow", mod, "floor", str(work), repeat=3),
            measure("Flight endpoint", mod, "flight", str(work), str(port), repeat=3),
            measure("DB-API fetchall (rows)", mod, "rows", str(work)),
        ]
        k = str(settings.sql_max_concurrent)
        local = measure(f"{k} aggregations, in-process", mod, "heavy-local", str(work), k)
        (server,) = [s for s in services.status(settings) if s.name == "sql"]
        assert server.pid is not None
        sampler = _PeakRss(server.pid)
        sampler.start()
        heavy = measure(f"{k} aggregations, endpoint", mod, "heavy-flight", str(work),
                        str(port), k)
        sampler.done.set()
        sampler.join()
    finally:
        services.down(settings)
    floor, flight, rows = results
    mb = 1 << 20
    endpoint = replace(heavy, peak_rss_mb=sampler.peak / mb)
    return report(
        f"flight {floor.rows:,} rows", [*results, local, endpoint], floor.name,
        {"Flight throughput / floor (target >= 0.8)": f"{floor.seconds / flight.seconds:.2f}",
         "Flight / row-based speed (target >= 10)": f"{rows.seconds / flight.seconds:.1f}",
         "endpoint peak RSS under load / in-process DuckDB's":
             f"{endpoint.peak_rss_mb / local.peak_rss_mb:.2f} ({endpoint.peak_rss_mb:.0f} MB "
             f"vs {local.peak_rss_mb:.0f} MB; idle {sampler.idle / mb:.0f} MB)",
         "endpoint peak RSS / LAKEOPS_SQL_MEMORY_MB":
             f"{endpoint.peak_rss_mb / settings.sql_memory_mb:.2f} "
             f"(limit {settings.sql_memory_mb} MB, {settings.sql_query_memory} MB per query)",
         "same answer": str(heavy.rows == local.rows)},
        results_dir,
    )


if __name__ == "__main__":
    child(*sys.argv[1:])
