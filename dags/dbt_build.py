"""dbt DAG ``dbt_build``: the dbt project over the lake, one task per model and its tests.

Only wiring lives here; the work is in :mod:`lakeops.transform.dbt` (plain functions the
CLI and the tests call too). The shape comes from the manifest the last ``dbt parse``
published (``<home>/dbt/dag-manifest.json``); reading it is the only work done at parse
time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Asset, task

from lakeops import validate
from lakeops.contracts import TABLES
from lakeops.settings import get_settings
from lakeops.transform import dbt

START = pendulum.datetime(2024, 10, 1, tz="UTC")
# the dbt sources: every curated table, and the two feature tables the Spark DAGs write
CURATED = [Asset(name=f"curated.{source}.{table}", uri=validate.curated_asset_uri(source, table))
           for source, tables in TABLES.items() for table in tables]
FEATURES = [
    Asset(name="features.education.student_week", uri="lakeops://features/education/student_week"),
    Asset(name="features.business.customer_day", uri="lakeops://features/business/customer_day"),
]

DOC = """
### dbt build

Runs once every curated table has been published again and both Spark feature jobs have
published new features (all of its source assets; trigger it by hand to rebuild after only
some changed). The dbt project
(`dbt/`) turns the curated lake tables and the features into marts:

* **staging** `stg_<source>__<table>`: renamed and cast; snapshot tables keep their newest
  partition, increments every partition;
* **intermediate** `int_*`: current enrolments, clickstream with weeks, orders with the
  customer's order sequence, the newest feature rows;
* **marts**, written to `<lake>/marts/<model>/part-0.parquet`: `education_kpis_weekly`,
  `education_engagement_trend`, `education_assessment_performance`, `business_kpis_daily`,
  `business_revenue_by_category`, and the point-in-time training tables
  `ml_education_training` and `ml_business_training`.

Each model is a **run_&lt;model&gt;** task (`dbt run --select <model>`) followed by
**test_&lt;model&gt;** (its data and unit tests; a test spanning several models runs once,
with the last of them). A model waits for its parents' tests, as `dbt build` does, so a
failed test stops what is built on it. **dbt_docs** then publishes the dbt docs site to
`<lake>/reports/dbt_docs/`.

The tasks are rendered from the manifest the last `dbt parse` published (`{manifest}`;
`lakeops up` parses when the project changed). Without one the
DAG is **dbt_parse** (writes it) → **dbt_build** (the whole project) → **dbt_docs**; the
next parse of this file shows the per-model tasks. Target: `{target}`.
"""


def build() -> DAG:
    settings = get_settings()
    steps = dbt.planned_steps(settings)
    local = settings.dbt_target_name == "local"
    with DAG(
        dag_id="dbt_build",
        description="dbt models, tests and docs over the curated lake and the features",
        doc_md=DOC.format(manifest=dbt.dag_manifest_path(settings),
                          target=settings.dbt_target_name),
        schedule=[*CURATED, *FEATURES],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        # the DuckDB file takes one writer: on the local target dbt commands run one by one
        max_active_tasks=1 if local else settings.airflow_parallelism,
        tags=["lakeops", "dbt", "marts"],
        default_args={
            "owner": "data-platform",
            "retries": 1,
            "retry_delay": timedelta(seconds=30),
        },
    ) as dag:
        docs = task(task_id="dbt_docs")(dbt.docs)()
        if steps is None:
            parse = task(task_id="dbt_parse")(dbt.parse)()
            everything = task(
                task_id="dbt_build",
                outlets=[_mart(name) for name in dbt.mart_names(settings)],
            )(dbt.build)()
            parse >> everything >> docs
            return dag
        runs, tests = {}, {}
        for step in steps:
            runs[step.name] = task(
                task_id=f"run_{step.name}",
                outlets=[_mart(step.name)] if step.is_mart else [],
            )(dbt.run_model)(model=step.name)
            tests[step.name] = task(task_id=f"test_{step.name}")(dbt.run_model_tests)(
                model=step.name, tests=list(step.shared_tests))
        for step in steps:
            [tests[p] for p in step.parents] >> runs[step.name]
            [runs[step.name], *(runs[p] for p in step.test_parents)] >> tests[step.name]
        list(tests.values()) >> docs
    return dag


def _mart(name: str) -> Asset:
    return Asset(name=f"marts.{name}", uri=f"lakeops://marts/{name}")


dbt_build = build()
