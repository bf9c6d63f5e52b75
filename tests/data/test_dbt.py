"""The dbt project over a real lake: generated deliveries, ingested, validated and published
to curated/, hand-made feature partitions, then ``dbt build``. The marts' numbers are
checked against the same figures computed independently from the curated files."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.synthetic.generate import generate
from lakeops.transform.dbt import DbtError, docs, run_dbt
from lakeops.validate import publish

pytestmark = pytest.mark.slow
START = date(2024, 10, 1)
DAYS = 3
MARTS = (
    "education_kpis_weekly", "education_engagement_trend", "education_assessment_performance",
    "business_kpis_daily", "business_revenue_by_category", "ml_education_training",
    "ml_business_training",
)
CLICK_KINDS = ("resource", "oucontent", "url", "subpage", "forumng", "quiz", "homepage", "other")
STUDENT_WEEK = pa.schema(
    [("code_module", pa.string()), ("code_presentation", pa.string()),
     ("id_student", pa.int64()), ("week", pa.int32()), ("as_of_day", pa.int32()),
     ("clicks_week", pa.int64()), ("clicks_total", pa.int64())]
    + [(f"clicks_{kind}", pa.int64()) for kind in CLICK_KINDS]
    + [("active_days_week", pa.int32()), ("active_days_total", pa.int32()),
       ("days_since_last_activity", pa.int32()), ("assessments_submitted", pa.int32()),
       ("mean_lateness_days", pa.float64()), ("late_submissions", pa.int32()),
       ("mean_score", pa.float64()), ("interval", pa.date32())]
)
CUSTOMER_DAY = pa.schema([
    ("customer_id", pa.int64()), ("as_of_date", pa.date32()), ("recency_days", pa.int32()),
    ("frequency", pa.int32()), ("monetary", pa.float64()), ("orders_today", pa.int32()),
    ("avg_order_value", pa.float64()), ("avg_items_per_order", pa.float64()),
    ("distinct_categories", pa.int32()), ("first_order_date", pa.date32()),
])
# feature as-of dates: three whose 30-day label window the order history covers, and the
# three days of data, whose windows it does not
CUSTOMER_DAYS = [date(2024, 9, 1), date(2024, 9, 2), date(2024, 9, 3),
                 START, START + timedelta(days=1), START + timedelta(days=2)]


def _curated(lake: Path, source: str, table: str) -> str:
    return (f"read_parquet('{lake}/curated/{source}/{table}/*/part-0.parquet', "
            f"hive_partitioning=true)")


def _publish_generated_days(settings: Settings) -> None:
    from lakeops.storage.lake import Lake

    landing = Lake.landing(settings)
    for source in TABLES:
        generate(landing, source, START, DAYS, scale=0.01, seed=5)
        for d in range(DAYS):
            day = (START + timedelta(days=d)).isoformat()
            for table in TABLES[source]:
                ingest.ingest_table(source, table, day, settings)
            publish.validate_interval(source, day, settings)


def _write(path: Path, rows: list[dict], schema: pa.Schema) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema), path)


def _student_week_features(lake: Path) -> dict[tuple[int, int], int]:
    """Feature rows for four students of the largest presentation on days 0..2; student 0
    has no row on day 1 (so day 0 carries forward), student 1 starts on day 1. Returns
    clicks_total per (student, as_of_day): a value that identifies the row."""
    module, presentation = duckdb.sql(
        f"select code_module, code_presentation from "
        f"{_curated(lake, 'education', 'studentRegistration')} "
        f"group by all order by count(*) desc, 1, 2 limit 1").fetchone()
    students = [s for (s,) in duckdb.sql(
        f"select distinct id_student from {_curated(lake, 'education', 'studentInfo')} "
        f"where code_module = '{module}' and code_presentation = '{presentation}' "
        f"order by 1 limit 4").fetchall()]
    planted = {}
    for day in range(DAYS):
        rows = []
        for k, student in enumerate(students):
            if (k, day) in ((0, 1), (1, 0)):
                continue
            planted[(student, day)] = 1000 * k + day
            rows.append({
                "code_module": module, "code_presentation": presentation,
                "id_student": student, "week": day // 7, "as_of_day": day,
                "clicks_week": day + 1, "clicks_total": 1000 * k + day,
                **{f"clicks_{kind}": 0 for kind in CLICK_KINDS},
                "active_days_week": 1, "active_days_total": day + 1,
                "days_since_last_activity": 0, "assessments_submitted": 0,
                "mean_lateness_days": None, "late_submissions": 0, "mean_score": None,
                "interval": START + timedelta(days=day),
            })
        dt = START + timedelta(days=day)
        _write(lake / f"features/education/student_week/dt={dt}/part-0.parquet", rows,
               STUDENT_WEEK)
    return planted


def _feature_customers(lake: Path) -> list[int]:
    """Eight customers of the day-0 accounts: the first four (by id) with an order that
    brings revenue in the generated days and the first four without one, so the label
    takes both values."""
    ordered = {c for (c,) in duckdb.sql(
        f"select distinct customer_id from {_curated(lake, 'business', 'orders')} "
        f"where status not in ('cancelled', 'returned')").fetchall()}
    ids = [c for (c,) in duckdb.sql(
        f"select customer_id from {_curated(lake, 'business', 'customers')} "
        f"where signup_date < DATE '{START}' order by 1").fetchall()]
    return sorted([c for c in ids if c in ordered][:4] + [c for c in ids if c not in ordered][:4])


def _customer_day_features(lake: Path) -> None:
    for as_of in CUSTOMER_DAYS:
        rows = [{"customer_id": c, "as_of_date": as_of, "recency_days": 1, "frequency": c,
                 "monetary": 10.0 * c, "orders_today": 0, "avg_order_value": 10.0,
                 "avg_items_per_order": 1.5, "distinct_categories": 1,
                 "first_order_date": None} for c in _feature_customers(lake)]
        _write(lake / f"features/business/customer_day/dt={as_of}/part-0.parquet", rows,
               CUSTOMER_DAY)


def _mart(lake: Path, name: str) -> list[dict]:
    return pq.read_table(lake / "marts" / name / "part-0.parquet").to_pylist()


@pytest.fixture
def curated(settings: Settings) -> tuple[Settings, Path, dict[tuple[int, int], int]]:
    """Three published days of both sources and hand-made feature partitions."""
    _publish_generated_days(settings)
    lake = Path(settings.lake)
    planted = _student_week_features(lake)
    _customer_day_features(lake)
    return settings, lake, planted


@pytest.fixture
def built(curated: tuple[Settings, Path, dict[tuple[int, int], int]],
          ) -> tuple[Settings, Path, dict[tuple[int, int], int]]:
    run_dbt(["build"], curated[0])
    return curated


def test_dbt_build_marts_match_the_curated_lake(
        built: tuple[Settings, Path, dict[tuple[int, int], int]]) -> None:
    settings, lake, planted = built

    for name in MARTS:
        assert (lake / "marts" / name / "part-0.parquet").is_file(), name
        assert list((lake / "marts" / name).iterdir()) == [
            lake / "marts" / name / "part-0.parquet"], "one file per mart"
    check_business_kpis(lake)
    _check_revenue_by_category(lake)
    check_education_kpis(lake)
    check_ml_education_training(lake, planted)
    _check_ml_business_training(lake)
    _check_snapshot_staging(settings, lake)

    # a re-run replaces the mart's file; nothing is appended
    def by_day() -> list[dict]:  # a mart's rows come in no particular order
        return sorted(_mart(lake, "business_kpis_daily"), key=lambda r: r["order_date"])

    before = by_day()
    run_dbt(["run", "--select", "business_kpis_daily"], settings)
    assert by_day() == before

    published = Path(docs(settings))
    for name in ("index.html", "manifest.json", "catalog.json"):
        assert (published / name).is_file(), name
    catalog = json.loads((published / "catalog.json").read_text())
    assert {f"model.lakeops.{m}" for m in MARTS} <= set(catalog["nodes"])
    assert published == lake / "reports" / "dbt_docs"


def check_business_kpis(lake: Path) -> None:
    orders = _curated(lake, "business", "orders")
    expected = {
        day: (n, revenue, revenue_orders)
        for day, n, revenue, revenue_orders in duckdb.sql(
            f"select cast(order_ts as date), count(*), "
            f"sum(total_amount) filter (where status not in ('cancelled', 'returned')), "
            f"count(*) filter (where status not in ('cancelled', 'returned')) "
            f"from {orders} group by 1").fetchall()
    }
    rows = {r["order_date"]: r for r in _mart(lake, "business_kpis_daily")}
    assert set(rows) == set(expected) == {START + timedelta(days=d) for d in range(DAYS)}
    for day, (n, revenue, revenue_orders) in expected.items():
        assert rows[day]["orders"] == n
        assert rows[day]["revenue"] == revenue, day
        assert rows[day]["average_order_value"] == pytest.approx(
            float(revenue) / revenue_orders)

    # repeat customers: a customer whose order that day is not their first in the lake
    seen: set[int] = set()
    repeat: dict[date, set[int]] = defaultdict(set)
    customers: dict[date, set[int]] = defaultdict(set)
    for customer, day in duckdb.sql(
            f"select customer_id, cast(order_ts as date) from {orders} "
            f"order by order_ts, order_id").fetchall():
        customers[day].add(customer)
        if customer in seen:
            repeat[day].add(customer)
        seen.add(customer)
    for day, row in rows.items():
        assert row["customers"] == len(customers[day])
        assert row["repeat_customer_rate"] == pytest.approx(
            len(repeat[day]) / len(customers[day]))
    assert rows[START + timedelta(days=2)]["repeat_customers"] > 0


def _check_revenue_by_category(lake: Path) -> None:
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for row in _mart(lake, "business_revenue_by_category"):
        by_day[row["order_date"]] += row["revenue"]
    kpis = {r["order_date"]: r["revenue"] for r in _mart(lake, "business_kpis_daily")}
    assert by_day == kpis


def check_education_kpis(lake: Path) -> None:
    clicks = dict(duckdb.sql(
        f"select code_module || '/' || code_presentation, sum(sum_click) "
        f"from {_curated(lake, 'education', 'studentVle')} group by 1").fetchall())
    students = dict(duckdb.sql(
        f"select code_module || '/' || code_presentation, count(distinct id_student) "
        f"from {_curated(lake, 'education', 'studentRegistration')} group by 1").fetchall())
    rows = _mart(lake, "education_kpis_weekly")
    total: dict[str, int] = defaultdict(int)
    enrolled: dict[str, int] = defaultdict(int)
    for row in rows:
        key = f"{row['code_module']}/{row['code_presentation']}"
        total[key] += row["clicks"]
        enrolled[key] = max(enrolled[key], row["enrolments"])
        assert 0 <= (row["withdrawal_rate"] or 0) <= 1
        assert 0 <= (row["completion_rate"] or 0) <= 1
    assert dict(total) == clicks
    assert dict(enrolled) == students


def check_ml_education_training(lake: Path, planted: dict[tuple[int, int], int]) -> None:
    rows = _mart(lake, "ml_education_training")
    assert rows, "training rows"
    # no feature row from after the prediction day, and always the newest one before it
    for row in rows:
        student, day, used = row["student_id"], row["prediction_day"], row["feature_as_of_day"]
        assert used <= day
        assert used == max(d for (s, d) in planted if s == student and d <= day)
        assert row["clicks_total"] == planted[(student, used)]
    # the label comes from studentInfo's final result; withdrawn students leave on their day
    info = {s: (r, u) for s, r, u in duckdb.sql(
        f"select i.id_student, i.final_result, max(r.date_unregistration) "
        f"from {_curated(lake, 'education', 'studentInfo')} i "
        f"join {_curated(lake, 'education', 'studentRegistration')} r using "
        f"(code_module, code_presentation, id_student) group by all").fetchall()}
    expected = {(s, p) for (s, _) in planted for p in range(DAYS)
                if any(ps == s and d <= p for (ps, d) in planted)
                and info[s][0] is not None and (info[s][1] is None or info[s][1] > p)}
    assert {(r["student_id"], r["prediction_day"]) for r in rows} == expected
    for row in rows:
        assert row["is_at_risk"] == (info[row["student_id"]][0] in ("Withdrawn", "Fail"))
    carried = [r for r in rows if r["feature_age_days"] > 0]
    assert carried, "a day without features carries the previous row forward"


def _check_ml_business_training(lake: Path) -> None:
    rows = _mart(lake, "ml_business_training")
    newest = duckdb.sql(f"select max(cast(order_ts as date)) "
                        f"from {_curated(lake, 'business', 'orders')}").fetchone()[0]
    complete = [d for d in CUSTOMER_DAYS if d <= newest - timedelta(days=30)]
    assert complete == CUSTOMER_DAYS[:3]
    assert {(r["customer_id"], r["as_of_date"]) for r in rows} == {
        (c, d) for c in _feature_customers(lake) for d in complete}
    ordered = duckdb.sql(
        f"select customer_id, cast(order_ts as date) from "
        f"{_curated(lake, 'business', 'orders')} "
        f"where status not in ('cancelled', 'returned')").fetchall()
    for row in rows:
        as_of = row["as_of_date"]
        label = any(c == row["customer_id"] and as_of < d <= as_of + timedelta(days=30)
                    for c, d in ordered)
        assert row["reordered_within_30d"] is label
    assert any(r["reordered_within_30d"] for r in rows)
    assert not all(r["reordered_within_30d"] for r in rows)


def _check_snapshot_staging(settings: Settings, lake: Path) -> None:
    """Snapshot tables are redelivered daily; staging holds the newest partition only."""
    newest = duckdb.sql(f"select count(*) from {_curated(lake, 'business', 'products')} "
                        f"where dt = (select max(dt) from "
                        f"{_curated(lake, 'business', 'products')})").fetchone()[0]
    with duckdb.connect(str(settings.home / "dbt" / "lakeops.duckdb"), read_only=True) as con:
        staged = con.sql("select count(*), count(distinct product_id) "
                         "from stg_business__products").fetchone()
    assert staged == (newest, newest)


def test_dbt_failure_names_the_failing_model(settings: Settings) -> None:
    """No features written yet: the run fails and says which model could not be built."""
    with pytest.raises(DbtError) as failure:
        run_dbt(["run", "--select", "stg_features__customer_day"], settings)

    assert failure.value.nodes == ["model stg_features__customer_day"]
    assert "stg_features__customer_day" in str(failure.value)
