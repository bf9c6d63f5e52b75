"""The DuckDB workspace a table's audit runs in, and the order tables are audited in.

A table's rules read its raw partition of the interval and, for foreign keys and
cross-table rules, its parents: their curated history plus the interval's rows
(:func:`workspace`). A foreign-key parent is read as published for the interval, so a
child is audited after its parents are published (:func:`publish_order`) and a row whose
parent was quarantined today is quarantined too. Every DuckDB connection of the audit and
the publication is opened with the task's :func:`memory_limit` and spills to disk past it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lakeops.catalog.contracts import TABLES, Contract, get_contract
from lakeops.core import sqltext
from lakeops.core.lazy import lazy
from lakeops.core.settings import Settings, get_settings
from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path

if TYPE_CHECKING:
    import duckdb
else:  # imported when a task runs, not when a DAG file is parsed
    duckdb = lazy("duckdb")


class ValidationFailed(Exception):
    """A critical expectation failed for the whole interval, or the interval is not ready
    to be audited or published: nothing is published."""


def memory_limit(settings: Settings | None) -> str:
    """DuckDB's memory limit for a validation task (past it, DuckDB spills to disk)."""
    return f"{(settings or get_settings()).task_memory_mb}MB"


def parent_tables(contract: Contract) -> set[str]:
    """Tables a table's rules read besides itself (foreign keys and cross-table rules)."""
    extra = {"studentAssessment": {"assessments", "courses"}, "orders": {"order_items"},
             "payments": {"orders"}}
    return fk_parents(contract) | extra.get(contract.table, set())


def fk_parents(contract: Contract) -> set[str]:
    """Tables a table's foreign keys point at. A child is audited after these are
    published, so a row whose parent was quarantined today is quarantined too."""
    return {fk.references for fk in contract.foreign_keys}


def publish_order(source: str) -> list[str]:
    """The tables of a source, every foreign-key parent before its children."""
    order: list[str] = []

    def visit(table: str) -> None:
        if table not in order:
            for parent in sorted(fk_parents(get_contract(source, table))):
                visit(parent)
            order.append(table)

    for table in TABLES[source]:
        visit(table)
    return order


def partition_files(lake: Lake, zone: str, dataset: str, upto: str) -> list[str]:
    """Data files of the partitions strictly before ``upto``."""
    out = []
    for key in lake.partitions(zone, dataset):
        path = table_path(zone, dataset, partition_dir(key), DATA_FILE)
        if key < upto and lake.exists(path):
            out.append(path)
    return out


def _parent_files(lake: Lake, contract: Contract, parent: str, interval: str) -> list[str]:
    """A parent as the rules see it: its curated history, plus the interval's rows. For a
    foreign-key parent already published for the interval those are its curated rows
    (what it delivered minus what it quarantined); otherwise its raw delivery (a parent
    may arrive the same day, and a cross-table rule reads it before it is audited). The
    ingest DAG and :func:`lakeops.validate.publish.validate_interval` publish a parent
    before auditing its children, so a re-run of an interval sees the parent as that run
    published it."""
    ds = f"{contract.source}/{parent}"
    files = partition_files(lake, "curated", ds, interval)
    published = table_path("curated", ds, partition_dir(interval), DATA_FILE)
    raw = table_path("raw", ds, partition_dir(interval), DATA_FILE)
    if parent in fk_parents(contract) and lake.exists(published):
        files.append(published)
    elif lake.exists(raw):
        files.append(raw)
    return files


@contextlib.contextmanager
def workspace(lake: Lake, contract: Contract, interval: str,
              settings: Settings | None = None) -> Iterator[Path]:
    """A DuckDB file with ``batch`` (the raw partition), ``batch_rows`` (with ``_row``) and a
    ``ref_<parent>`` view per parent (see :func:`_parent_files`). Every connection to it is
    opened with :func:`memory_limit` and spills beside it."""
    with tempfile.TemporaryDirectory(prefix="lakeops-validate-") as tmp, \
            contextlib.ExitStack() as stack:
        local = lambda p: str(stack.enter_context(lake.local_copy(p)))  # noqa: E731
        raw = table_path("raw", contract.dataset, partition_dir(interval), DATA_FILE)
        if not lake.exists(raw):
            raise ValidationFailed(f"{contract.name}: no raw partition for {interval} "
                                   f"({lake.uri(raw)}); run the ingest task first")
        db = Path(tmp) / "validate.duckdb"
        con = duckdb.connect(str(db), config={"memory_limit": memory_limit(settings)})
        src = sqltext.literal(local(raw))
        con.execute(f"CREATE VIEW batch_rows AS SELECT * RENAME (file_row_number AS _row) "
                    f"FROM read_parquet({src}, file_row_number=true, "
                    f"hive_partitioning=false)")
        con.execute("CREATE VIEW batch AS SELECT * EXCLUDE (_row) FROM batch_rows")
        for parent in parent_tables(contract):
            files = [local(p) for p in _parent_files(lake, contract, parent, interval)]
            listing = ", ".join(sqltext.literal(f) for f in files)
            con.execute(
                f"CREATE VIEW ref_{parent} AS SELECT * FROM read_parquet([{listing}], "
                f"union_by_name=true, hive_partitioning=false)" if files else
                f"CREATE VIEW ref_{parent} AS SELECT * FROM batch WHERE false"
            )
        con.close()
        yield db
