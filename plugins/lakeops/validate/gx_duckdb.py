"""Great Expectations on DuckDB: a buffered SQLAlchemy dialect.

GX's SQL engine runs each metric query in ``with engine.connect(): ...`` and reads the
rows *after* the connection went back to the pool. DuckDB's cursor result dies with that
connection, so every metric comes back empty (``list index out of range``). This dialect
is ``duckdb_engine``'s with results buffered as soon as a statement has run, which is what
GX assumes of a database client. It is registered as ``duckdb+buffered://`` through the
``sqlalchemy.dialects`` entry point of this package (and by :func:`register`).
"""

from __future__ import annotations

from typing import Any

from duckdb_engine import Dialect as _DuckDBDialect
from sqlalchemy.dialects import registry
from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy

_BaseContext: Any = _DuckDBDialect.execution_ctx_cls


class _BufferedContext(_BaseContext):  # type: ignore[misc]
    def post_exec(self) -> None:
        super().post_exec()
        cursor = self.cursor
        if cursor is not None and cursor.description:
            self.cursor_fetch_strategy = FullyBufferedCursorFetchStrategy(
                cursor, cursor.description, cursor.fetchall()
            )


class BufferedDuckDBDialect(_DuckDBDialect):  # type: ignore[misc]
    execution_ctx_cls = _BufferedContext
    supports_statement_cache = True


def register() -> None:
    registry.register("duckdb.buffered", "lakeops.validate.gx_duckdb", "BufferedDuckDBDialect")
