"""The running Airflow's REST API as the admin user, through the official client.

:func:`airflow_client` returns an ``airflow_client.client.ApiClient`` (package
``apache-airflow-client``) configured for the embedded Airflow: a JWT from
``POST /auth/token`` with the generated admin password (:func:`airflow_token`), fetched
again when Airflow rejects it (expired, or signed with a since-changed secret).
:func:`retry_busy` repeats a call while Airflow's SQLite metadata DB is busy (tenacity).

The client package is imported lazily (it takes ~1.5 s): importing this module is cheap.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import tenacity

from lakeops.core.settings import Settings
from lakeops.services.airflow import airflow_admin_password
from lakeops.services.errors import ServiceError
from lakeops.services.health import connect_host

if TYPE_CHECKING:
    from airflow_client.client import ApiClient

T = TypeVar("T")

_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKEN_TTL_S = 3600.0


def _base_url(settings: Settings) -> str:
    return f"http://{connect_host(settings)}:{settings.airflow_port}"


def airflow_token(settings: Settings) -> str:
    """A fresh JWT for the admin user: ``POST /auth/token`` with the generated password."""
    response = httpx.post(
        f"{_base_url(settings)}/auth/token",
        json={
            "username": settings.airflow_admin_user,
            "password": airflow_admin_password(settings),
        },
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise ServiceError(
            f"Airflow login as {settings.airflow_admin_user!r} failed: "
            f"HTTP {response.status_code} {response.text[:200]}"
        )
    token = str(response.json()["access_token"])
    _TOKENS[(_base_url(settings), settings.airflow_admin_user)] = (token, time.monotonic())
    return token


def _cached_token(settings: Settings) -> str:
    cached = _TOKENS.get((_base_url(settings), settings.airflow_admin_user))
    if cached and time.monotonic() - cached[1] < _TOKEN_TTL_S:
        return cached[0]
    return airflow_token(settings)


@functools.cache
def _client_class() -> type[ApiClient]:
    from airflow_client.client import ApiClient

    class RefreshingApiClient(ApiClient):
        """Logs in again once when Airflow rejects the token (401; a malformed or expired
        JWT gets 403 "Invalid JWT token")."""

        lakeops_settings: Settings

        def call_api(self, method: str, url: str, header_params: Any = None,
                     body: Any = None, post_params: Any = None,
                     _request_timeout: Any = None) -> Any:
            response = super().call_api(method, url, header_params, body, post_params,
                                        _request_timeout)
            if not _rejected_token(response):
                return response
            token = airflow_token(self.lakeops_settings)
            self.configuration.access_token = token
            headers = {**(header_params or {}), "Authorization": f"Bearer {token}"}
            return super().call_api(method, url, headers, body, post_params, _request_timeout)

    return RefreshingApiClient


def _rejected_token(response: Any) -> bool:
    if response.status == 401:
        return True
    return response.status == 403 and b"JWT" in (response.read() or b"")


def airflow_client(settings: Settings) -> ApiClient:
    """An ``ApiClient`` for the embedded Airflow, logged in as the admin user.

    Use it with the client's API classes, e.g. ``DAGApi(airflow_client(s)).get_dag(id)``
    (a ``with`` block is fine; its connection pool goes with the object)."""
    from airflow_client.client import Configuration

    config = Configuration(host=_base_url(settings), access_token=_cached_token(settings))
    client = _client_class()(config)
    client.lakeops_settings = settings  # type: ignore[attr-defined]
    return client


def db_busy(exc: BaseException) -> bool:
    """Airflow's answer while its SQLite metadata DB is locked by another writer: 503
    "Database is locked", or a 500 "Database error" from its audit log."""
    from airflow_client.client.exceptions import ApiException

    if not isinstance(exc, ApiException):
        return False
    return exc.status == 503 or (exc.status == 500 and "Database" in str(exc.body or ""))


def retry_busy(call: Callable[..., T], *args: Any, attempts: int = 30, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, repeated (2 s apart, ``attempts`` times at most) while
    Airflow's metadata DB is busy; any other error is raised at once. Only for calls that
    are safe to repeat."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(db_busy),
        wait=tenacity.wait_fixed(2),
        stop=tenacity.stop_after_attempt(attempts),
        reraise=True,
    )
    return retrying(call, *args, **kwargs)
