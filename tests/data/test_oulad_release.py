"""The OULAD release as published (tests/data/oulad_release: seven CSVs in the release's
own format, a few rows each) taken by the education contracts as a historical load: every
row accepted and published, each quirk handled as the contract declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.landing.layout import LOAD_MARKER
from lakeops.storage.lake import Lake
from lakeops.validate import publish

RELEASE = Path(__file__).parent / "oulad_release"
DAY = "2024-10-01"


def _deliver(settings: Settings) -> None:
    landing = Lake.landing(settings)
    for table in TABLES["education"]:
        folder = f"landing/education/{table}/{DAY}"
        landing.write_bytes(f"{folder}/{table}.csv", (RELEASE / f"{table}.csv").read_bytes())
        landing.write_json(f"{folder}/{LOAD_MARKER}",
                           {"kind": "history", "from": "2024-01-01"})


def _data_lines(table: str) -> int:
    return len((RELEASE / f"{table}.csv").read_text().splitlines()) - 1


@pytest.fixture
def published(settings: Settings) -> dict[str, dict]:
    _deliver(settings)
    manifests = {t: ingest.ingest_table("education", t, DAY, settings)
                 for t in TABLES["education"]}
    return {"ingest": manifests, "validate": publish.validate_interval("education", DAY,
                                                                        settings)}


def test_every_release_row_is_accepted_and_published(settings: Settings,
                                                     published: dict[str, dict]) -> None:
    for table in TABLES["education"]:
        m = published["ingest"][table]
        assert m["rows_in"] == m["rows_written"] + m["rows_rejected"] == _data_lines(table)
        assert m["rows_rejected"] == 0, (table, m["rejected_by_rule"])
        record = published["validate"][table]
        assert record["published"] == _data_lines(table), (table, record)
        assert record["quarantined_at_validation"] == 0, (table, record)


def test_each_release_quirk_is_read_as_the_contract_declares(
        settings: Settings, published: dict[str, dict]) -> None:
    lake = Lake.from_settings(settings)

    def curated(table: str, column: str) -> list:
        rows = lake.read_partition("curated", f"education/{table}", DAY)
        return rows.column(column).to_pylist()

    # "10-20" is the band "10-20%"; "?" is a missing band; both counted or passed by GX
    bands = curated("studentInfo", "imd_band")
    assert bands.count("10-20%") == 2 and "10-20" not in bands and bands.count(None) == 1
    info = published["ingest"]["studentInfo"]
    assert info["normalized"] == {"imd_band": {"10-20 -> 10-20%": 2}}
    # the release has no contact data: optional columns, null, said so in the manifest
    assert any("optional column(s) absent" in w for w in info["warnings"])
    assert set(curated("studentInfo", "email_hash")) == {None}
    # "?" where the release marks a missing value
    assert curated("assessments", "date").count(None) == 1
    assert curated("studentAssessment", "score").count(None) == 1
    assert curated("studentRegistration", "date_registration").count(None) == 1
    assert curated("vle", "week_from").count(None) == 4
    # an empty field: not unregistered
    assert curated("studentRegistration", "date_unregistration").count(None) == 6
    # quoted numbers are numbers
    assert sorted(curated("studentVle", "date"))[:2] == [-10, -10]
