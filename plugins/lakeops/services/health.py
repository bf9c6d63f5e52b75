"""Health probes of the supervised services, one small callable per kind.

A service entry (:mod:`lakeops.services.specs`) names its check; :func:`lakeops.services.status`
runs it only while supervisord reports the program RUNNING. One probe round shares a
:class:`Probe` cache, so the four Airflow components read Airflow's
``/api/v2/monitor/health`` once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from lakeops.core.settings import Settings


def connect_host(settings: Settings) -> str:
    """Where a client on this machine reaches a service bound to ``settings.host``."""
    return settings.connect_host


@dataclass
class Probe:
    """What one check sees: the settings, the service's port, the ports of every running
    service (by name) and a cache shared by the checks of one round."""

    settings: Settings
    port: int | None
    ports: dict[str, int | None] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    started: float | None = None  # epoch seconds of the program's current start


class HealthCheck(Protocol):
    def __call__(self, probe: Probe) -> tuple[bool, str]: ...


def _get(url: str, timeout: float = 3.0) -> httpx.Response | str:
    try:
        return httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Http:
    """Healthy when ``GET <path>`` answers 200."""

    path: str = "/"

    def __call__(self, probe: Probe) -> tuple[bool, str]:
        url = f"http://{connect_host(probe.settings)}:{probe.port}{self.path}"
        response = _get(url)
        if isinstance(response, str):
            return False, response
        return response.status_code == 200, f"GET {self.path}: HTTP {response.status_code}"


@dataclass(frozen=True)
class Flight:
    """Healthy once the SQL endpoint authenticates us and answers a query."""

    def __call__(self, probe: Probe) -> tuple[bool, str]:
        import pyarrow as pa

        from lakeops.query import QueryError, connect

        host = connect_host(probe.settings)
        try:
            with connect(probe.settings, host=host, port=probe.port) as client:
                client.table("SELECT 1 AS ok")
        except (QueryError, pa.ArrowException, OSError) as exc:
            return False, str(exc)[:200]
        return True, "Flight handshake and query answered"


def _airflow_health(probe: Probe) -> dict[str, Any] | str:
    if "airflow" not in probe.cache:
        port = probe.ports.get("airflow-api-server")
        if port is None:
            probe.cache["airflow"] = "api-server not running"
        else:
            base = f"http://{connect_host(probe.settings)}:{port}"
            response = _get(f"{base}/api/v2/monitor/health")
            if isinstance(response, str):
                probe.cache["airflow"] = response
            elif response.status_code != 200:
                probe.cache["airflow"] = f"HTTP {response.status_code} from /api/v2/monitor/health"
            else:
                try:
                    probe.cache["airflow"] = dict(response.json())
                except ValueError:
                    probe.cache["airflow"] = "health endpoint returned no JSON"
    result: dict[str, Any] | str = probe.cache["airflow"]
    return result


@dataclass(frozen=True)
class AirflowComponent:
    """One entry of Airflow's ``/api/v2/monitor/health`` (``key``; None: the api-server
    itself, healthy when its metadata DB is)."""

    key: str | None = None

    def __call__(self, probe: Probe) -> tuple[bool, str]:
        health = _airflow_health(probe)
        if isinstance(health, str):
            return False, f"api-server health unavailable: {health}"
        if self.key is None:
            db = (health.get("metadatabase") or {}).get("status")
            return db == "healthy", f"metadatabase {db}"
        entry = health.get(self.key) or {}
        state = entry.get("status")
        beat = entry.get(f"latest_{self.key}_heartbeat")
        if state == "healthy" and _before(beat, probe.started):
            # a heartbeat of the previous incarnation, still within Airflow's threshold
            return False, f"{self.key}: no heartbeat since its start (last {beat})"
        return state == "healthy", f"{self.key} {state}, last heartbeat {beat}"


def _before(stamp: str | None, epoch: float | None) -> bool:
    if not stamp or epoch is None:
        return False
    try:
        return datetime.fromisoformat(stamp).timestamp() < epoch
    except ValueError:
        return False


@dataclass(frozen=True)
class Running:
    """No probe of its own: healthy while supervisord says RUNNING (up past startsecs)."""

    def __call__(self, probe: Probe) -> tuple[bool, str]:
        return True, "running"


def tail(path: str | Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file (reads at most its last 16 KiB)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 16384, 0))
            text = fh.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
