"""The lake on S3: moto's S3 server standing in for MinIO.

The tests written for any lake take ``any_settings``; in their own tier (tests/unit,
tests/data) that is a local folder, here it is a fresh bucket (this module's fixture), so
the same tests run again over S3. Then what only an S3 lake has: every client reaching
the same bucket, and the landing store beside the lake, never inside it.
"""

from __future__ import annotations

import duckdb
import pyarrow.fs as pafs
import pytest
from tests.data.test_validation import test_clean_data_is_published_whole
from tests.unit.test_ingest import (
    test_clean_delivery_lands_typed_and_archived,
    test_pii_is_pseudonymized_or_dropped,
)
from tests.unit.test_lake import (
    test_crashed_writer_leaves_nothing_visible,
    test_files_json_move_checksum,
    test_partition_roundtrip_and_replace,
)

from lakeops.catalog.contracts import get_contract
from lakeops.core.settings import Settings
from lakeops.ingest.delivery import find_delivery
from lakeops.storage import duckdb_s3
from lakeops.storage.lake import Lake
from lakeops.storage.object_store import ObjectStore

# collected here too, with the lake on S3
__all__ = [
    "test_clean_data_is_published_whole",
    "test_clean_delivery_lands_typed_and_archived",
    "test_crashed_writer_leaves_nothing_visible",
    "test_files_json_move_checksum",
    "test_partition_roundtrip_and_replace",
    "test_pii_is_pseudonymized_or_dropped",
]


@pytest.fixture
def any_settings(s3_settings: Settings) -> Settings:
    return s3_settings


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


def test_s3_lake_and_landing_do_not_overlap(s3_settings: Settings) -> None:
    lake, landing = Lake.from_settings(s3_settings), Lake.landing(s3_settings)
    assert landing.root == s3_settings.lake.rsplit("/", 1)[0]
    assert not landing.uri("landing").startswith(lake.root + "/")
    landing.write_bytes("landing/education/vle/2024-10-01/vle.csv", b"a\n")
    assert not lake.exists("landing") and lake.ls("", recursive=True) == []
    assert find_delivery(landing, get_contract("education", "vle"), "2024-10-01")
