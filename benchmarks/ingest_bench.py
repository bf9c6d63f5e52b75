"""Ingestion of the full-scale education clickstream (OULAD's studentVle, ~10.6M rows).

Contenders, each in a fresh process over the same delivered CSV files:
* ``duckdb COPY`` - the floor: a bare DuckDB CSV->Parquet copy, no checks at all;
* ``pandas`` - the usual baseline: read_csv -> to_parquet;
* ``duckdb COPY, types given`` - for reference: the copy with the column types spelled out;
* ``lakeops ingest`` - the real task: typed read with rejects kept, null checks, checksums,
  atomic publish of the partition, quarantine, archive and manifest.

Targets (issue 2): lakeops within 1.5x the DuckDB floor and at least 5x faster than pandas.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks import lakes
from benchmarks.harness import measure, report, timed


def _duckdb_copy(files: list[str], out: str) -> int:
    import duckdb

    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv({files!r}, header=true)) TO '{out}' "
                "(FORMAT parquet, COMPRESSION zstd)")
    return int(con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0])  # type: ignore[index]


STUDENT_VLE_TYPES = {"code_module": "VARCHAR", "code_presentation": "VARCHAR",
                     "id_student": "BIGINT", "id_site": "BIGINT", "date": "INTEGER",
                     "sum_click": "INTEGER"}


def _duckdb_typed(files: list[str], out: str) -> int:
    """DuckDB told the types (no sniffing): what a hand-tuned one-off copy costs."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv({files!r}, header=true, auto_detect=false, "
                f"columns={STUDENT_VLE_TYPES!r})) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    return int(con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0])  # type: ignore[index]


def _pandas(files: list[str], out: str) -> int:
    import pandas as pd

    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    frame.to_parquet(out, compression="zstd", index=False)
    return len(frame)


def child(kind: str, *args: str) -> None:
    if kind == "lakeops":
        timed(lakes.ingest_bulk, args[0])
        return
    files = Path(args[0]).read_text().split("\n")
    fn = {"duckdb": _duckdb_copy, "duckdb-typed": _duckdb_typed, "pandas": _pandas}[kind]
    timed(fn, files, args[1])


def main(work: Path, scale: float = 1.0, days: int = lakes.FULL_DAYS, *,
         results_dir: Path) -> dict:
    files = lakes.bulk_delivery(work, scale, days)
    listing = work / "files.txt"
    listing.write_text("\n".join(map(str, files)))
    out = work / "out"
    out.mkdir(exist_ok=True)
    mod = "benchmarks.ingest_bench"
    # lakeops runs last: it archives the delivery it ingests (the next run restores it)
    results = [
        measure("duckdb COPY (floor)", mod, "duckdb", str(listing), str(out / "duckdb.parquet")),
        measure("pandas read_csv/to_parquet", mod, "pandas", str(listing),
                str(out / "pandas.parquet")),
        measure("duckdb COPY, types given", mod, "duckdb-typed", str(listing),
                str(out / "duckdb-typed.parquet")),
        measure("lakeops ingest", mod, "lakeops", str(work)),
    ]
    rows = {r.rows for r in results}
    assert len(rows) == 1, f"contenders disagree on the row count: {rows}"
    floor, pandas_, typed, ours = results
    return report(
        f"ingest studentVle {results[0].rows:,} rows", results, floor.name,
        {
            "lakeops / floor time (target <= 1.5)": f"{ours.seconds / floor.seconds:.2f}",
            "pandas / lakeops time (target >= 5)": f"{pandas_.seconds / ours.seconds:.2f}",
            "lakeops / typed DuckDB COPY time": f"{ours.seconds / typed.seconds:.2f}",
        },
        results_dir,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    child(*sys.argv[1:])
