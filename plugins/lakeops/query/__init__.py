"""SQL over the lakehouse through Dremio's Arrow Flight protocol — one client for both
profiles: Dremio itself (compose) and the embedded endpoint (:mod:`lakeops.query.server`).

>>> from lakeops.query import connect
>>> with connect() as client:                       # settings say where and who
...     table = client.table("SELECT * FROM lakehouse.marts.business_kpis_daily")
...     frame = client.pandas("SELECT count(*) AS n FROM lakehouse.curated.business.orders")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl

from lakeops.core.settings import Settings, get_settings


class QueryError(RuntimeError):
    """The endpoint refused or failed the statement; the message says why."""


class Client:
    """A connection to a Dremio-dialect Flight endpoint.

    Authenticates with user and password (basic auth handshake, then the bearer token it
    returns) or with a personal access token; on an expired token it authenticates again
    once and retries the call.
    """

    def __init__(self, settings: Settings | None = None, *, host: str | None = None,
                 port: int | None = None, user: str | None = None,
                 password: str | None = None, token: str | None = None,
                 tls: bool | None = None, schema: str | None = None) -> None:
        settings = settings or get_settings()
        self.host = host or settings.flight_host or settings.host
        self.port = port or settings.flight_port
        self.user = user or settings.flight_user
        self._token = token or (settings.flight_token.get_secret_value()
                                if settings.flight_token else None)
        if password is None and self._token is None:
            from lakeops.query.grants import flight_password

            password = flight_password(settings)
        self._password = password
        self.tls = settings.flight_tls if tls is None else tls
        self.schema = schema
        kwargs: dict[str, Any] = {}
        if self.tls and settings.flight_tls_cert:
            kwargs["tls_root_certs"] = settings.flight_tls_cert.read_bytes()
        scheme = "grpc+tls" if self.tls else "grpc+tcp"
        self._client = fl.FlightClient(f"{scheme}://{self.host}:{self.port}", **kwargs)
        self._headers: list[tuple[bytes, bytes]] = []
        self.authenticate()

    def authenticate(self) -> None:
        if self._password is not None:
            try:
                key, value = self._client.authenticate_basic_token(self.user, self._password)
            except fl.FlightUnauthenticatedError as exc:
                raise QueryError(f"authentication failed for '{self.user}' at "
                                 f"{self.host}:{self.port}: {exc}") from None
            except fl.FlightError as exc:  # down, or TLS on one side only
                raise QueryError(f"no lakehouse SQL endpoint answers at {self.host}:"
                                 f"{self.port} over {'TLS' if self.tls else 'plain TCP'} "
                                 f"(is it up? `lakeops status`): {_message(exc)}") from None
            auth = (key, value)
        else:
            auth = (b"authorization", f"Bearer {self._token}".encode())
        self._headers = [auth]
        if self.schema:
            self._headers.append((b"schema", self.schema.encode()))

    @property
    def authorization(self) -> tuple[bytes, bytes]:
        """The ``authorization`` header every call sends (the bearer token it holds)."""
        return self._headers[0]

    @property
    def _options(self) -> fl.FlightCallOptions:
        return fl.FlightCallOptions(headers=self._headers)

    def _info(self, sql: str) -> fl.FlightInfo:
        descriptor = fl.FlightDescriptor.for_command(sql)
        try:
            return self._client.get_flight_info(descriptor, self._options)
        except fl.FlightUnauthenticatedError:
            if self._password is None:
                raise
            self.authenticate()  # the token expired: once more with a fresh one
            return self._client.get_flight_info(descriptor, self._options)

    def reader(self, sql: str) -> fl.FlightStreamReader:
        """The result as a stream of record batches (``read_chunk`` / ``read_all``)."""
        try:
            info = self._info(sql)
            return self._client.do_get(info.endpoints[0].ticket, self._options)
        except fl.FlightError as exc:
            raise QueryError(_message(exc)) from None

    def batches(self, sql: str) -> Iterator[pa.RecordBatch]:
        reader = self.reader(sql)
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                return
            if chunk.data is not None:
                yield chunk.data

    def table(self, sql: str) -> pa.Table:
        try:
            return self.reader(sql).read_all()
        except fl.FlightError as exc:
            raise QueryError(_message(exc)) from None

    def pandas(self, sql: str) -> Any:
        return self.table(sql).to_pandas()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _message(exc: Exception) -> str:
    """gRPC wraps the server's message in detail lines; keep the message."""
    text = str(exc)
    return text.split(". Detail:")[0].split("\ngRPC client debug context")[0]


def connect(settings: Settings | None = None, **kwargs: Any) -> Client:
    return Client(settings, **kwargs)


__all__ = ["Client", "QueryError", "connect"]
