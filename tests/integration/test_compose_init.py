"""The compose profile's one-shot init against Dremio's REST API: a stand-in Dremio on
loopback that answers the calls init makes as Dremio's docs describe them (Dremio itself
cannot run here): the first user and the lake source, created once; a refused login
named."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.support import compose_worker_settings

from lakeops.core.settings import Settings
from lakeops.services import compose
from lakeops.services.compose import read_env_file, write_env_file


@pytest.fixture
def worker_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings exactly as the Airflow worker container builds them."""
    path = tmp_path / ".env"
    write_env_file(path)
    return compose_worker_settings(read_env_file(path), monkeypatch)


class _FakeDremio(BaseHTTPRequestHandler):
    """Dremio's REST API as its docs describe the calls init makes: a stand-in on loopback
    (Dremio itself cannot run here). State lives on the server object."""

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: object = None) -> None:
        data = json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_GET(self) -> None:  # noqa: N802
        state = self.server.state  # type: ignore[attr-defined]
        if self.path == "/apiv2/server_status":
            return self._reply(200, {"status": "OK"})
        if self.headers.get("Authorization") != "_dremio" + state["token"]:
            return self._reply(401)
        name = self.path.removeprefix("/api/v3/catalog/by-path/")
        return self._reply(200, state["sources"][name]) if name in state["sources"] \
            else self._reply(404)

    def do_PUT(self) -> None:  # noqa: N802
        state, body = self.server.state, self._body()  # type: ignore[attr-defined]
        if state["users"]:
            return self._reply(400, {"errorMessage": "First user can only be created when "
                                                     "no user is already registered"})
        state["users"][body["userName"]] = body["password"]
        return self._reply(200, {"userName": body["userName"]})

    def do_POST(self) -> None:  # noqa: N802
        state, body = self.server.state, self._body()  # type: ignore[attr-defined]
        if self.path == "/apiv2/login":
            if state["users"].get(body["userName"]) != body["password"]:
                return self._reply(401)
            return self._reply(200, {"token": state["token"]})
        if self.headers.get("Authorization") != "_dremio" + state["token"]:
            return self._reply(401)
        state["sources"][body["name"]] = body
        state["created"] += 1
        return self._reply(200, body)


class _DremioServer(ThreadingHTTPServer):
    state: dict[str, Any]


@pytest.fixture
def fake_dremio(worker_settings: Settings,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, Any], Settings]]:
    server = _DremioServer(("127.0.0.1", 0), _FakeDremio)
    server.state = {"users": {}, "sources": {}, "token": "t0k3n", "created": 0}
    monkeypatch.setattr(compose, "DREMIO_REST_PORT", server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.state, worker_settings.model_copy(update={"flight_host": "127.0.0.1"})
    finally:
        server.shutdown()
        server.server_close()


def test_init_creates_dremio_user_and_source_once(
        fake_dremio: tuple[dict[str, Any], Settings]) -> None:
    state, settings = fake_dremio
    compose.init_dremio(settings, timeout_s=10)
    compose.init_dremio(settings, timeout_s=10)  # a restarted init changes nothing

    assert settings.flight_password is not None
    assert state["users"] == {"lakeops": settings.flight_password.get_secret_value()}
    assert list(state["sources"]) == ["lakehouse"] and state["created"] == 1
    assert state["sources"]["lakehouse"] == compose.dremio_source(settings)


def test_init_names_a_refused_login(fake_dremio: tuple[dict[str, Any], Settings]) -> None:
    state, settings = fake_dremio
    state["users"]["lakeops"] = "other"  # bootstrapped earlier with another password

    with pytest.raises(RuntimeError, match="LAKEOPS_FLIGHT_PASSWORD"):
        compose.init_dremio(settings, timeout_s=10)
    assert state["sources"] == {}
