"""Validation: GX suites on DuckDB gate publishing; bad rows are quarantined with the rule
they broke; delivered = published + quarantined + rejected, per table and interval."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.storage.lake import Lake
from lakeops.synthetic.generate import generate
from lakeops.validate import audit, publish, workspace

pytestmark = pytest.mark.slow
DAY1, DAY2 = "2024-10-01", "2024-10-02"
CORPUS = Path(__file__).parent / "bad_deliveries"


def _run(settings: Settings, source: str, day: str) -> dict[str, dict]:
    for table in TABLES[source]:
        ingest.ingest_table(source, table, day, settings)
    return publish.validate_interval(source, day, settings)


def _curated(lake: Lake, dataset: str, day: str) -> list[dict]:
    return lake.read_partition("curated", dataset, day).to_pylist()


@pytest.mark.parametrize("source", list(TABLES))
def test_clean_data_is_published_whole(any_settings: Settings, source: str) -> None:
    settings = any_settings
    lake = Lake.from_settings(settings)
    generate(Lake.landing(settings), source, date(2024, 10, 1), 1, scale=0.01, seed=5)

    published = _run(settings, source, DAY1)

    for table, record in published.items():
        assert record["quarantined_at_validation"] == 0, table
        assert record["published"] == record["delivered"] - record["rejected_at_ingest"]
    results = lake.read_table("monitoring", f"validation_results/{source}",
                              name=f"{TABLES[source][-1]}.parquet").to_pylist()
    assert results and all(r["success"] for r in results if r["severity"] == "critical")
    assert b"Great Expectations" in lake.read_bytes("reports/data_docs/index.html")
    assert lake.exists(f"curated/{source}/{TABLES[source][0]}/dt={DAY1}/part-0.parquet")


def test_data_docs_keep_every_run_as_pages_are_added(settings: Settings) -> None:
    """Each validation renders its own pages; the index lists every run so far."""
    lake = Lake.from_settings(settings)
    generate(Lake.landing(settings), "business", date(2024, 10, 1), 2, scale=0.01, seed=5)
    _run(settings, "business", DAY1)
    _run(settings, "business", DAY2)

    index = lake.read_bytes("reports/data_docs/index.html").decode()
    pages = [f.path for f in lake.ls("reports/data_docs/validations", recursive=True)
             if f.path.endswith(".html")]
    for table in TABLES["business"]:
        suite = f"business.{table}"
        for day in (DAY1, DAY2):
            assert f"{suite}@{day}" in index, (suite, day)
            assert any(f"{suite}@{day}" in p for p in pages), (suite, day)


def test_planted_bad_rows_are_quarantined_with_their_rule(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    generate(Lake.landing(settings), "business", date(2024, 10, 1), 1, scale=0.01, seed=5,
             bad_records=0.02)

    published = _run(settings, "business", DAY1)

    rules = set()
    for table, record in published.items():
        assert record["published"] + record["quarantined_at_validation"] + record[
            "rejected_at_ingest"] == record["delivered"], table
        bad = lake.read_partition("quarantine", f"business/{table}", DAY1,
                                  name=audit.VALIDATE_FILE).to_pylist()
        rules |= {r["_rule"] for r in bad}
        # nothing quarantined reaches curated
        curated_rows = {str(sorted(r.items())) for r in _curated(lake, f"business/{table}", DAY1)}
        assert len(curated_rows) == record["published"]
    assert {"primary_key.unique", "foreign_key.orders"} <= rules
    items = _curated(lake, "business/order_items", DAY1)
    keys = [(r["order_id"], r["line_number"]) for r in items]
    assert len(keys) == len(set(keys)), "curated keys are unique"
    # a child of a quarantined parent is quarantined too: curated stays referentially whole
    orders = {r["order_id"] for r in _curated(lake, "business/orders", DAY1)}
    quarantined_orders = {json.loads(r["_record"])["order_id"] for r in lake.read_partition(
        "quarantine", "business/orders", DAY1, name=audit.VALIDATE_FILE).to_pylist()}
    assert quarantined_orders - orders, "the planted bad orders include some quarantined whole"
    assert {r["order_id"] for r in items} <= orders
    assert {r["order_id"] for r in _curated(lake, "business/payments", DAY1)} <= orders


def _deliver(landing: Lake, source: str, table: str, body: str, day: str = DAY1) -> None:
    landing.write_bytes(f"landing/{source}/{table}/{day}/{table}.csv", body.encode())


def _education_parents(landing: Lake) -> None:
    _deliver(landing, "education", "courses",
             "code_module,code_presentation,module_presentation_length\nAAA,2024J,268\n")
    _deliver(landing, "education", "vle", "id_site,code_module,code_presentation,activity_type,"
             "week_from,week_to\n546669,AAA,2024J,resource,,\n")
    _deliver(landing, "education", "studentRegistration",
             "code_module,code_presentation,id_student,date_registration,date_unregistration\n"
             + "".join(f"AAA,2024J,{s},-10,\n" for s in (11391, 11392, 11393)))


@pytest.mark.parametrize(("case", "rule", "kept"), [
    ("duplicate_keys", "primary_key.unique", 2),
    ("orphan_foreign_keys", "foreign_key.vle", 1),
])
def test_bad_corpus_rows_are_quarantined(settings: Settings, case: str, rule: str,
                                         kept: int) -> None:
    lake = Lake.from_settings(settings)
    _education_parents(Lake.landing(settings))
    (path,) = CORPUS.glob(f"{case}__*")
    _deliver(Lake.landing(settings), "education", "studentVle", path.read_text())
    for table in ("courses", "vle", "studentRegistration", "studentVle"):
        ingest.ingest_table("education", table, DAY1, settings)

    summary = audit.validate_table("education", "studentVle", DAY1, settings)
    record = publish.publish_table("education", "studentVle", DAY1, settings)

    assert rule in summary["failed"]
    bad = lake.read_partition("quarantine", "education/studentVle", DAY1,
                              name=audit.VALIDATE_FILE).to_pylist()
    assert [r["_rule"] for r in bad] == [rule]
    assert record["published"] == kept == len(_curated(lake, "education/studentVle", DAY1))
    assert record["published"] + record["quarantined_at_validation"] == record["delivered"]


def test_future_dated_orders_are_quarantined(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    generate(Lake.landing(settings), "business", date(2024, 10, 1), 1, scale=0.01, seed=5)
    ingest.ingest_table("business", "customers", DAY1, settings)
    ingest.ingest_table("business", "order_items", DAY1, settings)
    landing = Lake.landing(settings)
    landing.delete(f"landing/business/orders/{DAY1}")
    landing.write_bytes(f"landing/business/orders/{DAY1}/orders.jsonl",
                        (CORPUS / "future_dates__orders.jsonl").read_bytes())
    ingest.ingest_table("business", "orders", DAY1, settings)

    summary = audit.validate_table("business", "orders", DAY1, settings)
    assert "order_ts.in_interval" in summary["failed"]
    rules = {r["_rule"] for r in lake.read_partition(
        "quarantine", "business/orders", DAY1, name=audit.VALIDATE_FILE).to_pylist()}
    assert "order_ts.in_interval" in rules


def test_volume_anomaly_fails_the_table_and_publishes_nothing(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    generate(Lake.landing(settings), "education", date(2024, 10, 1), 3, scale=0.01, seed=5)
    for day in ("2024-10-01", "2024-10-02", "2024-10-03"):
        ingest.ingest_table("education", "studentVle", day, settings)
    day4 = "2024-10-04"
    header = "code_module,code_presentation,id_student,id_site,date,sum_click\n"
    _deliver(Lake.landing(settings), "education", "studentVle", header + "AAA,2024J,1,2,3,4\n",
             day=day4)
    ingest.ingest_table("education", "studentVle", day4, settings)

    with pytest.raises(workspace.ValidationFailed, match="volume.within_band"):
        audit.validate_table("education", "studentVle", day4, settings)
    with pytest.raises(workspace.ValidationFailed):
        publish.publish_table("education", "studentVle", day4, settings)
    assert not lake.exists(f"curated/education/studentVle/dt={day4}/part-0.parquet")
    results = lake.read_partition("monitoring", "validation_results/education", day4,
                                  name="studentVle.parquet").to_pylist()
    volume = next(r for r in results if r["rule"] == "volume.within_band")
    assert volume["success"] is False and volume["observed_value"] == "1"


def test_revalidating_an_interval_replaces_never_duplicates(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    generate(Lake.landing(settings), "business", date(2024, 10, 1), 1, scale=0.01, seed=5,
             bad_records=0.02)
    first = _run(settings, "business", DAY1)
    before = _curated(lake, "business/orders", DAY1)
    second = publish.validate_interval("business", DAY1, settings)
    assert second == first
    assert _curated(lake, "business/orders", DAY1) == before
    con = duckdb.connect()
    path = lake.local_path(f"monitoring/validation_results/business/dt={DAY1}/orders.parquet")
    n = con.execute(f"SELECT count(*), count(DISTINCT rule) FROM '{path}'").fetchone()
    assert n[0] == n[1], "one result row per expectation, replaced on re-run"


@pytest.mark.parametrize(("source", "table"), [("business", "orders"),
                                               ("education", "studentVle")])
def test_a_stale_redelivery_fails_freshness(settings: Settings, source: str, table: str) -> None:
    """Yesterday's events delivered again as today's: the interval fails as a whole."""
    lake = Lake.from_settings(settings)
    generate(Lake.landing(settings), source, date(2024, 10, 1), 1, scale=0.01, seed=5)
    landing = Lake.landing(settings)
    for info in landing.ls(f"landing/{source}/{table}/{DAY1}"):
        name = info.path.rsplit("/", 1)[-1]
        landing.write_bytes(f"landing/{source}/{table}/{DAY2}/{name}",
                            landing.read_bytes(info.path))
    _run(settings, source, DAY1)
    ingest.ingest_table(source, table, DAY2, settings)

    with pytest.raises(workspace.ValidationFailed, match="freshness"):
        audit.validate_table(source, table, DAY2, settings)
    assert not lake.exists(f"curated/{source}/{table}/dt={DAY2}/part-0.parquet")
