"""The education suite on the full-scale clickstream interval (10.5M rows).

Contenders, each in a fresh process, over the raw partition the ingest benchmark wrote:
* ``raw DuckDB scan`` - the floor: one aggregate scan of the Parquet file;
* ``key uniqueness alone`` - for scale: the one GROUP BY the primary-key check needs;
* ``lakeops validate`` - the real task: the studentVle GX suite (schema, nulls, ranges,
  key uniqueness, foreign keys to vle and studentRegistration) run by GX's SQL engine on
  DuckDB, plus the quarantine query, the results table and the data docs;
* ``GX on pandas`` - the usual way: the same suite's pandas-capable expectations (GX's
  UnexpectedRows/foreign-key checks are SQL-only, so the baseline does less work) on a
  pandas DataFrame of the same file.

Library imports (GX takes ~5 s) happen before each child starts its clock; the figures
are the work. Target (issue 3): lakeops within 3x the raw scan.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from benchmarks import lakes
from benchmarks.harness import measure, report, timed
from benchmarks.lakes import INTERVAL


def prepare(work: Path) -> None:
    """Parents of the bulk interval: every registration and one VLE snapshot, ingested."""
    from lakeops.core.settings import Settings
    from lakeops.ingest.stage import ingest_table

    settings = Settings(home=work)
    landing = Path(settings.landing_root) / "landing"  # beside the lake: <work>/landing
    for table, pattern in (("studentRegistration", "*/*.csv"), ("vle", "2024-10-01/*.csv")):
        target = landing / "education" / table / INTERVAL
        archived = landing / "_archive" / "education" / table / INTERVAL
        if not target.exists() and not archived.exists():
            target.mkdir(parents=True)
            for f in sorted((landing / "education" / table).glob(pattern)):
                if f.parent != target:
                    shutil.copy(f, target / f.name)
        ingest_table("education", table, INTERVAL, settings)


def _raw(work: str) -> int:
    import duckdb

    path = lakes.raw_partition(work)
    row = duckdb.sql(f"SELECT count(*), count(id_student), min(sum_click), max(sum_click), "
                     f"count(DISTINCT code_module) FROM '{path}'").fetchone()
    return int(row[0])  # type: ignore[index]


def _keys(work: str) -> int:
    """One check of the suite alone: the 5-column key's uniqueness as one GROUP BY."""
    import duckdb

    path = lakes.raw_partition(work)
    row = duckdb.sql(f"SELECT count(*), sum(n) FROM (SELECT count(*) AS n FROM '{path}' GROUP BY "
                     "code_module, code_presentation, id_student, id_site, date)").fetchone()
    return int(row[1])  # type: ignore[index]


def _lakeops(work: str) -> int:
    import pyarrow.parquet as pq

    from lakeops.core.settings import Settings
    from lakeops.validate.audit import validate_table

    validate_table("education", "studentVle", INTERVAL, Settings(home=Path(work)))
    path = lakes.raw_partition(work)
    return int(pq.ParquetFile(path).metadata.num_rows)


def _pandas(work: str) -> int:
    import great_expectations as gx
    import pandas as pd

    from lakeops.catalog.contracts import get_contract
    from lakeops.validate.rules import rules_for

    path = lakes.raw_partition(work)
    frame = pd.read_parquet(path)
    context = gx.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("pandas").add_dataframe_asset("clicks")
             .add_batch_definition_whole_dataframe("all"))
    suite = gx.ExpectationSuite(name="clicks")
    for rule in rules_for(get_contract("education", "studentVle"), INTERVAL):
        if rule.expectation != "UnexpectedRowsExpectation":
            suite.add_expectation(rule.gx())
    definition = gx.ValidationDefinition(name="v", data=batch, suite=context.suites.add(suite))
    definition.run(batch_parameters={"dataframe": frame})
    return len(frame)


def child(kind: str, work: str) -> None:
    import os

    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import duckdb  # noqa: F401  (imports are not the work measured)

    if kind != "raw":
        import great_expectations  # noqa: F401
        import pandas  # noqa: F401

        import lakeops.validate.audit  # noqa: F401
    timed({"raw": _raw, "keys": _keys, "lakeops": _lakeops, "pandas": _pandas}[kind], work)


def main(work: Path, *, results_dir: Path) -> dict:
    prepare(work)
    mod = "benchmarks.validate_bench"
    results = [
        measure("raw DuckDB scan (floor)", mod, "raw", str(work)),
        measure("key uniqueness alone", mod, "keys", str(work)),
        measure("lakeops validate (GX/DuckDB)", mod, "lakeops", str(work)),
        measure("GX on pandas (subset)", mod, "pandas", str(work)),
    ]
    floor, _, ours, pandas_ = results
    return report(
        f"validate studentVle {floor.rows:,} rows", results, floor.name,
        {"lakeops / raw scan time (target <= 3)": f"{ours.seconds / floor.seconds:.2f}",
         "GX-on-pandas / lakeops time": f"{pandas_.seconds / ours.seconds:.2f}"},
        results_dir,
    )


if __name__ == "__main__":
    child(*sys.argv[1:])
