"""Feature DAGs on Spark: ``features_education`` and ``features_business``.

Only wiring lives here; the work is in :mod:`lakeops.transform.features` (run by Spark's
own ``spark-submit`` through :mod:`lakeops.transform.spark`). The jobs, what they read and
what they write come from :mod:`lakeops.catalog.datasets`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from lakeops.airflow.defaults import DATA_PLATFORM, dag_args
from lakeops.catalog import dags
from lakeops.catalog.datasets import FEATURE_JOBS, FeatureJob
from lakeops.core.settings import get_settings
from lakeops.transform import spark

DOC = """
### Features `{source}` (Spark)

Scheduled on data: a run starts once every curated table it reads has been published
again ({inputs}), and covers the data intervals those publications were for.
**{job}** runs one `spark-submit spark_jobs/{job}.py --interval <day> [--interval ...]`
over all of them, oldest first, in one Spark session (master from `LAKEOPS_SPARK_MASTER`;
Spark's log is this task's log), replaces `{path}/dt=<day>/part-0.parquet` for each day
atomically, then emits the asset `{uri}` that the dbt DAG waits for.

Features use only curated data up to the interval (point in time). To recompute a day by
hand, trigger with conf `{{"interval": "YYYY-MM-DD"}}`.
"""


def build(job: FeatureJob) -> DAG:
    out = job.output
    with DAG(
        dag_id=dags.features_dag(job.source),
        description=f"Spark feature job {job.job} over the curated {job.source} tables",
        doc_md=DOC.format(source=job.source, job=job.job, path=out.path, uri=out.uri,
                          inputs=", ".join(d.table for d in job.inputs)),
        schedule=[d.asset() for d in job.inputs],
        params={"interval": Param(None, type=["null", "string"],
                                  description="recompute this day (YYYY-MM-DD) by hand")},
        **dag_args(DATA_PLATFORM, "features", "spark", job.source),
    ) as dag:

        @task(task_id=job.job, outlets=[out.asset()])
        def run(**context: Any) -> list[str]:
            intervals = spark.intervals_to_run(context)
            spark.submit(job.job, intervals, get_settings())  # one JVM for all of them
            return intervals

        run()
    return dag


for _job in FEATURE_JOBS.values():
    globals()[dags.features_dag(_job.source)] = build(_job)
