"""Spark feature jobs on tiny curated tables, checked against hand-computed numbers: in a
Spark session of the test's, and through Spark's own spark-submit as Airflow runs them."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from lakeops.core.settings import Settings
from lakeops.storage.lake import Lake
from lakeops.transform import features

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("lakeops-tests")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false").getOrCreate())
    yield session
    session.stop()


def _write(lake: Lake, dataset: str, day: str, rows: dict[str, list]) -> None:
    lake.write_partition("curated", dataset, day, pa.table(rows))


def _education(lake: Lake) -> None:
    for day in ("2024-10-01", "2024-10-02"):
        _write(lake, "education/vle", day, {
            "id_site": [1, 2, 3], "code_module": ["AAA"] * 3,
            "code_presentation": ["2024J"] * 3, "activity_type": ["resource", "quiz", "glossary"]})
        _write(lake, "education/assessments", day, {
            "id_assessment": [10, 11], "code_module": ["AAA"] * 2,
            "code_presentation": ["2024J"] * 2, "assessment_type": ["TMA", "Exam"],
            "date": pa.array([7, None], pa.int32()), "weight": [50.0, 50.0]})
    clicks = {  # student 7 on days 5, 6 (week 0) and 8 (week 1); student 8 only day 2
        "2024-10-01": [(7, 1, 5, 3), (7, 3, 6, 4), (8, 2, 2, 1)],
        "2024-10-02": [(7, 1, 8, 2), (7, 2, 8, 5)],
    }
    for day, rows in clicks.items():
        _write(lake, "education/studentVle", day, {
            "code_module": ["AAA"] * len(rows), "code_presentation": ["2024J"] * len(rows),
            "id_student": [r[0] for r in rows], "id_site": [r[1] for r in rows],
            "date": pa.array([r[2] for r in rows], pa.int32()),
            "sum_click": pa.array([r[3] for r in rows], pa.int32())})
    # student 7 submits TMA 10 (deadline day 7) on day 8: 1 day late, score 70; student 9
    # only submits the exam on day 8 (no deadline, score 90); student 8's day-30
    # submission lies after the as-of day and is ignored
    _write(lake, "education/studentAssessment", "2024-10-02", {
        "id_assessment": [10, 11, 10], "id_student": [7, 9, 8],
        "date_submitted": pa.array([8, 8, 30], pa.int32()),
        "is_banked": pa.array([0, 0, 0], pa.int32()), "score": [70.0, 90.0, 50.0]})


def test_student_week_by_hand(spark: object, settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    _education(lake)
    out = features.run_job("education_features", "2024-10-02", settings, spark=spark)  # type: ignore[arg-type]

    rows = {r["id_student"]: r for r in lake.read_partition(
        "features", "education/student_week", "2024-10-02").to_pylist()}
    assert out["rows"] == 3 and set(rows) == {7, 8, 9}
    s7 = rows[7]
    # as-of day = newest day of the interval's clicks = 8, week 8 // 7 = 1 (days 7..8)
    assert (s7["as_of_day"], s7["week"]) == (8, 1)
    assert s7["clicks_week"] == 2 + 5  # day 8 only
    assert s7["clicks_total"] == 3 + 4 + 2 + 5
    assert (s7["clicks_resource"], s7["clicks_quiz"], s7["clicks_other"]) == (3 + 2, 5, 4)
    assert (s7["active_days_week"], s7["active_days_total"]) == (1, 3)  # {8}; {5, 6, 8}
    assert s7["days_since_last_activity"] == 0
    assert (s7["assessments_submitted"], s7["mean_lateness_days"], s7["late_submissions"],
            s7["mean_score"]) == (1, 1.0, 1, 70.0)  # day 8 vs deadline 7
    s8 = rows[8]
    assert (s8["clicks_total"], s8["clicks_week"], s8["days_since_last_activity"]) == (1, 0, 6)
    assert s8["assessments_submitted"] == 0 and s8["mean_score"] is None  # day 30 > as-of
    s9 = rows[9]  # submitted without clicking: zero clicks, no last activity
    assert (s9["clicks_total"], s9["days_since_last_activity"]) == (0, None)
    assert (s9["assessments_submitted"], s9["mean_lateness_days"], s9["mean_score"]) == (
        1, None, 90.0)  # the exam has no deadline


def test_a_rerun_replaces_the_partition(spark: object, settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    _education(lake)
    for _ in range(2):
        features.run_job("education_features", "2024-10-02", settings, spark=spark)  # type: ignore[arg-type]
    assert lake.read_partition("features", "education/student_week", "2024-10-02").num_rows == 3
    assert [f.path for f in lake.ls("features/education/student_week", recursive=True)] == [
        "features/education/student_week/dt=2024-10-02/part-0.parquet"]


def _business(lake: Lake) -> None:
    def ts(day: int, hour: int) -> datetime:
        return datetime(2024, 10, day, hour)

    for day in ("2024-10-01", "2024-10-02"):
        _write(lake, "business/products", day, {
            "product_id": [1, 2, 3], "category": ["books", "toys", "books"]})
    orders = {
        "2024-10-01": [(100, 1, ts(1, 9), "placed", "20.00"), (101, 2, ts(1, 10), "cancelled",
                                                               "99.00")],
        "2024-10-02": [(102, 1, ts(2, 11), "shipped", "10.00"), (103, 2, ts(2, 12), "placed",
                                                                "5.00")],
        "2024-10-03": [(104, 1, ts(3, 9), "placed", "50.00")],  # after the interval
    }
    items = {"2024-10-01": [(100, 1, 2), (100, 3, 1), (101, 2, 9)],
             "2024-10-02": [(102, 2, 4), (103, 3, 1)], "2024-10-03": [(104, 2, 1)]}
    for day, rows in orders.items():
        _write(lake, "business/orders", day, {
            "order_id": [r[0] for r in rows], "customer_id": [r[1] for r in rows],
            "order_ts": pa.array([r[2] for r in rows], pa.timestamp("us")),
            "status": [r[3] for r in rows],
            "total_amount": pa.array([Decimal(r[4]) for r in rows], pa.decimal128(12, 2))})
        _write(lake, "business/order_items", day, {
            "order_id": [r[0] for r in items[day]], "product_id": [r[1] for r in items[day]],
            "quantity": pa.array([r[2] for r in items[day]], pa.int32())})


def test_customer_day_by_hand(spark: object, settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    _business(lake)
    features.run_job("business_features", "2024-10-02", settings, spark=spark)  # type: ignore[arg-type]

    rows = {r["customer_id"]: r for r in lake.read_partition(
        "features", "business/customer_day", "2024-10-02").to_pylist()}
    c1 = rows[1]  # orders 100 (1 Oct, 20.00, 3 items) and 102 (2 Oct, 10.00, 4 items)
    assert c1["as_of_date"] == date(2024, 10, 2)
    assert (c1["recency_days"], c1["frequency"], c1["monetary"], c1["orders_today"]) == (
        0, 2, 30.0, 1)
    assert (c1["avg_order_value"], c1["avg_items_per_order"]) == (15.0, 3.5)
    assert c1["distinct_categories"] == 2  # books (1, 3) and toys (2)
    assert c1["first_order_date"] == date(2024, 10, 1)
    c2 = rows[2]  # the cancelled order 101 does not count; 103 on 2 Oct
    assert (c2["frequency"], c2["monetary"], c2["distinct_categories"]) == (1, 5.0, 1)
    assert c2["first_order_date"] == date(2024, 10, 2)


def test_spark_submit_runs_the_job_and_logs_it(settings: Settings,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """The job as Airflow runs it: Spark's own spark-submit, output in the log."""
    import logging

    from lakeops.transform.spark import submit

    lake = Lake.from_settings(settings)
    _business(lake)
    small = settings.model_copy(update={"spark_master": "local[1]",
                                        "spark_driver_memory": "512m"})
    with caplog.at_level(logging.INFO, logger="lakeops.transform.spark"):
        submit("business_features", "2024-10-03", small)

    out = lake.read_partition("features", "business/customer_day", "2024-10-03")
    c1 = {r["customer_id"]: r for r in out.to_pylist()}[1]
    assert (c1["frequency"], c1["monetary"], c1["orders_today"]) == (3, 80.0, 1)
    assert any("business_features 2024-10-03: 2 rows" in r.message for r in caplog.records)


def test_a_failing_job_names_itself(settings: Settings) -> None:
    from lakeops.transform.spark import submit

    with pytest.raises(RuntimeError, match="business_features for 2024-10-03 failed"):
        submit("business_features", "2024-10-03",  # nothing curated yet
               settings.model_copy(update={"spark_master": "local[1]"}))


def test_one_spark_submit_covers_several_intervals(spark: object, settings: Settings,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A run with a backfill's intervals starts one JVM: both partitions are written, each
    the same as a run for that interval alone."""
    import logging

    from lakeops.transform.spark import submit

    lake = Lake.from_settings(settings)
    _business(lake)
    small = settings.model_copy(update={"spark_master": "local[1]",
                                        "spark_driver_memory": "512m"})
    with caplog.at_level(logging.INFO, logger="lakeops.transform.spark"):
        submit("business_features", ["2024-10-03", "2024-10-02"], small)
    starts = [r for r in caplog.records if r.message.startswith("spark-submit ")]
    assert len(starts) == 1 and "2 interval(s): 2024-10-02, 2024-10-03" in starts[0].message
    done = [m.group(1) for r in caplog.records
            if (m := re.search(r"business_features (\S+): \d+ rows -> ", r.message))]
    assert done == ["2024-10-02", "2024-10-03"]  # oldest first, in the task log

    def rows(day: str) -> list[dict]:
        table = lake.read_partition("features", "business/customer_day", day)
        return sorted(table.to_pylist(), key=lambda r: r["customer_id"])

    together = {day: rows(day) for day in ("2024-10-02", "2024-10-03")}
    for day in together:
        features.run_job("business_features", day, settings, spark=spark)  # type: ignore[arg-type]
        assert rows(day) == together[day]
    assert together["2024-10-03"][0]["frequency"] == 3


def _as_history(lake: Lake, datasets: list[str], days: list[str]) -> None:
    """Fold the daily partitions of ``days`` into one historical load on the last day,
    as ingest publishes one: one partition, manifest with ``history_from``."""
    for ds in datasets:
        parts = [lake.read_partition("curated", ds, d) for d in days
                 if lake.exists(f"curated/{ds}/dt={d}/part-0.parquet")]
        for d in days:
            lake.delete(f"curated/{ds}/dt={d}")
        lake.write_partition("curated", ds, days[-1], pa.concat_tables(parts))
        lake.write_json(f"curated/{ds}/dt={days[-1]}/_manifest.json",
                        {"interval": days[-1], "history_from": days[0]})


def test_a_historical_load_gets_a_partition_per_day_as_of_that_day(
        spark: object, settings: Settings) -> None:
    """The same orders as daily deliveries or as one historical load give the same
    features for every day; the load's run writes all three days."""
    days = ["2024-10-01", "2024-10-02", "2024-10-03"]
    daily = Lake.from_settings(settings)
    _business(daily)

    def rows(lake: Lake, day: str) -> list[dict]:
        table = lake.read_partition("features", "business/customer_day", day)
        return sorted(table.to_pylist(), key=lambda r: r["customer_id"])

    expected = {}
    for day in days:
        features.run_job("business_features", day, settings, spark=spark)  # type: ignore[arg-type]
        expected[day] = rows(daily, day)
    other = settings.model_copy(update={"home": settings.home / "history"})
    loaded = Lake.from_settings(other)
    _business(loaded)
    _as_history(loaded, ["business/orders", "business/order_items", "business/products"],
                days)

    out = features.run_job("business_features", days[-1], other, spark=spark)  # type: ignore[arg-type]
    assert out["days"] == 3
    assert loaded.partitions("features", "business/customer_day") == days
    for day in days:
        assert rows(loaded, day) == expected[day], day
    assert [r["frequency"] for r in expected["2024-10-01"]] == [1]  # customer 1 only


def test_a_historical_load_counts_education_days_back_from_its_newest(
        spark: object, settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    _education(lake)
    _as_history(lake, ["education/studentVle", "education/studentAssessment"],
                ["2024-10-01", "2024-10-02"])

    features.run_job("education_features", "2024-10-02", settings, spark=spark)  # type: ignore[arg-type]
    first = {r["id_student"]: r for r in lake.read_partition(
        "features", "education/student_week", "2024-10-01").to_pylist()}
    # newest OULAD day 8 on 2 Oct: 1 Oct is day 7 (week 1), which sees days 2, 5 and 6
    s7 = first[7]
    assert (s7["as_of_day"], s7["week"], s7["clicks_total"], s7["clicks_week"]) == (7, 1, 7, 0)
    assert first[8]["days_since_last_activity"] == 5
    assert 9 not in first  # submits on day 8 only
    assert {r["as_of_day"] for r in lake.read_partition(
        "features", "education/student_week", "2024-10-02").to_pylist()} == {8}
