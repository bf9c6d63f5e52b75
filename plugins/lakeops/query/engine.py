"""The endpoint's engine: DuckDB over the lake, one statement at a time per slot.

:class:`LakeSQL` plans a statement (translate it for the caller's grant, then check
DuckDB's own parse tree of the result, see :mod:`lakeops.query.guard`) and streams its
result from DuckDB's executor in record batches, never materialized whole, in the types
Dremio clients read (:mod:`lakeops.query.arrow_types`).

Every DuckDB database it opens is locked down: file access only to the served zones'
folders (never landing), no extension installs, no ``ATTACH``, configuration locked —
the second wall behind the statement check.

Limits (settings ``sql_*``): queries run on a pool of ``sql_max_concurrent`` slots, each
its own DuckDB database with the per-query memory limit (DuckDB limits memory per
database, so a pool of databases is what makes the limit hold per query; the slots plus
the catalog's database stay within ``sql_memory_mb``); a query waits up to
``sql_queue_timeout_s`` for a slot; the watchdog (:mod:`lakeops.query.watchdog`)
interrupts a query past ``sql_query_timeout_s`` or whose client went away. Concurrent
clients run in parallel up to the cap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from lakeops.core import sqltext
from lakeops.core.settings import Settings
from lakeops.query import catalog, grants
from lakeops.query.arrow_types import client_schema
from lakeops.query.dialect import Statement
from lakeops.query.errors import SQLRefused
from lakeops.query.grants import Grant
from lakeops.query.guard import check_references
from lakeops.query.views import Catalog
from lakeops.query.watchdog import Running, Watchdog
from lakeops.storage import duckdb_s3
from lakeops.storage.lake import Lake

log = logging.getLogger(__name__)

# rows per streamed record batch: small enough that DuckDB, the gRPC writer and the client
# overlap
BATCH_ROWS = 1 << 15


class QueryLimit(SQLRefused):
    """A query stopped by one of the endpoint's limits; the message names the limit."""


@dataclass
class Slot:
    """One query at a time runs on a slot: its own DuckDB database whose memory limit is
    the per-query limit (DuckDB limits memory per database, not per query)."""

    index: int
    db: duckdb.DuckDBPyConnection
    version: int = -1
    views: dict[str, str] = field(default_factory=dict)  # view -> its SELECT


class LakeSQL:
    """DuckDB over the lake: one view per lake table, queries on a pool of memory-limited
    slots, each query watched for its time limit and its client."""

    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        self.settings = settings
        self.lake = lake = Lake.from_settings(settings)
        self.grants = grants.from_settings(settings)
        self.memory_mb = settings.sql_query_memory
        self.timeout_s = settings.sql_query_timeout_s
        self.queue_timeout_s = settings.sql_queue_timeout_s
        threads = threads or settings.sql_threads or os.cpu_count() or 1
        self._spill = settings.run_dir / "sql-spill" / str(os.getpid())
        roles = {g.role: g for g in self.grants.values()}
        self.catalog = Catalog(lake, self._database(threads=1, spill="catalog"), roles)
        self._slots: queue.Queue[Slot] = queue.Queue()
        for i in range(settings.sql_max_concurrent):
            self._slots.put(Slot(i, self._database(threads, spill=f"slot-{i}")))
        self.watchdog = Watchdog()
        self.watchdog.start()

    def _database(self, threads: int, spill: str) -> duckdb.DuckDBPyConnection:
        """A locked-down DuckDB database: the per-query memory limit, spilling into the
        state folder, no file access outside the zones the endpoint serves (never
        landing), no extension installs, no ``ATTACH``, configuration locked."""
        temp = self._spill / spill
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True, exist_ok=True)
        db = duckdb.connect(config={"threads": threads, "memory_limit": f"{self.memory_mb}MiB",
                                    "temp_directory": str(temp)})
        if not self.lake.is_local:
            duckdb_s3.attach_lake(db, self.settings)
        zones = [sqltext.literal(self.lake.uri(zone).rstrip("/") + "/")
                 for zone in grants.SERVABLE]
        db.execute(f"SET allowed_directories = [{', '.join(zones)}]")
        db.execute("SET enable_external_access = false")
        db.execute("SET autoinstall_known_extensions = false")
        db.execute("SET autoload_known_extensions = false")
        db.execute("SET lock_configuration = true")
        return db

    # -- statements ---------------------------------------------------------------------
    def plan(self, sql: str, default_schema: str | None = None,
             grant: Grant | None = None) -> Statement:
        """Translate and check a statement for ``grant`` (None: the platform itself)."""
        self.catalog.refresh()
        dialect = self.catalog.dialect
        statement = dialect.translate(sql, default_schema, grant)
        if statement.sql is not None:
            cur = self.catalog.db.cursor()
            tree = cur.execute("SELECT json_serialize_sql(?)", [statement.sql]).fetchone()
            check_references(json.loads(tree[0]) if tree else {}, dialect, grant)
        statement.grant = grant
        return statement

    def _metadata(self, statement: Statement) -> pa.RecordBatchReader | None:
        if statement.show_schemas:
            names = self.catalog.schemas(statement.grant)
            table = pa.table({"SCHEMA_NAME": pa.array(names, pa.string())})
        elif statement.describe is not None:
            rows = [(col, *catalog.dremio_type(typ))
                    for col, typ in self.catalog.columns.get(statement.describe, [])]
            table = pa.table({
                "COLUMN_NAME": pa.array([r[0] for r in rows], pa.string()),
                "DATA_TYPE": pa.array([r[1] for r in rows], pa.string()),
                "IS_NULLABLE": pa.array(["YES"] * len(rows), pa.string()),
                "NUMERIC_PRECISION": pa.array([r[2] for r in rows], pa.int32()),
                "NUMERIC_SCALE": pa.array([r[3] for r in rows], pa.int32()),
            })
        else:
            return None
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

    def _acquire(self) -> Slot:
        try:
            slot = self._slots.get(timeout=self.queue_timeout_s)
        except queue.Empty:
            raise QueryLimit(
                f"the endpoint is busy: {self.settings.sql_max_concurrent} queries are running "
                f"(LAKEOPS_SQL_MAX_CONCURRENT) and none finished within "
                f"{self.queue_timeout_s:g} s (LAKEOPS_SQL_QUEUE_TIMEOUT_S); try again") from None
        try:
            self._sync(slot)
        except BaseException:
            self._slots.put(slot)
            raise
        return slot

    @contextlib.contextmanager
    def slot(self) -> Iterator[Slot]:
        """A slot, its views up to date, held for the block as a query holds one (a
        caller that runs DuckDB on it directly bypasses the statement checks)."""
        slot = self._acquire()
        try:
            yield slot
        finally:
            self._slots.put(slot)

    def _sync(self, slot: Slot) -> None:
        """Bring a slot's views and INFORMATION_SCHEMA up to the catalog's version."""
        cat = self.catalog
        with cat.lock:
            if slot.version == cat.version:
                return
            version, tables, info = cat.version, dict(cat.tables), dict(cat.info)
        cur = slot.db.cursor()
        wanted = {t.view: f"SELECT * FROM {t.source}" for t in tables.values()}
        for view in set(slot.views) - set(wanted):
            cur.execute(f"DROP VIEW IF EXISTS {view}")
            del slot.views[view]
        for view, select in wanted.items():
            if slot.views.get(view) != select:
                try:
                    cur.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")
                    slot.views[view] = select
                except duckdb.Error as exc:
                    log.warning("view %s skipped on slot %d: %s", view, slot.index, exc)
        for name, frame in info.items():
            cur.register("_info_frame", frame)
            cur.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _info_frame")
            cur.unregister("_info_frame")
        slot.version = version

    def reader(self, statement: Statement, context: Any = None) -> pa.RecordBatchReader:
        """The statement's result, streamed from a slot that is held until the stream ends
        (or its client goes away); limits surface as :class:`QueryLimit`."""
        meta = self._metadata(statement)
        if meta is not None:
            return meta
        assert statement.sql is not None
        slot = self._acquire()
        query = Running(slot.db.cursor(), time.monotonic() + self.timeout_s, context)
        self.watchdog.watch(query)
        try:
            parsed = query.cursor.extract_statements(statement.sql)
            if len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT:
                kind = parsed[0].type.name if parsed else "empty"
                raise SQLRefused(f"this endpoint is read-only: {kind} statements are not "
                                 "allowed")
            source = query.cursor.execute(statement.sql).to_arrow_reader(BATCH_ROWS)
        except BaseException as exc:
            self._release(slot, query)
            raise self._explain(exc, query) from None
        target = client_schema(source.schema)

        def batches() -> Iterator[pa.RecordBatch]:
            sent = False
            try:
                for batch in source:
                    yield batch if batch.schema == target else batch.cast(target)
                    sent = True
                if not sent:  # an empty result is one empty batch, not none: clients
                    # that build a table from the batches alone (sqlalchemy-dremio, so
                    # Superset) fail on none ("Must pass schema, or at least one
                    # RecordBatch") - a filter that leaves no row would break a chart
                    yield pa.RecordBatch.from_pylist([], schema=target)
            except duckdb.Error as exc:
                raise self._explain(exc, query) from None
            finally:
                self._release(slot, query)

        return pa.RecordBatchReader.from_batches(target, batches())

    def _release(self, slot: Slot, query: Running) -> None:
        self.watchdog.forget(query)
        with contextlib.suppress(duckdb.Error):
            query.cursor.close()
        self._slots.put(slot)

    def _explain(self, exc: BaseException, query: Running) -> BaseException:
        if query.stopped == "time":
            return QueryLimit(f"query cancelled after {self.timeout_s:g} s: over the "
                              f"per-query time limit (LAKEOPS_SQL_QUERY_TIMEOUT_S)")
        if query.stopped == "client":
            return QueryLimit("query cancelled: its client went away")
        if isinstance(exc, duckdb.OutOfMemoryException):
            detail = str(exc).splitlines()[0]
            return QueryLimit(f"query needs more memory than the per-query limit of "
                              f"{self.memory_mb} MB (LAKEOPS_SQL_QUERY_MEMORY_MB): {detail}")
        if isinstance(exc, duckdb.Error):
            return SQLRefused(str(exc))
        return exc

    def schema(self, statement: Statement) -> pa.Schema:
        if statement.sql is None:
            return self.reader(statement).schema
        # LIMIT 0 is answered by the planner without reading the data
        probe = Statement(sql=f"SELECT * FROM ({statement.sql}) AS q LIMIT 0",
                          grant=statement.grant)
        reader = self.reader(probe)
        schema = reader.schema
        reader.read_all()  # ends the stream: the slot goes back to the pool
        return schema
