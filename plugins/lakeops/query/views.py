"""The lake's tables as the endpoint shows them: one DuckDB view per table, their columns,
and Dremio's INFORMATION_SCHEMA per role.

:class:`Catalog` re-lists the lake (:func:`lakeops.query.catalog.scan`) at most every
:data:`REFRESH_S`, so a partition written a moment ago shows at once without a listing per
query. Views are bound on the catalog's own (memory-limited) DuckDB database to learn
their columns; the engine's query slots copy the view definitions and the
INFORMATION_SCHEMA tables from here when its version moves. Each role gets its own
INFORMATION_SCHEMA tables, listing only the tables it may read; the
:class:`~lakeops.query.dialect.Dialect` kept here maps names onto all of them.
"""

from __future__ import annotations

import logging
import threading
import time

import duckdb
import pyarrow as pa

from lakeops.query import catalog
from lakeops.query.dialect import Dialect
from lakeops.query.grants import Grant
from lakeops.storage.lake import Lake

log = logging.getLogger(__name__)

REFRESH_S = 2.0  # the lake is re-listed at most this often; new partitions show at once
INFO_VIEWS = {"tables": '"INFORMATION_SCHEMA.TABLES"', "columns": '"INFORMATION_SCHEMA.COLUMNS"',
              "schemata": '"INFORMATION_SCHEMA.SCHEMATA"'}


class Catalog:
    """The lake's tables as the endpoint shows them, re-listed at most every
    :data:`REFRESH_S`. Views are bound here once, on the catalog's own (memory-limited)
    connection, to learn their columns; the query slots copy the view definitions."""

    def __init__(self, lake: Lake, db: duckdb.DuckDBPyConnection, roles: dict[str, Grant]):
        self.lake = lake
        self.db = db
        self.roles = roles  # one grant per role
        self.lock = threading.Lock()
        self.version = 0
        self._signature: frozenset[tuple[tuple[str, ...], str]] = frozenset()
        self._refreshed = 0.0
        self.tables: dict[tuple[str, ...], catalog.Table] = {}
        self.columns: dict[str, list[tuple[str, str]]] = {}  # view -> (name, DuckDB type)
        self.info: dict[str, dict[str, pa.Table]] = {}  # info view -> table, per role
        self.dialect = self._dialect()
        self._info()
        self.refresh(force=True)

    def _dialect(self) -> Dialect:
        return Dialect({k: t.view for k, t in self.tables.items()}, INFO_VIEWS,
                       {role: info_views(role) for role in self.roles})

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._refreshed < REFRESH_S:
            return
        with self.lock:
            if not force and now - self._refreshed < REFRESH_S:
                return
            found = catalog.scan(self.lake)
            signature = frozenset((k, t.source) for k, t in found.items())
            if signature != self._signature:
                cur = self.db.cursor()
                for key in set(self.tables) - set(found):
                    cur.execute(f"DROP VIEW IF EXISTS {self.tables[key].view}")
                kept, columns = {}, {}
                for key, table in found.items():
                    try:
                        cur.execute(f"CREATE OR REPLACE VIEW {table.view} AS "
                                    f"SELECT * FROM {table.source}")
                        columns[table.view] = [(r[0], r[1]) for r in cur.execute(
                            f"DESCRIBE {table.view}").fetchall()]
                        kept[key] = table
                    except duckdb.Error as exc:  # e.g. a partition removed meanwhile
                        log.warning("table %s skipped: %s", ".".join(table.path), exc)
                self.tables, self.columns = kept, columns
                self.dialect = self._dialect()
                self._info()
                self._signature = signature
                self.version += 1
            self._refreshed = time.monotonic()

    def _info(self) -> None:
        """Dremio's INFORMATION_SCHEMA, per role: only the tables the role may read."""
        self.info = {}
        for role, grant in [("", None), *self.roles.items()]:
            tables = [t for t in self.tables.values()
                      if grant is None or grant.allows(t.path[1])]
            views = info_views(role) if grant else INFO_VIEWS
            for key, frame in _info_tables(tables, self.columns).items():
                self.info[views[key]] = frame

    def schemas(self, grant: Grant | None) -> list[str]:
        return sorted({t.schema for t in self.tables.values()
                       if grant is None or grant.allows(t.path[1])})


def info_views(role: str) -> dict[str, str]:
    """The INFORMATION_SCHEMA tables of one role (DuckDB names)."""
    return {k: f'"{v.strip(chr(34))}:{role}"' for k, v in INFO_VIEWS.items()}


def _info_tables(tables: list[catalog.Table],
                 columns: dict[str, list[tuple[str, str]]]) -> dict[str, pa.Table]:
    rows_t, rows_c = [], []
    for t in tables:
        rows_t.append(("DREMIO", t.schema, t.name, "TABLE"))
        for pos, (col, typ) in enumerate(columns.get(t.view, []), start=1):
            name, precision, scale = catalog.dremio_type(typ)
            rows_c.append(("DREMIO", t.schema, t.name, col, pos, "YES", name, precision, scale))
    schemas = sorted({t.schema for t in tables})
    text = pa.string()
    tables_t = pa.table({k: pa.array([r[i] for r in rows_t], text) for i, k in enumerate(
        ("TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "TABLE_TYPE"))})
    kinds = [("TABLE_CATALOG", text), ("TABLE_SCHEMA", text), ("TABLE_NAME", text),
             ("COLUMN_NAME", text), ("ORDINAL_POSITION", pa.int32()), ("IS_NULLABLE", text),
             ("DATA_TYPE", text), ("NUMERIC_PRECISION", pa.int32()),
             ("NUMERIC_SCALE", pa.int32())]
    columns_t = pa.table({k: pa.array([r[i] for r in rows_c], t)
                          for i, (k, t) in enumerate(kinds)})
    schemata_t = pa.table({
        "CATALOG_NAME": pa.array(["DREMIO"] * len(schemas), text),
        "SCHEMA_NAME": pa.array(schemas, text),
        "SCHEMA_OWNER": pa.array(["<owner>"] * len(schemas), text),
        "TYPE": pa.array(["SIMPLE"] * len(schemas), text),
        "IS_MUTABLE": pa.array(["NO"] * len(schemas), text),
    })
    return {"tables": tables_t, "columns": columns_t, "schemata": schemata_t}
