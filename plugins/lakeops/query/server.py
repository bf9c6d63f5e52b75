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

The endpoint is read-only: only queries run (see :mod:`lakeops.query.dialect`), and DuckDB
itself is locked down once the lake's views exist — no file access outside the lake, no
extension installs, no ``ATTACH``, configuration locked. Tokens expire after
``LAKEOPS_FLIGHT_TOKEN_TTL_S``. Every request gets its own DuckDB cursor, so concurrent
clients run in parallel.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.flight as fl

from lakeops import duckdb_s3, sqltext
from lakeops.lake import Lake
from lakeops.query import catalog
from lakeops.query.dialect import Dialect, SQLRefused, Statement
from lakeops.settings import Settings, get_settings

log = logging.getLogger("lakeops.query.server")

# rows per streamed record batch: small enough that DuckDB, the gRPC writer and the client
# overlap (measured on 2 cores: 32k rows beat 128k by ~20% on a 10M-row result)
BATCH_ROWS = 1 << 15
TICKET_TTL_S = 600
REFRESH_S = 2.0  # the lake is re-listed at most this often; new partitions show at once
INFO_VIEWS = {"tables": '"INFORMATION_SCHEMA.TABLES"', "columns": '"INFORMATION_SCHEMA.COLUMNS"',
              "schemata": '"INFORMATION_SCHEMA.SCHEMATA"'}


def flight_password(settings: Settings) -> str:
    """The endpoint's password: ``LAKEOPS_FLIGHT_PASSWORD`` or the generated local secret."""
    if settings.flight_password is not None:
        return settings.flight_password.get_secret_value()
    from lakeops.secrets import get_secret

    return get_secret(settings, "flight-password")


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


def _stream(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    target = client_schema(reader.schema)
    if target == reader.schema:
        return reader

    def cast() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield batch.cast(target)

    return pa.RecordBatchReader.from_batches(target, cast())


# -- the engine ---------------------------------------------------------------------------


class LakeSQL:
    """DuckDB over the lake with one view per lake table, refreshed as the lake changes."""

    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        self.lake = lake = Lake.from_settings(settings)
        self.db = duckdb.connect(config={"threads": threads} if threads else {})
        self._lock = threading.Lock()
        self._signature: frozenset[tuple[tuple[str, ...], str]] = frozenset()
        self._refreshed = 0.0
        self.dialect = Dialect({}, INFO_VIEWS)
        self.tables: dict[tuple[str, ...], catalog.Table] = {}
        self._info(())
        if not lake.is_local:
            duckdb_s3.attach_lake(self.db, settings)
        root = lake.uri("").rstrip("/")
        self.db.execute(f"SET allowed_directories = [{sqltext.literal(root + '/')}]")
        self.db.execute("SET enable_external_access = false")
        self.db.execute("SET autoinstall_known_extensions = false")
        self.db.execute("SET autoload_known_extensions = false")
        self.db.execute("SET lock_configuration = true")
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._refreshed < REFRESH_S:
            return
        with self._lock:
            if not force and now - self._refreshed < REFRESH_S:
                return
            found = catalog.scan(self.lake)
            signature = frozenset((k, t.source) for k, t in found.items())
            if signature != self._signature:
                cur = self.db.cursor()
                for key in set(self.tables) - set(found):
                    cur.execute(f"DROP VIEW IF EXISTS {self.tables[key].view}")
                kept = {}
                for key, table in found.items():
                    try:
                        cur.execute(f"CREATE OR REPLACE VIEW {table.view} AS "
                                    f"SELECT * FROM {table.source}")
                        kept[key] = table
                    except duckdb.Error as exc:  # e.g. a partition removed meanwhile
                        log.warning("table %s skipped: %s", ".".join(table.path), exc)
                self.tables = kept
                self.dialect = Dialect({k: t.view for k, t in kept.items()}, INFO_VIEWS)
                self._info(tuple(kept.values()))
                self._signature = signature
            self._refreshed = time.monotonic()

    def _info(self, tables: tuple[catalog.Table, ...]) -> None:
        """Dremio's INFORMATION_SCHEMA for the current tables."""
        cur = self.db.cursor()
        rows_t, rows_c = [], []
        for t in tables:
            rows_t.append(("DREMIO", t.schema, t.name, "TABLE"))
            for pos, (col, typ) in enumerate(self._columns(cur, t.view), start=1):
                name, precision, scale = catalog.dremio_type(typ)
                rows_c.append(("DREMIO", t.schema, t.name, col, pos, "YES", name,
                               precision, scale))
        schemas = sorted({t.schema for t in tables})
        tables_t = pa.table({k: [r[i] for r in rows_t] for i, k in enumerate(
            ("TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "TABLE_TYPE"))},
            schema=pa.schema([(k, pa.string()) for k in (
                "TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "TABLE_TYPE")]))
        columns_t = pa.table({k: [r[i] for r in rows_c] for i, k in enumerate(
            ("TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME", "ORDINAL_POSITION",
             "IS_NULLABLE", "DATA_TYPE", "NUMERIC_PRECISION", "NUMERIC_SCALE"))},
            schema=pa.schema([("TABLE_CATALOG", pa.string()), ("TABLE_SCHEMA", pa.string()),
                              ("TABLE_NAME", pa.string()), ("COLUMN_NAME", pa.string()),
                              ("ORDINAL_POSITION", pa.int32()), ("IS_NULLABLE", pa.string()),
                              ("DATA_TYPE", pa.string()), ("NUMERIC_PRECISION", pa.int32()),
                              ("NUMERIC_SCALE", pa.int32())]))
        schemata_t = pa.table({
            "CATALOG_NAME": pa.array(["DREMIO"] * len(schemas), pa.string()),
            "SCHEMA_NAME": pa.array(schemas, pa.string()),
            "SCHEMA_OWNER": pa.array(["<owner>"] * len(schemas), pa.string()),
            "TYPE": pa.array(["SIMPLE"] * len(schemas), pa.string()),
            "IS_MUTABLE": pa.array(["NO"] * len(schemas), pa.string()),
        })
        for key, frame in (("tables", tables_t), ("columns", columns_t),
                           ("schemata", schemata_t)):
            cur.register("_info_frame", frame)
            cur.execute(f"CREATE OR REPLACE TABLE {INFO_VIEWS[key]} AS "
                        "SELECT * FROM _info_frame")
            cur.unregister("_info_frame")

    @staticmethod
    def _columns(cur: duckdb.DuckDBPyConnection, view: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in cur.execute(f"DESCRIBE {view}").fetchall()]

    # -- statements ---------------------------------------------------------------------
    def plan(self, sql: str, default_schema: str | None = None) -> Statement:
        self.refresh()
        return self.dialect.translate(sql, default_schema)

    def reader(self, statement: Statement) -> pa.RecordBatchReader:
        cur = self.db.cursor()
        if statement.show_schemas:
            names = sorted({t.schema for t in self.tables.values()})
            return pa.RecordBatchReader.from_batches(
                pa.schema([("SCHEMA_NAME", pa.string())]),
                [pa.record_batch([pa.array(names, pa.string())], names=["SCHEMA_NAME"])])
        if statement.describe is not None:
            rows = [(col, *catalog.dremio_type(typ))
                    for col, typ in self._columns(cur, statement.describe)]
            table = pa.table({
                "COLUMN_NAME": pa.array([r[0] for r in rows], pa.string()),
                "DATA_TYPE": pa.array([r[1] for r in rows], pa.string()),
                "IS_NULLABLE": pa.array(["YES"] * len(rows), pa.string()),
                "NUMERIC_PRECISION": pa.array([r[2] for r in rows], pa.int32()),
                "NUMERIC_SCALE": pa.array([r[3] for r in rows], pa.int32()),
            })
            return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        assert statement.sql is not None
        parsed = cur.extract_statements(statement.sql)
        if len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT:
            kind = parsed[0].type.name if parsed else "empty"
            raise SQLRefused(f"this endpoint is read-only: {kind} statements are not allowed")
        return _stream(cur.execute(statement.sql).to_arrow_reader(BATCH_ROWS))

    def schema(self, statement: Statement) -> pa.Schema:
        if statement.sql is None:
            return self.reader(statement).schema
        # LIMIT 0 is answered by the planner without reading the data
        probe = Statement(sql=f"SELECT * FROM ({statement.sql}) AS q LIMIT 0")
        return self.reader(probe).schema


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
            return self.engine.plan(sql, self._schema_header(context))
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
            return fl.RecordBatchStream(self.engine.reader(entry[1]))
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
    auth = AuthFactory({settings.flight_user: flight_password(settings)}, tokens, pats)
    engine = LakeSQL(settings)
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
