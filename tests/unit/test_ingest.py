"""Ingestion: schema enforcement, pseudonymization, idempotence, nothing lost."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeops.catalog.contracts import get_contract
from lakeops.core.keys import pii_key
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.ingest.delivery import missing_deliveries
from lakeops.ingest.errors import DeliveryMissing, SchemaMismatch
from lakeops.ingest.pii import pseudonymize
from lakeops.ingest.rules import RULE_CAST, RULE_MALFORMED, RULE_NOT_NULL
from lakeops.storage.lake import Lake

DAY = "2024-10-01"

VLE_HEADER = "code_module,code_presentation,id_student,id_site,date,sum_click\n"
VLE_GOOD = [
    "AAA,2024J,11391,546669,0,4",
    "AAA,2024J,11391,546662,0,12",
    "BBB,2024J,28400,546670,0,1",
]


def deliver(landing: Lake, source: str, table: str, body: bytes | str, *,
            name: str | None = None, day: str = DAY) -> str:
    """Put a delivery into the landing store's inbox (beside the lake, never in it)."""
    ext = get_contract(source, table).delivery.format.value
    stamp = day.replace("-", "")
    path = f"landing/{source}/{table}/{day}/{name or f'{table}_{stamp}.{ext}'}"
    landing.write_bytes(path, body.encode() if isinstance(body, str) else body)
    return path


def quarantine(lake: Lake, source: str, table: str, day: str = DAY) -> list[dict]:
    return lake.read_partition("quarantine", f"{source}/{table}", day,
                               name=ingest.QUARANTINE_FILE).to_pylist()


def test_clean_delivery_lands_typed_and_archived(any_settings: Settings) -> None:
    lake = Lake.from_settings(any_settings)
    landing = Lake.landing(any_settings)
    inbox = deliver(landing, "education", "studentVle", VLE_HEADER + "\n".join(VLE_GOOD) + "\n")

    m = ingest.ingest_table("education", "studentVle", DAY, any_settings)

    assert (m["rows_in"], m["rows_written"], m["rows_rejected"]) == (3, 3, 0)
    raw = lake.read_partition("raw", "education/studentVle", DAY)
    assert raw.schema.field("sum_click").type == pa.int32() or pa.types.is_integer(
        raw.schema.field("sum_click").type)
    assert sorted(raw["sum_click"].to_pylist()) == [1, 4, 12]
    # the delivery is archived as delivered, with its checksum in the manifest
    assert not landing.exists(inbox)
    archived = m["files"][0]["archived_to"]
    assert landing.read_bytes(archived).decode().startswith(VLE_HEADER)
    assert m["files"][0]["sha256"] == landing.sha256(archived)
    assert lake.read_json(f"raw/education/studentVle/dt={DAY}/_manifest.json") == m


def test_bad_rows_are_kept_with_the_rule_they_broke(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    landing = Lake.landing(settings)
    bad = [
        "AAA,2024J,11391,546669,0,abc",  # not an integer
        "AAA,2024J,,546669,0,3",  # null key
        "AAA,2024J,11391,546669",  # short line
    ]
    deliver(landing, "education", "studentVle", VLE_HEADER + "\n".join(VLE_GOOD + bad) + "\n")

    m = ingest.ingest_table("education", "studentVle", DAY, settings)

    assert m["rows_in"] == 6 and m["rows_written"] == 3 and m["rows_rejected"] == 3
    rows = quarantine(lake, "education", "studentVle")
    by_record = {r["_record"]: r for r in rows if r["_record"]}
    assert by_record[bad[0]]["_rule"] == RULE_CAST
    assert "sum_click" in by_record[bad[0]]["_reason"]
    assert by_record[bad[2]]["_rule"] == RULE_MALFORMED
    null_row = next(r for r in rows if r["_rule"] == RULE_NOT_NULL)
    assert "id_student" in null_row["_reason"]
    assert json.loads(null_row["_record"])["id_site"] == "546669"
    assert m["rejected_by_rule"] == {
        RULE_CAST: 1, RULE_NOT_NULL: 1, RULE_MALFORMED: 1,
    }


def test_rerun_replaces_never_duplicates(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    landing = Lake.landing(settings)
    deliver(landing, "education", "studentVle",
            VLE_HEADER + "\n".join([*VLE_GOOD, "AAA,2024J,1,2,0,x"]) + "\n")
    first = ingest.ingest_table("education", "studentVle", DAY, settings)
    raw1 = lake.read_partition("raw", "education/studentVle", DAY)
    q1 = quarantine(lake, "education", "studentVle")

    second = ingest.ingest_table("education", "studentVle", DAY, settings)  # from the archive
    assert lake.read_partition("raw", "education/studentVle", DAY).equals(raw1)
    assert quarantine(lake, "education", "studentVle") == q1
    assert {k: v for k, v in second.items() if k != "files"} == {
        k: v for k, v in first.items() if k != "files"
    }
    assert len(landing.ls(f"landing/_archive/education/studentVle/{DAY}")) == 1


def test_corrected_redelivery_wins_and_the_old_file_is_kept(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    landing = Lake.landing(settings)
    deliver(landing, "education", "studentVle", VLE_HEADER + VLE_GOOD[0] + "\n")
    ingest.ingest_table("education", "studentVle", DAY, settings)
    deliver(landing, "education", "studentVle", VLE_HEADER + "\n".join(VLE_GOOD) + "\n")

    m = ingest.ingest_table("education", "studentVle", DAY, settings)

    assert m["rows_written"] == 3
    assert lake.read_partition("raw", "education/studentVle", DAY).num_rows == 3
    archive = landing.ls(f"landing/_archive/education/studentVle/{DAY}")
    assert len(archive) == 2, "the first delivery must be kept beside the correction"


def test_missing_delivery_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(DeliveryMissing, match="education.studentVle.*2024-10-01"):
        ingest.ingest_table("education", "studentVle", DAY, settings)
    assert missing_deliveries("education", DAY, settings)[-1] == "studentVle"
    assert not ingest.delivery_ready("education", DAY, settings)


def test_the_sensor_waits_from_the_runs_start_not_per_attempt(settings: Settings) -> None:
    """A retried sensor (killed under a scheduler that died) keeps the run's deadline: past
    it, the poke fails at once, naming what is missing, as an error Airflow does not
    retry."""
    from datetime import UTC, datetime, timedelta

    from airflow.sdk.exceptions import AirflowFailException

    recent = datetime.now(UTC) - timedelta(seconds=settings.delivery_timeout_s - 60)
    assert not ingest.delivery_ready("education", DAY, settings, waiting_since=str(recent))
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.delivery_timeout_s + 1)
    with pytest.raises(DeliveryMissing, match="did not arrive within .*studentVle") \
            as caught:
        ingest.delivery_ready("education", DAY, settings, waiting_since=str(long_ago))
    assert isinstance(caught.value, AirflowFailException)


def test_missing_column_fails_and_keeps_the_delivery(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    landing = Lake.landing(settings)
    inbox = deliver(landing, "education", "studentVle",
                    "code_module,code_presentation,id_student,id_site,date\nAAA,2024J,1,2,0\n")
    with pytest.raises(SchemaMismatch, match="sum_click"):
        ingest.ingest_table("education", "studentVle", DAY, settings)
    assert landing.exists(inbox)
    assert not lake.exists(f"raw/education/studentVle/dt={DAY}/part-0.parquet")


def test_extra_column_is_ignored_with_a_warning(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    landing = Lake.landing(settings)
    body = VLE_HEADER.strip() + ",browser\n" + "\n".join(f"{r},firefox" for r in VLE_GOOD) + "\n"
    deliver(landing, "education", "studentVle", body)
    m = ingest.ingest_table("education", "studentVle", DAY, settings)
    assert m["rows_written"] == 3
    assert "browser" in m["warnings"][0]
    raw = lake.read_partition("raw", "education/studentVle", DAY)
    assert "browser" not in raw.column_names


def test_pii_is_pseudonymized_or_dropped(any_settings: Settings) -> None:
    lake = Lake.from_settings(any_settings)
    landing = Lake.landing(any_settings)
    contract = get_contract("education", "studentInfo")
    values = {
        "code_module": "AAA", "code_presentation": "2024J", "id_student": "11391",
        "gender": "M", "region": "East Anglian Region", "highest_education": "HE Qualification",
        "imd_band": "90-100%", "age_band": "55<=", "num_of_prev_attempts": "0",
        "studied_credits": "240", "disability": "N", "final_result": "Pass",
        "first_name": "Ada", "last_name": "Lovelace", "email": "Ada.Lovelace@example.org",
        "date_of_birth": "1961-12-10", "address": "12 Analytical Row, Marlow",
    }
    header = contract.column_names
    good = ",".join(f'"{values[c]}"' for c in header)
    broken = good.replace('"240"', '"lots"')
    deliver(landing, "education", "studentInfo",
            ",".join(header) + "\n" + good + "\n" + broken + "\n")

    ingest.ingest_table("education", "studentInfo", DAY, any_settings)

    raw = lake.read_partition("raw", "education/studentInfo", DAY)
    for clear in ("first_name", "last_name", "email", "address", "date_of_birth"):
        assert clear not in raw.column_names
    row = raw.to_pylist()[0]
    assert row["email_hash"] == pseudonymize("ada.lovelace@example.org",
                                                    pii_key(any_settings))
    assert row["date_of_birth_year"] == 1961
    # rejected rows keep no PII in clear either
    text = json.dumps(quarantine(lake, "education", "studentInfo"))
    assert "Lovelace" not in text and "Ada" not in text and "Analytical" not in text


def test_jsonl_broken_line_is_quarantined(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    landing = Lake.landing(settings)
    contract = get_contract("business", "orders")
    good = {c.name: _sample(c.type) for c in contract.columns}
    lines = [json.dumps(good), '{"order_id": 2, "customer_id": ', json.dumps(
        {**good, "order_id": _sample("int64", 3)})]
    deliver(landing, "business", "orders", "\n".join(lines) + "\n")

    m = ingest.ingest_table("business", "orders", DAY, settings)

    assert (m["rows_in"], m["rows_written"], m["rows_rejected"]) == (3, 2, 1)
    (bad,) = quarantine(lake, "business", "orders")
    assert bad["_rule"] == RULE_MALFORMED and bad["_line"] == 2


def test_truncated_parquet_is_a_clear_error(settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    landing = Lake.landing(settings)
    contract = get_contract("business", "products")
    table = pa.table({c.name: pa.array([None], c.arrow_type) for c in contract.columns})
    pq.write_table(table, tmp_path / "p.parquet")
    data = (tmp_path / "p.parquet").read_bytes()
    inbox = deliver(landing, "business", "products", data[: len(data) // 2])
    with pytest.raises(SchemaMismatch, match="cannot read Parquet"):
        ingest.ingest_table("business", "products", DAY, settings)
    assert landing.exists(inbox)


def _sample(kind: str, n: int = 1) -> object:
    return {
        "string": f"s{n}", "int32": n, "int64": n, "float64": 1.5, "decimal": "12.50",
        "bool": True, "date": "2024-10-01", "timestamp": "2024-10-01 10:00:00",
    }[kind]


def test_a_delivery_of_several_files_keeps_each_files_identity(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    landing = Lake.landing(settings)
    deliver(landing, "education", "studentVle", VLE_HEADER + VLE_GOOD[0] + "\n", name="part1.csv")
    reordered = "sum_click,date,id_site,id_student,code_presentation,code_module\n"
    deliver(landing, "education", "studentVle", reordered + "7,0,546669,11400,2024J,CCC\n"
            "oops,0,546669,11401,2024J,CCC\n", name="part2.csv")

    m = ingest.ingest_table("education", "studentVle", DAY, settings)

    assert sorted(f["name"] for f in m["files"]) == ["part1.csv", "part2.csv"]
    assert (m["rows_written"], m["rows_rejected"]) == (2, 1)
    raw = lake.read_partition("raw", "education/studentVle", DAY).to_pylist()
    assert {(r["code_module"], r["sum_click"]) for r in raw} == {("AAA", 4), ("CCC", 7)}
    (bad,) = quarantine(lake, "education", "studentVle")
    assert bad["_source_file"] == "part2.csv" and bad["_line"] == 3
