"""The lake as Dremio would show it: tables named ``lakehouse.<zone>[.<source>].<table>``.

A folder of the lake is a table when it holds Parquet data: either ``dt=`` partition
folders (``curated/education/studentVle/dt=2024-10-01/part-0.parquet``; the ``dt`` key
becomes a column) or Parquet files directly (``marts/business_kpis_daily/*.parquet``).
Snapshot tables (a contract whose delivery is a full ``snapshot`` each day) show only their
newest partition, as a user of the source system would expect; every other table shows all
its partitions. Names, types and metadata rows follow Dremio's conventions, so Dremio
clients (``sqlalchemy-dremio``, Superset) read the embedded endpoint as they read Dremio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakeops.catalog.contracts import TABLES, get_contract
from lakeops.core import sqltext
from lakeops.storage.lake import Lake

SPACE = "lakehouse"
# zones users query; landing/ holds raw deliveries and _tmp/ half-written files
ZONES = ("curated", "features", "marts", "predictions", "monitoring", "quarantine", "raw")


@dataclass(frozen=True)
class Table:
    path: tuple[str, ...]  # ("lakehouse", "curated", "education", "studentVle")
    source: str  # DuckDB table expression over the lake's files

    @property
    def schema(self) -> str:
        return ".".join(self.path[:-1])

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def view(self) -> str:
        """The DuckDB view that stands for this table (a quoted identifier)."""
        return sqltext.ident(".".join(self.path))


def _snapshot_datasets() -> set[str]:
    out = set()
    for source, tables in TABLES.items():
        for table in tables:
            if get_contract(source, table).delivery.kind == "snapshot":
                out.add(f"{source}/{table}")
    return out



def scan(lake: Lake) -> dict[tuple[str, ...], Table]:
    """Every table of the lake (a local folder or S3), keyed by its lower-cased name path.

    One recursive listing per zone. A folder is a table when it holds ``dt=`` partition
    folders with Parquet files or Parquet files of its own; folders below a table, and
    folders named ``_...`` or ``.`` (half-written or hidden files), are not looked into."""
    snapshots = _snapshot_datasets()
    partitions: dict[tuple[str, ...], set[str]] = {}
    plain: set[tuple[str, ...]] = set()
    for zone in ZONES:
        for info in lake.ls(zone, recursive=True):
            *folders, name = info.path.split("/")
            if not name.endswith(".parquet") or any(
                    f.startswith(("_", ".")) for f in folders[1:]):
                continue
            keys = [i for i, f in enumerate(folders) if f.startswith("dt=")]
            if not keys:
                plain.add(tuple(folders))
            elif keys == [len(folders) - 1]:  # files directly in the partition folder
                partitions.setdefault(tuple(folders[:-1]), set()).add(folders[-1])

    datasets = set(partitions) | plain
    found: dict[tuple[str, ...], Table] = {}
    for rel in sorted(datasets):
        if any(rel[:i] in datasets for i in range(1, len(rel))):
            continue  # inside another table
        where = lake.uri("/".join(rel))
        if rel in partitions:
            if rel[0] in ("curated", "raw") and "/".join(rel[1:]) in snapshots:
                pattern = f"{where}/{max(partitions[rel])}/*.parquet"
            else:
                pattern = f"{where}/dt=*/*.parquet"
        else:
            pattern = f"{where}/*.parquet"
        path = (SPACE, *rel)
        found[tuple(p.lower() for p in path)] = Table(
            path, f"read_parquet({sqltext.literal(pattern)}, hive_partitioning=true, "
                  "union_by_name=true)")
    return found


# -- Dremio's type names --------------------------------------------------------------

_DREMIO_TYPES = {
    "BOOLEAN": "BOOLEAN", "TINYINT": "INTEGER", "SMALLINT": "INTEGER", "INTEGER": "INTEGER",
    "UTINYINT": "INTEGER", "USMALLINT": "INTEGER", "BIGINT": "BIGINT", "UINTEGER": "BIGINT",
    "UBIGINT": "BIGINT", "HUGEINT": "DECIMAL", "FLOAT": "FLOAT", "DOUBLE": "DOUBLE",
    "VARCHAR": "CHARACTER VARYING", "BLOB": "VARBINARY", "DATE": "DATE", "TIME": "TIME",
    "INTERVAL": "INTERVAL",
}


def dremio_type(duckdb_type: str) -> tuple[str, int | None, int | None]:
    """(Dremio type name, numeric precision, numeric scale) of a DuckDB column type."""
    t = duckdb_type.upper()
    if t.startswith("DECIMAL"):
        m = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", t)
        return ("DECIMAL", int(m[1]), int(m[2])) if m else ("DECIMAL", 38, 0)
    if t.startswith("TIMESTAMP"):
        return "TIMESTAMP", None, None
    precision = {"INTEGER": 32, "BIGINT": 64, "FLOAT": 24, "DOUBLE": 53}
    name = _DREMIO_TYPES.get(t)
    if name is None:
        return "ANY", None, None  # lists, structs, maps: what sqlalchemy-dremio reads as text
    return name, precision.get(name), 0 if name in ("INTEGER", "BIGINT") else None
