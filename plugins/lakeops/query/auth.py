"""Who is calling the endpoint: HTTP basic credentials on the handshake, then a bearer
token, as Dremio's Flight endpoint does.

1. ``client.authenticate_basic_token(user, password)`` sends a ``Handshake`` with HTTP
   basic credentials; :class:`AuthFactory` checks them (a Dremio personal access token is
   taken in place of the password too) and answers ``authorization: Bearer <token>``;
2. every later call sends that bearer (or a personal access token directly); tokens
   expire after ``LAKEOPS_FLIGHT_TOKEN_TTL_S`` (:class:`Tokens`), and an unknown or
   expired one is refused, as is a call with no credentials at all.

The caller's user and Dremio's ``schema`` header (the default schema for unqualified
table names) travel with the call as its ``auth`` middleware, where the Flight service
reads them.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import time
from typing import Any

import pyarrow.flight as fl


class Tokens:
    """The bearer tokens handed out at the handshake, each valid for ``ttl_s``."""

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


class Caller(fl.ServerMiddleware):  # type: ignore[misc]
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

    def start_call(self, info: Any, headers: dict[str, list[str]]) -> Caller:
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
            return Caller(user, self.tokens.issue(user), schema)
        if scheme.lower() == "bearer":
            bearer_user = self.tokens.user(cred) or self._pat(cred)
            if bearer_user is None:
                raise fl.FlightUnauthenticatedError(
                    "token expired or unknown: authenticate again")
            return Caller(bearer_user, schema=schema)
        raise fl.FlightUnauthenticatedError(
            "authentication required: basic credentials on the handshake, then the bearer "
            "token it returns (anonymous queries are not allowed)")


class HandshakeOnly(fl.ServerAuthHandler):  # type: ignore[misc]
    """Lets the ``Handshake`` call through to :class:`AuthFactory`, which does the work
    (pyarrow answers "unimplemented" to a handshake on a server without a handler)."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""
