"""The landing zone lives beside the lake, and PII-bearing deliveries are purged from it
after the retention, their manifests kept forever."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import pytest

from lakeops.catalog import datasets
from lakeops.catalog.contracts import TABLES, get_contract
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.ingest.errors import DeliveryPurged
from lakeops.landing import retention
from lakeops.storage.lake import Lake
from lakeops.storage.object_store import ObjectStore
from lakeops.synthetic.generate import generate

DAYS = ("2024-10-01", "2024-10-02", "2024-10-03")
# retention 30 days: for the interval 2024-11-02, deliveries that arrived before
# 2024-10-03 are purged (each delivery below arrives at noon on its day)
PURGE = "2024-11-02"
PURGED_DAYS, KEPT_DAY = DAYS[:2], DAYS[2]
SOURCE = "education"
PII_TABLES = [t for t in TABLES[SOURCE] if get_contract(SOURCE, t).pii_columns]
OTHER_TABLES = [t for t in TABLES[SOURCE] if t not in PII_TABLES]


def archive_names(landing: Lake, table: str, day: str) -> list[str]:
    return [f.path.rsplit("/", 1)[-1]
            for f in landing.ls(f"landing/_archive/{SOURCE}/{table}/{day}")]


@pytest.fixture
def ingested(settings: Settings) -> Settings:
    """Three days of the education source delivered and ingested."""
    landing = Lake.landing(settings)
    generate(landing, SOURCE, date(2024, 10, 1), len(DAYS), scale=0.002, seed=4)
    for day in DAYS:
        for table in TABLES[SOURCE]:
            ingest.ingest_table(SOURCE, table, day, settings)
            _arrived(landing, f"landing/_archive/{SOURCE}/{table}/{day}", day)
    return settings


def _arrived(landing: Lake, folder: str, day: str) -> None:
    """Date the delivery's files as if they had arrived at noon on ``day``."""
    when = datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    for f in landing.ls(folder):
        os.utime(landing.local_path(f.path), (when, when))


def test_old_pii_deliveries_are_purged_with_their_manifest_kept(ingested: Settings) -> None:
    settings = ingested
    lake, landing = Lake.from_settings(settings), Lake.landing(settings)
    assert PII_TABLES == ["studentInfo"] and OTHER_TABLES
    before = {(t, d): landing.ls(f"landing/_archive/{SOURCE}/{t}/{d}")
              for t in TABLES[SOURCE] for d in DAYS}
    # a re-delivery waiting in the inbox, never ingested, is not the archive's to purge
    inbox = f"landing/{SOURCE}/studentInfo/{DAYS[0]}/studentInfo_again.csv"
    landing.write_bytes(inbox, b"not ingested yet\n")

    summary = retention.purge_landing(PURGE, settings)

    assert summary["cutoff"] == "2024-10-03" and summary["retention_days"] == 30
    assert landing.read_bytes(inbox) == b"not ingested yet\n"
    for table in PII_TABLES:
        for day in PURGED_DAYS:
            assert archive_names(landing, table, day) == ["_purged.json"], (table, day)
        assert archive_names(landing, table, KEPT_DAY) == [
            f.path.rsplit("/", 1)[-1] for f in before[(table, KEPT_DAY)]]
    for table in OTHER_TABLES:  # no PII: every delivery kept as delivered
        for day in DAYS:
            assert landing.ls(f"landing/_archive/{SOURCE}/{table}/{day}") == before[(table, day)]

    # the tombstone keeps the delivery's manifest: files, sizes, checksums, row counts
    tomb = landing.read_json(f"landing/_archive/{SOURCE}/studentInfo/{DAYS[0]}/_purged.json")
    manifest = lake.read_json(f"raw/{SOURCE}/studentInfo/dt={DAYS[0]}/_manifest.json")
    assert (tomb["purged_on"], tomb["retention_days"]) == (PURGE, 30)
    assert "PII" in tomb["reason"] and "email" in tomb["pii_columns"]
    assert tomb["rows_in"] == manifest["rows_in"] > 0
    assert tomb["ingest_manifest"] == manifest
    assert [(f["name"], f["bytes"], f["sha256"]) for f in tomb["files"]] == [
        (f["name"], f["bytes"], f["sha256"]) for f in manifest["files"]]

    # the lake records one row per removed file
    rows = lake.read_partition("monitoring", datasets.LANDING_PURGES.dataset, PURGE).to_pylist()
    removed = [f for t in PII_TABLES for d in PURGED_DAYS for f in before[(t, d)]]
    assert summary["files_removed"] == summary["files_recorded"] == len(removed) == len(rows)
    assert {(r["table"], r["delivery_day"], r["file"], r["bytes"]) for r in rows} == {
        (f.path.split("/")[3], f.path.split("/")[4], f.path, f.size) for f in removed}
    first = next(r for r in rows if r["delivery_day"] == DAYS[0])
    assert (first["source"], first["sha256"], first["rows_in"], first["purged_on"],
            first["retention_days"]) == (SOURCE, manifest["files"][0]["sha256"],
                                         manifest["rows_in"], PURGE, 30)
    # nothing of the landing zone reached the lake
    assert not lake.exists("landing")


def test_a_rerun_removes_nothing_new_and_writes_the_same_partition(ingested: Settings) -> None:
    settings = ingested
    lake = Lake.from_settings(settings)
    first = retention.purge_landing(PURGE, settings)
    table = lake.read_partition("monitoring", datasets.LANDING_PURGES.dataset, PURGE)

    again = retention.purge_landing(PURGE, settings)

    assert first["files_removed"] > 0 and again["files_removed"] == 0
    assert again["files_recorded"] == first["files_recorded"]
    assert lake.read_partition("monitoring", datasets.LANDING_PURGES.dataset, PURGE).equals(table)
    # a later interval purges nothing more here and records only what it removed itself
    later = retention.purge_landing("2024-11-03", settings)
    assert later["files_removed"] == later["files_recorded"] == 1  # studentInfo of day 3


def test_reingesting_a_purged_day_says_why_and_a_new_delivery_is_taken(
        ingested: Settings) -> None:
    settings = ingested
    landing = Lake.landing(settings)
    retention.purge_landing(PURGE, settings)
    day = DAYS[1]

    with pytest.raises(DeliveryPurged) as purged:
        ingest.ingest_table(SOURCE, "studentInfo", day, settings)
    message = str(purged.value)
    assert message.startswith(f"the delivery of {SOURCE}.studentInfo for {day} was purged on "
                              f"{PURGE} under the 30-day retention rule for PII-bearing "
                              f"deliveries; its manifest is kept at ")
    assert message.endswith("_purged.json; deliver the file again to re-process")
    assert landing.uri(f"landing/_archive/{SOURCE}/studentInfo/{day}/_purged.json") in message
    # the sensor fails at once rather than waiting for a delivery that will not come
    with pytest.raises(DeliveryPurged, match="was purged") as sensed:
        ingest.delivery_ready(SOURCE, day, settings)
    from airflow.sdk.exceptions import AirflowFailException

    assert isinstance(sensed.value, AirflowFailException)  # no retry, no further waiting
    assert ingest.delivery_ready(SOURCE, KEPT_DAY, settings)  # not purged

    # delivered again: ingested as any delivery, archived beside the tombstone
    again = Lake.landing(Settings(home=settings.home / "regenerated"))
    generate(again, SOURCE, date(2024, 10, 1), 2, scale=0.002, seed=4)
    (f,) = again.ls(f"landing/{SOURCE}/studentInfo/{day}")
    landing.write_bytes(f.path, again.read_bytes(f.path))
    name = f.path.rsplit("/", 1)[-1]
    m = ingest.ingest_table(SOURCE, "studentInfo", day, settings)
    assert [x["name"] for x in m["files"]] == [name]
    assert sorted(archive_names(landing, "studentInfo", day)) == ["_purged.json", name]
    # it arrived just now: a purge measured from the data's day would remove it at once
    assert retention.purge_landing("2024-11-03", settings)["files_removed"] == 1  # day 3
    assert sorted(archive_names(landing, "studentInfo", day)) == ["_purged.json", name]
    _arrived(landing, f"landing/_archive/{SOURCE}/studentInfo/{day}", "2024-10-04")
    # ... and purged again by a later interval, the earlier purge kept in the tombstone
    assert retention.purge_landing("2024-11-04", settings)["files_removed"] == 1
    tomb = landing.read_json(f"landing/_archive/{SOURCE}/studentInfo/{day}/_purged.json")
    assert tomb["purged_on"] == "2024-11-04"
    assert tomb["arrived_at"] == "2024-10-04T12:00:00+00:00"
    assert [p["purged_on"] for p in tomb["earlier_purges"]] == [PURGE]


def test_markers_in_a_delivery_folder_are_not_delivered_files(settings: Settings) -> None:
    landing = Lake.landing(settings)
    generate(landing, "business", date(2024, 10, 1), 1, scale=0.002, seed=4)
    landing.write_bytes("landing/business/products/2024-10-01/_SUCCESS", b"")
    landing.write_bytes("landing/business/products/2024-10-01/.partial", b"junk")

    m = ingest.ingest_table("business", "products", "2024-10-01", settings)

    assert [f["name"] for f in m["files"]] == ["products_20241001.parquet"]


# -- where the landing zone lives --------------------------------------------------------


def test_local_landing_is_beside_the_lake(settings: Settings) -> None:
    lake, landing = Lake.from_settings(settings), Lake.landing(settings)
    assert settings.lake == str(settings.home / "lake")
    assert settings.landing_root == str(settings.home)
    assert landing.uri("landing") == f"{settings.home}/landing"
    assert not Path(landing.uri("landing")).is_relative_to(lake.root)
    # what one writes the other does not see
    landing.write_bytes("landing/business/orders/2024-10-01/o.jsonl", b"{}\n")
    lake.write_bytes("raw/x/y/dt=2024-10-01/part-0.parquet", b"x")
    assert [f.path for f in lake.ls("", recursive=True)] == [
        "raw/x/y/dt=2024-10-01/part-0.parquet"]
    assert [f.path for f in landing.ls("landing", recursive=True)] == [
        "landing/business/orders/2024-10-01/o.jsonl"]


def test_s3_landing_defaults_to_the_lakes_parent_and_never_inside_it(tmp_path: Path) -> None:
    def landing_of(lake_uri: str, landing_uri: str = "") -> str:
        return Settings(home=tmp_path, lake_uri=lake_uri, landing_uri=landing_uri).landing_root

    assert landing_of("s3://bucket/prefix") == "s3://bucket"
    assert landing_of("s3://bucket/a/b/") == "s3://bucket/a"
    assert landing_of("s3://lake", "s3://lakeops-landing") == "s3://lakeops-landing"
    assert landing_of("s3://lake", "s3://lake-in/drop/") == "s3://lake-in/drop"
    with pytest.raises(ValueError, match="LAKEOPS_LANDING_URI"):
        landing_of("s3://lake")  # a bucket's root has no parent to put landing in
    for lake, landing in [("s3://b/lake", "s3://b/lake"), ("s3://b/lake", "s3://b/lake/x"),
                          ("s3://b/landing", "s3://b"), ("s3://b", "s3://b")]:
        with pytest.raises(ValueError, match="never inside it"):
            landing_of(lake, landing)


def test_local_landing_inside_the_lake_is_refused(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for kwargs in [{"landing_uri": str(lake)}, {"landing_uri": str(lake / "sub")},
                   {"lake_uri": str(tmp_path / "landing")}]:
        settings = Settings(home=tmp_path, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="overlaps the lake"):
            Lake.landing(settings)
    assert Settings(home=tmp_path, landing_uri=str(tmp_path / "drop")).landing_root == str(
        tmp_path / "drop")


def test_landing_keys_are_its_own_else_the_lakes() -> None:
    base = {"lake_uri": "s3://lake/x", "s3_endpoint": "http://127.0.0.1:9000",
            "s3_access_key": "lake-key", "s3_secret_key": "lake-secret"}
    shared = Settings(**base)  # type: ignore[arg-type]
    assert ObjectStore.from_settings(shared, store="landing") == ObjectStore.from_settings(shared)
    own = Settings(**base, landing_s3_access_key="in-key",  # type: ignore[arg-type]
                   landing_s3_secret_key="in-secret")
    store = ObjectStore.from_settings(own, store="landing")
    assert (store.access_key, store.secret_key) == ("in-key", "in-secret")
    assert store.endpoint == "http://127.0.0.1:9000"
    assert ObjectStore.from_settings(own).access_key == "lake-key"
