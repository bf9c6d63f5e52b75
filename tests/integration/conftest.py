"""Real servers for the integration tier: moto's S3 server, started once for the session,
and settings whose lake is a bucket of its own on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakeops.core.settings import Settings
from lakeops.services.ports import free_port

BIN = Path(sys.executable).parent


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
