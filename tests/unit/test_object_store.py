"""One description of the object store, spoken to every client: each reaches the same
bucket on a real S3 endpoint (moto's server)."""

from __future__ import annotations

import duckdb
import pyarrow.fs as pafs
import pytest

from lakeops.core.settings import Settings
from lakeops.storage import duckdb_s3
from lakeops.storage.object_store import ObjectStore


def test_every_client_reads_what_another_wrote(s3_settings: Settings) -> None:
    import boto3

    store = ObjectStore.from_settings(s3_settings)
    bucket, _, prefix = s3_settings.lake.removeprefix("s3://").partition("/")
    boto3.client("s3", **store.boto3_options()).put_object(
        Bucket=bucket, Key=f"{prefix}/probe/a.csv", Body=b"x\n1\n2\n")

    fs = pafs.S3FileSystem(**store.pyarrow_options())
    with fs.open_input_stream(f"{bucket}/{prefix}/probe/a.csv") as fh:
        assert fh.read() == b"x\n1\n2\n"

    con = duckdb.connect()
    duckdb_s3.attach_lake(con, s3_settings)
    assert con.execute(f"SELECT sum(x) FROM '{s3_settings.lake}/probe/a.csv'").fetchone() == (3,)


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
