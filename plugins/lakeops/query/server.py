"""The embedded lakehouse SQL endpoint: Arrow Flight speaking Dremio's dialect, DuckDB
reading the lake (a local folder, or S3/MinIO through httpfs from the installed wheel).
``python -m lakeops.query.server`` runs it (``lakeops up`` does, as the ``sql`` service).

Clients use it exactly as Dremio's own Python examples use Dremio (port 32010):

1. ``client.authenticate_basic_token(user, password)`` — a ``Handshake`` with HTTP basic
   credentials; the answer carries ``authorization: Bearer <token>``, which every later
   call sends (:mod:`lakeops.query.auth`);
2. ``client.get_flight_info(FlightDescriptor.for_command(sql), options)`` — the statement
   is checked and planned, the answer holds its Arrow schema and a ticket;
3. ``client.do_get(ticket, options)`` — the result, streamed as record batches straight
   from DuckDB's executor (:mod:`lakeops.query.engine`).

The endpoint is read-only: only queries run (see :mod:`lakeops.query.dialect`), nothing
can be put. Each user reads the zones its role is granted (:mod:`lakeops.query.grants`);
a ticket is good only for the user who planned it, for :data:`TICKET_TTL_S`.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.flight as fl

from lakeops.core.settings import Settings, get_settings
from lakeops.query import grants
from lakeops.query.auth import AuthFactory, HandshakeOnly, Tokens
from lakeops.query.dialect import Statement
from lakeops.query.engine import LakeSQL
from lakeops.query.errors import SQLRefused

log = logging.getLogger("lakeops.query.server")

TICKET_TTL_S = 600


class LakehouseFlightServer(fl.FlightServerBase):  # type: ignore[misc]
    def __init__(self, location: str, engine: LakeSQL, auth: AuthFactory,
                 tls_certificates: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(location, auth_handler=HandshakeOnly(), middleware={"auth": auth},
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
