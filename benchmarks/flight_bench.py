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
Targets (issue 4): the endpoint >= 0.8x the floor's throughput, >= 10x the row-based path.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from benchmarks.harness import measure, report, timed
from benchmarks.ingest_bench import INTERVAL

SQL = "SELECT * FROM lakehouse.raw.education.studentVle"


def _parquet(work: str) -> str:
    return f"{work}/lake/raw/education/studentVle/dt={INTERVAL}/part-0.parquet"


def _local_sql(work: str) -> str:
    return f"SELECT * FROM read_parquet('{_parquet(work)}', hive_partitioning=true)"


def _floor(work: str) -> int:
    import duckdb

    return int(duckdb.connect().execute(_local_sql(work)).to_arrow_table().num_rows)


def _rows(work: str) -> int:
    import duckdb

    return len(duckdb.connect().execute(_local_sql(work)).fetchall())


def _flight(work: str, port: str) -> int:
    from lakeops.query import connect, grants
    from lakeops.settings import Settings

    settings = Settings(home=Path(work), flight_port=int(port))
    # raw is a data steward's zone: the grant check and the default limits are in the path
    with connect(settings, user="steward",
                 password=grants.password(settings, "steward")) as client:
        return int(client.table(SQL).num_rows)


def child(kind: str, work: str, *rest: str) -> None:
    import duckdb  # noqa: F401  (imports are not the work measured)
    import pyarrow.flight  # noqa: F401

    import lakeops.query  # noqa: F401
    import lakeops.query.server  # noqa: F401

    fns = {"floor": _floor, "rows": _rows, "flight": _flight}
    timed(fns[kind], work, *rest)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(work: Path) -> dict:
    from lakeops import services
    from lakeops.settings import Settings

    port = _free_port()
    settings = Settings(home=work, flight_port=port)
    services.up(settings, services=["sql"], timeout=120)
    try:
        mod = "benchmarks.flight_bench"
        results = [
            measure("in-process DuckDB -> Arrow", mod, "floor", str(work), repeat=3),
            measure("Flight endpoint", mod, "flight", str(work), str(port), repeat=3),
            measure("DB-API fetchall (rows)", mod, "rows", str(work)),
        ]
    finally:
        services.down(settings)
    floor, flight, rows = results
    return report(
        f"flight {floor.rows:,} rows", results, floor.name,
        {"Flight throughput / floor (target >= 0.8)": f"{floor.seconds / flight.seconds:.2f}",
         "Flight / row-based speed (target >= 10)": f"{rows.seconds / flight.seconds:.1f}"},
    )


if __name__ == "__main__":
    child(*sys.argv[1:])
