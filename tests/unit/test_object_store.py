"""One description of the object store, spoken to every client: its spellings of one
endpoint (every client reaching the same bucket on a real S3 endpoint is checked in
tests/integration/test_on_s3.py)."""

from __future__ import annotations

import pytest

from lakeops.core.settings import Settings
from lakeops.storage.object_store import ObjectStore


def test_spellings_of_one_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    store = ObjectStore.from_settings(Settings(
        s3_endpoint="http://127.0.0.1:9000", s3_access_key="k", s3_secret_key="s",
        s3_region="eu-west-1", lake_uri="s3://lake/x"))

    assert store.pyarrow_options() == {"region": "eu-west-1", "endpoint_override":
                                       "127.0.0.1:9000", "scheme": "http",
                                       "access_key": "k", "secret_key": "s"}
    assert store.duckdb_secret("s3://lake/x") == {
        "region": "eu-west-1", "scope": "s3://lake/x", "key_id": "k", "secret": "s",
        "endpoint": "127.0.0.1:9000", "url_style": "path", "use_ssl": "false"}
    assert store.s3a_conf()["fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert store.s3a_conf()["fs.s3a.connection.ssl.enabled"] == "false"
    env = store.environment()
    assert env["AWS_ACCESS_KEY_ID"] == "k" and env["MLFLOW_S3_ENDPOINT_URL"] == \
        "http://127.0.0.1:9000"
    assert "k" not in str(store.s3a_conf())  # keys travel in the environment only


def test_aws_itself_needs_no_endpoint() -> None:
    store = ObjectStore.from_settings(Settings(s3_region="us-east-2"))
    assert store.secure and store.host is None
    assert store.pyarrow_options() == {"region": "us-east-2"}
    assert "MLFLOW_S3_ENDPOINT_URL" not in store.environment()
