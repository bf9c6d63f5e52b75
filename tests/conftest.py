"""Shared fixtures: isolated settings, a real moto S3 server on loopback."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from benchmarks.harness import free_port  # noqa: F401 - the tests' too

from lakeops.core.settings import Settings
from lakeops.storage.lake import Lake

# Airflow reads its home when first imported: never let a test touch ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    _airflow_home = tempfile.mkdtemp(prefix="lakeops-test-airflow-")
    os.environ["AIRFLOW_HOME"] = _airflow_home
    atexit.register(shutil.rmtree, _airflow_home, ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# no library sends usage reports from a test run (Cosmos, dbt, GX)
for _name, _value in {"DO_NOT_TRACK": "1", "SCARF_NO_ANALYTICS": "true",
                      "GX_ANALYTICS_ENABLED": "false",
                      "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False"}.items():
    os.environ.setdefault(_name, _value)
# py4j logs its shutdown at INFO after pytest has closed the captured streams
logging.getLogger("py4j").setLevel(logging.WARNING)

BIN = Path(sys.executable).parent


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a throw-away local profile; the environment agrees with it, so code
    that calls ``get_settings()`` itself sees the same state folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("LAKEOPS_HOME", str(home))
    monkeypatch.delenv("LAKEOPS_LAKE_URI", raising=False)
    return Settings(home=home)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 server, a real HTTP endpoint standing in for MinIO; stopped by pid."""
    port = free_port()
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=log, start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(endpoint, timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto S3 server did not start") from None
            time.sleep(0.2)
    try:
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def s3_settings(
    moto_s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Settings:
    """Settings whose lake is a fresh bucket on the moto server."""
    import boto3

    bucket = f"lake-{abs(hash(request.node.nodeid)) % 10**10}"
    env = {
        "LAKEOPS_HOME": str(tmp_path / "home"),
        "LAKEOPS_LAKE_URI": f"s3://{bucket}/lakeops",
        "LAKEOPS_S3_ENDPOINT": moto_s3,
        "LAKEOPS_S3_ACCESS_KEY": "testing",
        "LAKEOPS_S3_SECRET_KEY": "testing",
        "LAKEOPS_S3_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    boto3.client(
        "s3", endpoint_url=moto_s3, aws_access_key_id="testing",
        aws_secret_access_key="testing", region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return Settings()


@pytest.fixture(params=["local", "s3"])
def any_settings(request: pytest.FixtureRequest) -> Settings:
    """Run a test against a local-folder lake and against S3 (moto)."""
    name = "settings" if request.param == "local" else "s3_settings"
    return request.getfixturevalue(name)


def which(cmd: str) -> str | None:
    return shutil.which(cmd)


@contextlib.contextmanager
def docs_server(root: Path | Lake, assets: Path | None = None) -> Iterator[str]:
    """The docs site, in-process on a free port; yields its base URL."""
    from lakeops.services.docs_site import make_server

    server = make_server("127.0.0.1", 0, root, assets)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def raw_get(base: str, path: str) -> int:
    """A request whose path no client normalises (``..``, ``%2e``) first."""
    import http.client

    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status

