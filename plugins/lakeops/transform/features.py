"""Feature jobs on Spark: curated tables in, one ``features/`` partition per interval out.

* ``education_features`` -> ``features/education/student_week``: per student and
  presentation, the week of the interval's newest OULAD day (``as_of_day``): clicks that
  week and in all, clicks by activity type, active days, days since the last activity,
  assessments submitted, lateness against the deadline and the mean score so far;
* ``business_features`` -> ``features/business/customer_day``: per customer on the
  interval: recency / frequency / monetary, orders that day, basket statistics.

A historical load (an interval whose curated manifests carry ``history_from``, see
:mod:`lakeops.ingest.delivery`) gets one partition per day it covers, each as of that day, computed
in one pass (:func:`as_of_days`), so the models have a history to learn from on the
day a source is onboarded.

Point in time: a job for interval D reads only curated partitions up to D (snapshot
tables: the newest copy up to D) and only events up to the as-of day, so a feature never
sees the future. The result replaces the interval's partition atomically: Spark writes
into a staging folder, the single part file is renamed into place.

One run covers every interval it is given (:func:`run_jobs`, ``--interval D1 --interval
D2 ...`` under spark-submit): one JVM and one session compute them oldest first, each
partition published on its own; the session's memory stays flat however many jobs it runs
(see ``SESSION_CONF``).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from lakeops.catalog.datasets import feature_job
from lakeops.core.settings import Settings
from lakeops.landing.layout import MANIFEST
from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

ACTIVITY_TYPES = ("resource", "oucontent", "url", "subpage", "forumng", "quiz", "homepage")
STUDENT = ["code_module", "code_presentation", "id_student"]
# orders that never turned into revenue
NOT_REVENUE = ("cancelled", "returned")


# -- inputs -------------------------------------------------------------------------------


def _uri(lake: Lake, path: str) -> str:
    """Where Spark reads a lake path: the local file, or s3a:// in the compose images
    (pyspark's wheel has no hadoop-aws, so an S3 lake needs those images)."""
    if lake.is_local:
        return str(lake.local_path(path))
    return "s3a://" + lake.full(path)


def _partitions(lake: Lake, dataset: str, upto: str, *, newest_only: bool) -> list[str]:
    keys = [k for k in lake.partitions("curated", dataset) if k <= upto]
    if newest_only:
        keys = keys[-1:]
    return [_uri(lake, table_path("curated", dataset, partition_dir(k), DATA_FILE))
            for k in keys if lake.exists(table_path("curated", dataset, partition_dir(k),
                                                    DATA_FILE))]


def read_curated(spark: SparkSession, lake: Lake, source: str, table: str, upto: str,
                 *, newest_only: bool = False) -> DataFrame:
    paths = _partitions(lake, f"{source}/{table}", upto, newest_only=newest_only)
    if not paths:
        raise FileNotFoundError(f"no curated partition of {source}.{table} up to {upto}")
    return spark.read.option("mergeSchema", "true").parquet(*paths)


# -- education ----------------------------------------------------------------------------


def _as_of(spark: SparkSession, days: Sequence[tuple[Any, str]], column: str,
           ddl: str) -> DataFrame:
    """The as-of points of one run as a small table (``column``, ``interval``), broadcast
    to the joins that compute every point's features in one pass."""
    from pyspark.sql import functions as F

    frame = spark.createDataFrame([(v, date.fromisoformat(d)) for v, d in days],
                                  f"{column} {ddl}, interval date")
    return F.broadcast(frame)


def student_week(clicks: DataFrame, vle: DataFrame, assessments: DataFrame,
                 submissions: DataFrame, as_of_days: Sequence[tuple[int, str]]) -> DataFrame:
    """Features per student and presentation as of each ``(as_of_day, interval)`` (an
    OULAD day number and the calendar day it is delivered on): one row per student with
    any click or submission up to that day. Clicks are first summed per student and day,
    then each day is joined to the as-of days on or after it, so a historical load's
    weeks of as-of days cost one pass, not one per day."""
    from pyspark.sql import functions as F

    asof = _as_of(clicks.sparkSession, as_of_days, "as_of_day", "int")
    typed = clicks.join(F.broadcast(vle.select("id_site", "activity_type")), "id_site", "left")
    other = ~F.coalesce(F.col("activity_type").isin(*ACTIVITY_TYPES), F.lit(False))
    daily = typed.groupBy(*STUDENT, "date").agg(
        F.sum("sum_click").alias("_c"),
        *[F.sum(F.when(F.col("activity_type") == t, F.col("sum_click")).otherwise(0))
          .alias(f"_c_{t}") for t in ACTIVITY_TYPES],
        F.sum(F.when(other, F.col("sum_click")).otherwise(0)).alias("_c_other"),
    )
    point = [*STUDENT, "as_of_day", "interval"]
    # floor division: day -3 is in week -1, as in Python
    in_week = F.col("date") >= F.floor(F.col("as_of_day") / 7) * 7
    click_feats = daily.join(asof, F.col("date") <= F.col("as_of_day")).groupBy(*point).agg(
        F.sum(F.when(in_week, F.col("_c")).otherwise(0)).cast("bigint").alias("clicks_week"),
        F.sum("_c").cast("bigint").alias("clicks_total"),
        *[F.sum(f"_c_{t}").cast("bigint").alias(f"clicks_{t}") for t in ACTIVITY_TYPES],
        F.sum("_c_other").cast("bigint").alias("clicks_other"),
        F.sum(F.when(in_week, 1).otherwise(0)).cast("int").alias("active_days_week"),
        F.count(F.lit(1)).cast("int").alias("active_days_total"),
        F.max("date").alias("_last_day"),
    )
    s = (submissions
         .join(F.broadcast(assessments.select("id_assessment", "code_module",
                                              "code_presentation",
                                              F.col("date").alias("_deadline"))),
               "id_assessment")
         .join(asof, F.col("date_submitted") <= F.col("as_of_day")))
    lateness = F.col("date_submitted") - F.col("_deadline")
    sub_feats = s.groupBy(*point).agg(
        F.count(F.lit(1)).cast("int").alias("assessments_submitted"),
        F.avg(lateness).cast("double").alias("mean_lateness_days"),
        F.sum(F.when(lateness > 0, 1).otherwise(0)).cast("int").alias("late_submissions"),
        F.avg("score").cast("double").alias("mean_score"),
    )
    counts = ["clicks_week", "clicks_total", *[f"clicks_{t}" for t in ACTIVITY_TYPES],
              "clicks_other", "active_days_week", "active_days_total"]
    joined = click_feats.join(sub_feats, point, "full_outer")
    return joined.select(
        *[F.col(k) for k in STUDENT[:2]], F.col("id_student").cast("bigint"),
        F.floor(F.col("as_of_day") / 7).cast("int").alias("week"),
        F.col("as_of_day").cast("int"),
        *[F.coalesce(F.col(k), F.lit(0)).cast("bigint" if k.startswith("clicks") else "int")
          .alias(k) for k in counts],
        (F.col("as_of_day") - F.col("_last_day")).cast("int").alias("days_since_last_activity"),
        F.coalesce(F.col("assessments_submitted"), F.lit(0)).cast("int")
        .alias("assessments_submitted"),
        F.col("mean_lateness_days"),
        F.coalesce(F.col("late_submissions"), F.lit(0)).cast("int").alias("late_submissions"),
        F.col("mean_score"),
        F.col("interval"),
    )


def _education(spark: SparkSession, lake: Lake, days: Sequence[str]) -> DataFrame:
    """Education features for ``days`` (the interval, or a historical load's days, the
    interval last): the interval's as-of day is the newest OULAD day it delivered, and the
    days before it count back from there."""
    from pyspark.sql import functions as F

    interval = days[-1]
    clicks = read_curated(spark, lake, "education", "studentVle", interval)
    today = _partitions(lake, "education/studentVle", interval, newest_only=True)
    newest = spark.read.parquet(*today).agg(F.max("date")).first() if today else None
    as_of = newest[0] if newest and newest[0] is not None else \
        clicks.agg(F.max("date")).first()[0]  # type: ignore[index]
    if as_of is None:
        raise ValueError(f"no clickstream day up to {interval}")
    end = date.fromisoformat(interval)
    points = [(int(as_of) - (end - date.fromisoformat(d)).days, d) for d in days]
    try:
        submissions = read_curated(spark, lake, "education", "studentAssessment", interval)
    except FileNotFoundError:
        submissions = spark.createDataFrame(
            [], "id_assessment bigint, id_student bigint, date_submitted int, "
                "is_banked int, score double")
    return student_week(
        clicks, read_curated(spark, lake, "education", "vle", interval, newest_only=True),
        read_curated(spark, lake, "education", "assessments", interval, newest_only=True),
        submissions, points)


# -- business -----------------------------------------------------------------------------


def customer_day(orders: DataFrame, items: DataFrame, products: DataFrame,
                 days: Sequence[str]) -> DataFrame:
    """RFM and basket statistics per customer as of the end of each of ``days``: one row
    per customer with an order up to that day. Cancelled and returned orders count neither
    as orders nor as revenue. Orders are first summed per customer and day (and categories
    reduced to the day a customer first bought each), then joined to the as-of days on or
    after them, so a historical load's days cost one pass."""
    from pyspark.sql import functions as F

    asof = _as_of(orders.sparkSession, [(date.fromisoformat(d), d) for d in days],
                  "as_of_date", "date")
    o = (orders.withColumn("_day", F.to_date("order_ts"))
         .where((F.col("_day") <= F.lit(date.fromisoformat(max(days))))
                & ~F.col("status").isin(*NOT_REVENUE)))
    per_order_items = items.groupBy("order_id").agg(F.sum("quantity").alias("_qty"))
    first_bought = (o.select("order_id", "customer_id", "_day")
                    .join(items.select("order_id", "product_id"), "order_id")
                    .join(F.broadcast(products.select("product_id", "category")), "product_id")
                    .groupBy("customer_id", "category").agg(F.min("_day").alias("_first")))
    cats = (first_bought.join(asof, F.col("_first") <= F.col("as_of_date"))
            .groupBy("customer_id", "as_of_date")
            .agg(F.count(F.lit(1)).cast("int").alias("distinct_categories")))
    daily = o.join(per_order_items, "order_id", "left").groupBy("customer_id", "_day").agg(
        F.count(F.lit(1)).alias("_n"),
        F.sum(F.col("total_amount").cast("double")).alias("_m"),
        F.sum(F.coalesce(F.col("_qty"), F.lit(0))).alias("_q"),
    )
    base = daily.join(asof, F.col("_day") <= F.col("as_of_date")).groupBy(
        "customer_id", "as_of_date").agg(
        F.max("_day").alias("_last"), F.min("_day").alias("first_order_date"),
        F.sum("_n").cast("int").alias("frequency"),
        F.sum("_m").alias("monetary"),
        F.sum(F.when(F.col("_day") == F.col("as_of_date"), F.col("_n")).otherwise(0))
        .cast("int").alias("orders_today"),
        F.sum("_q").alias("_qty"),
    )
    return base.join(cats, ["customer_id", "as_of_date"], "left").select(
        F.col("customer_id").cast("bigint"), "as_of_date",
        F.datediff(F.col("as_of_date"), F.col("_last")).cast("int").alias("recency_days"),
        "frequency", F.col("monetary").cast("double"), "orders_today",
        (F.col("monetary") / F.col("frequency")).cast("double").alias("avg_order_value"),
        (F.col("_qty") / F.col("frequency")).cast("double").alias("avg_items_per_order"),
        F.coalesce(F.col("distinct_categories"), F.lit(0)).cast("int")
        .alias("distinct_categories"),
        "first_order_date",
    )


def _business(spark: SparkSession, lake: Lake, days: Sequence[str]) -> DataFrame:
    interval = days[-1]
    return customer_day(
        read_curated(spark, lake, "business", "orders", interval),
        read_curated(spark, lake, "business", "order_items", interval),
        read_curated(spark, lake, "business", "products", interval, newest_only=True),
        days)


# -- the job ------------------------------------------------------------------------------


def write_partitions(frame: DataFrame, lake: Lake, source: str, name: str,
                     days: Sequence[str], day_column: str) -> list[tuple[str, str, int]]:
    """Replace ``features/<source>/<name>/dt=<day>/part-0.parquet`` for each of ``days``
    with the rows of ``frame`` whose ``day_column`` is that day; returns (day, path, rows)
    per day, rows read from the written file's footer, so the frame is computed once and
    never cached. One day is one single-file write; several are one write partitioned by
    day, each day's file then moved into place (a day without rows gets an empty file)."""
    from pyspark.sql import functions as F

    staging = f"features/_staging/{name}-{days[-1]}-{uuid.uuid4().hex}"
    if len(days) == 1:
        frame.coalesce(1).write.mode("overwrite").parquet(_uri(lake, staging + "/_d=" + days[0]))
    else:
        (frame.withColumn("_d", F.date_format(F.col(day_column), "yyyy-MM-dd"))
         .repartition("_d").write.mode("overwrite").partitionBy("_d")
         .parquet(_uri(lake, staging)))
    def parts(folder: str) -> list[str]:
        return [f.path for f in lake.ls(folder) if f.path.endswith(".parquet")]

    out = []
    try:
        for day in days:
            target = table_path("features", f"{source}/{name}", partition_dir(day), DATA_FILE)
            folder = f"{staging}/_d={day}"
            if not parts(folder):  # no row that day: an empty partition, not a missing one
                frame.where(F.lit(False)).coalesce(1).write.parquet(_uri(lake, folder))
            (part,) = parts(folder)
            rows = _rows(lake, part)
            lake.move(part, target)
            out.append((day, target, rows))
    finally:
        if lake.is_local:
            shutil.rmtree(lake.local_path(staging), ignore_errors=True)
        else:
            lake.delete(staging)
    return out


def as_of_days(lake: Lake, job: str, interval: str) -> list[str]:
    """The days a run for ``interval`` computes features for, oldest first: the interval,
    or, when it published a historical load (its curated manifests carry
    ``history_from``), every day from the load's first to the interval."""
    firsts = []
    for ds in feature_job(job).inputs:
        path = table_path("curated", ds.dataset, partition_dir(interval), MANIFEST)
        marked = lake.read_json(path).get("history_from") if lake.exists(path) else None
        if marked:
            firsts.append(date.fromisoformat(marked))
    end = date.fromisoformat(interval)
    first = min(firsts, default=end)
    return [(first + timedelta(days=i)).isoformat() for i in range((end - first).days + 1)]


def _rows(lake: Lake, path: str) -> int:
    import pyarrow.parquet as pq

    with lake.fs.open_input_file(lake.full(path)) as fh:
        return int(pq.ParquetFile(fh).metadata.num_rows)


# Every feature session, in-process or under spark-submit, runs with these. They keep one
# session's memory flat over hundreds of jobs (``benchmarks/spark_bench.py`` measures it):
# * no automatic broadcast joins: Spark sizes a table by its compressed Parquet files, so
#   the order history (read up to the interval, growing every day) looked "under 10 MB"
#   while it was millions of rows, and the driver collected and broadcast it whole until
#   it ran out of heap. The small snapshot tables (vle, assessments, products) are
#   broadcast by an explicit hint instead, so a plan no longer changes as history grows;
# * the status store (kept even with the UI off) retains a bounded number of jobs, stages,
#   tasks and SQL executions instead of the UI's defaults (1000, 1000, 100000, 1000).
SESSION_CONF = {
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.retainedJobs": "50",
    "spark.ui.retainedStages": "100",
    "spark.ui.retainedTasks": "5000",
    "spark.sql.ui.retainedExecutions": "20",
}


def spark_session(settings: Settings, app: str) -> SparkSession:
    from pyspark.sql import SparkSession

    # spark-submit passes --driver-memory; an in-process session sets it before the JVM starts
    builder = (SparkSession.builder.appName(app).master(settings.spark_master)
               .config("spark.driver.memory", settings.spark_driver_memory))
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _run_one(session: SparkSession, lake: Lake, job: str, interval: str) -> dict[str, Any]:
    output = feature_job(job).output
    source, name = str(output.source), output.table
    days = as_of_days(lake, job, interval)
    if source == "education":
        frame, column = _education(session, lake, days), "interval"
    else:
        frame, column = _business(session, lake, days), "as_of_date"
    written = write_partitions(frame, lake, source, name, days, column)
    _, path, rows = written[-1]
    if len(days) > 1:
        log.info("%s %s: a historical load, %d days from %s: %d rows", job, interval,
                 len(days), days[0], sum(r for _, _, r in written))
    log.info("%s %s: %d rows -> %s", job, interval, rows, lake.uri(path))
    return {"job": job, "interval": interval, "rows": rows, "path": path,
            "days": len(days)}


def run_jobs(job: str, intervals: Sequence[str], settings: Settings,
             spark: SparkSession | None = None) -> list[dict[str, Any]]:
    """Compute one feature job for several intervals, oldest first, in one Spark session
    (``spark``, or one of its own, stopped afterwards). Each interval's partition is
    published on its own as soon as it is computed, so a failure at one interval leaves
    the earlier ones done and a re-run gives the same result."""
    feature_job(job)  # an unknown job fails before Spark starts
    days = sorted(set(intervals))
    lake = Lake.from_settings(settings)
    own = spark is None
    session = spark or spark_session(settings, f"lakeops-{job}")
    try:
        return [_run_one(session, lake, job, interval) for interval in days]
    finally:
        if own:
            session.stop()


def run_job(job: str, interval: str, settings: Settings,
            spark: SparkSession | None = None) -> dict[str, Any]:
    """Compute one feature job for one interval and publish its partition."""
    return run_jobs(job, [interval], settings, spark)[0]


def main(job: str, argv: list[str] | None = None) -> None:
    """Command line of the spark-submit entry points in ``spark_jobs/``:
    ``--interval D1 [--interval D2 ...]`` (or ``--intervals D1,D2``) - every interval in
    one session, oldest first; one JSON line per interval on stdout."""
    import argparse
    import json

    from lakeops.core.settings import get_settings

    parser = argparse.ArgumentParser(prog=f"{job}.py", description=f"Spark job {job}")
    parser.add_argument("--interval", action="append", default=[], metavar="YYYY-MM-DD",
                        help="data interval day; repeat it for several days")
    parser.add_argument("--intervals", default="", metavar="D1,D2,...",
                        help="several data interval days, comma separated")
    args = parser.parse_args(argv)
    intervals = [*args.interval, *filter(None, args.intervals.split(","))]
    if not intervals:
        parser.error("give at least one --interval")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for result in run_jobs(job, intervals, get_settings()):
        print(json.dumps(result), flush=True)
