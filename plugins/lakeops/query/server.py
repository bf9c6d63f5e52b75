"""The embedded lakehouse SQL endpoint: Arrow Flight speaking Dremio's dialect, DuckDB
reading the lake (a local folder, or S3/MinIO through httpfs from the installed wheel).

Clients use it exactly as Dremio's own Python examples use Dremio (port 32010):

1. ``client.authenticate_basic_token(user, password)`` — a ``Handshake`` with HTTP basic
   credentials; the answer carries ``authorization: Bearer <token>``, which every later
   call sends (a Dremio personal access token may be sent as the bearer directly);
2. ``client.get_flight_info(FlightDescriptor.for_command(sql), options)`` — the statement
   is checked and planned, the answer holds its Arrow schema and a ticket;
3. ``client.do_get(ticket, options)`` — the result, streamed as record batches straight
   from DuckDB's executor (never materialized whole).

The endpoint is read-only: only queries run (see :mod:`lakeops.query.dialect`). Each user
reads the zones its role is granted (:mod:`lakeops.query.grants`); no statement reads a
file by path, and DuckDB itself is locked down — file access only to the served zones'
folders (never landing), no extension installs, no ``ATTACH``, configuration locked.
Tokens expire after ``LAKEOPS_FLIGHT_TOKEN_TTL_S``.

Limits (settings ``sql_*``): queries run on a pool of ``sql_max_concurrent`` slots, each
its own DuckDB database with the per-query memory limit (DuckDB limits memory per
database, so a pool of databases is what makes the limit hold per query; the slots plus
the catalog's database stay within ``sql_memory_mb``); a query waits up to
``sql_queue_timeout_s`` for a slot; a watchdog interrupts a query past
``sql_query_timeout_s`` or whose client went away (DuckDB has no statement timeout, and
gRPC only marks the call cancelled). Concurrent clients run in parallel up to the cap.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import json
import logging
import os
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.flight as fl

from lakeops.core import sqltext
from lakeops.core.settings import Settings, get_settings
from lakeops.query import catalog, grants
from lakeops.query.dialect import Dialect, SQLRefused, Statement, check_references
from lakeops.query.grants import Grant
from lakeops.storage import duckdb_s3
from lakeops.storage.lake import Lake

log = logging.getLogger("lakeops.query.server")

# rows per streamed record batch: small enough that DuckDB, the gRPC writer and the client
# overlap (measured on 2 cores: 32k rows beat 128k by ~20% on a 10M-row result)
BATCH_ROWS = 1 << 15
TICKET_TTL_S = 600
REFRESH_S = 2.0  # the lake is re-listed at most this often; new partitions show at once
INFO_VIEWS = {"tables": '"INFORMATION_SCHEMA.TABLES"', "columns": '"INFORMATION_SCHEMA.COLUMNS"',
              "schemata": '"INFORMATION_SCHEMA.SCHEMATA"'}


def flight_password(settings: Settings) -> str:
    """The password of ``LAKEOPS_FLIGHT_USER`` (the platform's clients connect as it)."""
    return grants.password(settings, settings.flight_user)


# -- results in the types Dremio clients read ---------------------------------------------


def _client_type(t: pa.DataType) -> pa.DataType:
    """Dremio sends 32/64-bit integers, floats, decimals, dates and timestamps; DuckDB can
    produce more (tiny/unsigned ints, enums...). Timestamps go out in nanoseconds:
    ``sqlalchemy-dremio`` maps result columns by their pandas dtype and knows only ns."""
    if pa.types.is_timestamp(t):
        return pa.timestamp("ns", t.tz)
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t) \
            or pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t) or pa.types.is_uint64(t):
        return pa.int64()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_dictionary(t):
        return _client_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    return t


def client_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(_client_type(f.type)) for f in schema])


# -- the engine ---------------------------------------------------------------------------


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


@dataclass
class Running:
    """A query holding a slot, watched by :class:`Watchdog`."""

    cursor: duckdb.DuckDBPyConnection
    deadline: float
    context: Any = None  # the Flight call; ``is_cancelled()`` once the client went away
    stopped: str | None = None  # why the watchdog interrupted it


class Watchdog(threading.Thread):
    """Interrupts a query past its time limit or whose client went away (DuckDB has no
    statement timeout; ``interrupt()`` stops the running query of one connection)."""

    def __init__(self, every_s: float = 0.1) -> None:
        super().__init__(name="sql-watchdog", daemon=True)
        self.every_s = every_s
        self._queries: dict[int, Running] = {}
        self._lock = threading.Lock()

    def watch(self, query: Running) -> None:
        with self._lock:
            self._queries[id(query)] = query

    def forget(self, query: Running) -> None:
        with self._lock:
            self._queries.pop(id(query), None)

    def run(self) -> None:
        while True:
            time.sleep(self.every_s)
            now = time.monotonic()
            with self._lock:
                queries = list(self._queries.values())
            for q in queries:
                if q.stopped:
                    continue
                if now > q.deadline:
                    q.stopped = "time"
                elif q.context is not None and q.context.is_cancelled():
                    q.stopped = "client"
                if q.stopped:
                    q.cursor.interrupt()


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


# -- authentication -----------------------------------------------------------------------


class Tokens:
    def __init__(self, ttl_s: int) -> None:
        self.ttl_s = ttl_s
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, user: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (user, now + self.ttl_s)
        return token

    def user(self, token: str) -> str | None:
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]


class _Auth(fl.ServerMiddleware):  # type: ignore[misc]
    """The caller: its user, the token to hand back (handshake) and Dremio's ``schema``
    header (the default schema for unqualified table names)."""

    def __init__(self, user: str, token: str | None = None, schema: str | None = None) -> None:
        self.user = user
        self.token = token
        self.schema = schema

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}


class AuthFactory(fl.ServerMiddlewareFactory):  # type: ignore[misc]
    """HTTP basic credentials on the handshake, bearer tokens on every other call."""

    def __init__(self, users: dict[str, str], tokens: Tokens,
                 access_tokens: dict[str, str]) -> None:
        self.users = users
        self.tokens = tokens
        self.access_tokens = access_tokens  # personal access token -> user

    def _check_password(self, user: str, password: str) -> bool:
        expected = self.users.get(user)
        ok = expected is not None and hmac.compare_digest(expected, password)
        # Dremio also takes a personal access token in place of the password
        pat_user = self._pat(password)
        return ok or pat_user == user

    def _pat(self, token: str) -> str | None:
        for pat, user in self.access_tokens.items():
            if hmac.compare_digest(pat, token):
                return user
        return None

    def start_call(self, info: Any, headers: dict[str, list[str]]) -> _Auth:
        values = headers.get("authorization") or headers.get("Authorization") or []
        value = values[0] if values else ""
        schemas = headers.get("schema") or []
        schema = schemas[0] if schemas else None
        scheme, _, cred = value.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(cred).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise fl.FlightUnauthenticatedError("malformed basic credentials") from None
            if not self._check_password(user, password):
                raise fl.FlightUnauthenticatedError(f"invalid user or password for '{user}'")
            return _Auth(user, self.tokens.issue(user), schema)
        if scheme.lower() == "bearer":
            bearer_user = self.tokens.user(cred) or self._pat(cred)
            if bearer_user is None:
                raise fl.FlightUnauthenticatedError(
                    "token expired or unknown: authenticate again")
            return _Auth(bearer_user, schema=schema)
        raise fl.FlightUnauthenticatedError(
            "authentication required: basic credentials on the handshake, then the bearer "
            "token it returns (anonymous queries are not allowed)")


# -- the Flight service -------------------------------------------------------------------


class _HandshakeOnly(fl.ServerAuthHandler):  # type: ignore[misc]
    """Lets the ``Handshake`` call through to :class:`AuthFactory`, which does the work
    (pyarrow answers "unimplemented" to a handshake on a server without a handler)."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""


class LakehouseFlightServer(fl.FlightServerBase):  # type: ignore[misc]
    def __init__(self, location: str, engine: LakeSQL, auth: AuthFactory,
                 tls_certificates: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(location, auth_handler=_HandshakeOnly(), middleware={"auth": auth},
                         tls_certificates=tls_certificates or [])
        self.engine = engine
        self._tickets: dict[bytes, tuple[str, Statement, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _user(context: Any) -> str:
        auth = context.get_middleware("auth")
        if auth is None:  # pragma: no cover - the factory rejects unauthenticated calls
            raise fl.FlightUnauthenticatedError("authentication required")
        return str(auth.user)

    def _plan(self, context: Any, descriptor: fl.FlightDescriptor) -> Statement:
        if descriptor.descriptor_type != fl.DescriptorType.CMD:
            raise fl.FlightServerError("send the SQL text as a command descriptor "
                                       "(FlightDescriptor.for_command(sql))")
        sql = descriptor.command.decode()
        try:
            return self.engine.plan(sql, self._schema_header(context),
                                    self.engine.grants[self._user(context)])
        except SQLRefused as exc:
            raise fl.FlightServerError(str(exc)) from None

    @staticmethod
    def _schema_header(context: Any) -> str | None:
        auth = context.get_middleware("auth")
        return auth.schema if auth is not None else None

    def get_flight_info(self, context: Any, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        user = self._user(context)
        statement = self._plan(context, descriptor)
        try:
            schema = self.engine.schema(statement)
        except (SQLRefused, duckdb.Error) as exc:
            raise fl.FlightServerError(str(exc)) from None
        ticket = secrets.token_bytes(16)
        with self._lock:
            now = time.monotonic()
            self._tickets = {k: v for k, v in self._tickets.items() if v[2] > now}
            self._tickets[ticket] = (user, statement, now + TICKET_TTL_S)
        log.info("%s planned %s", user, descriptor.command.decode()[:200])
        return fl.FlightInfo(schema, descriptor, [fl.FlightEndpoint(ticket, [])], -1, -1)

    def get_schema(self, context: Any, descriptor: fl.FlightDescriptor) -> fl.SchemaResult:
        self._user(context)
        statement = self._plan(context, descriptor)
        try:
            return fl.SchemaResult(self.engine.schema(statement))
        except (SQLRefused, duckdb.Error) as exc:
            raise fl.FlightServerError(str(exc)) from None

    def do_get(self, context: Any, ticket: fl.Ticket) -> fl.RecordBatchStream:
        user = self._user(context)
        with self._lock:
            entry = self._tickets.get(ticket.ticket)
        if entry is None or entry[2] <= time.monotonic() or entry[0] != user:
            raise fl.FlightServerError("unknown or expired ticket: call get_flight_info again")
        try:
            return fl.RecordBatchStream(self.engine.reader(entry[1], context))
        except (SQLRefused, duckdb.Error) as exc:
            raise fl.FlightServerError(str(exc)) from None

    def do_put(self, context: Any, descriptor: Any, reader: Any, writer: Any) -> None:
        raise fl.FlightServerError("this endpoint is read-only")

    def list_actions(self, context: Any) -> list[tuple[str, str]]:
        return []


def build_server(settings: Settings, port: int | None = None) -> LakehouseFlightServer:
    if not settings.lake_is_s3:
        Path(settings.lake).mkdir(parents=True, exist_ok=True)
    host = settings.flight_host or settings.host
    scheme = "grpc+tls" if settings.flight_tls else "grpc+tcp"
    certs = None
    if settings.flight_tls:
        if not (settings.flight_tls_cert and settings.flight_tls_key):
            raise SystemExit("LAKEOPS_FLIGHT_TLS needs LAKEOPS_FLIGHT_TLS_CERT and "
                             "LAKEOPS_FLIGHT_TLS_KEY")
        certs = [(settings.flight_tls_cert.read_bytes(), settings.flight_tls_key.read_bytes())]
    tokens = Tokens(settings.flight_token_ttl_s)
    pats = {settings.flight_token.get_secret_value(): settings.flight_user} \
        if settings.flight_token else {}
    engine = LakeSQL(settings)
    auth = AuthFactory({user: grants.password(settings, user) for user in engine.grants},
                       tokens, pats)
    return LakehouseFlightServer(f"{scheme}://{host}:{port or settings.flight_port}",
                                 engine, auth, certs)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lakeops.query.server")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    server = build_server(settings, args.port)
    log.info("lakehouse SQL endpoint on port %s, lake %s", server.port, settings.lake)
    server.serve()


if __name__ == "__main__":
    main()
