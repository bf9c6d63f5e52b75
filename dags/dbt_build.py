"""dbt DAG ``dbt_build``: the dbt project over the lake, rendered by astronomer-cosmos.

Only wiring lives here. Cosmos renders the manifest the last ``dbt parse`` published
(``<home>/dbt/dag-manifest.json``, ``LoadMode.DBT_MANIFEST``: no dbt runs at parse time);
the profile, the variables dbt needs and the lock come from :mod:`lakeops.transform.dbt`
when a task runs.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Asset, TriggerRule, task
from cosmos import (
    DbtDag,
    ExecutionConfig,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)
from cosmos.constants import PRODUCER_WATCHER_TASK_ID
from cosmos.operators.local import DbtDocsLocalOperator

from lakeops.airflow.defaults import DATA_PLATFORM, dag_args
from lakeops.catalog import dags, datasets
from lakeops.core.settings import Settings, get_settings
from lakeops.transform import dbt

# measured by benchmarks/dbt_bench.py: one `dbt build` that the model tasks follow beats a
# dbt invocation per task (figures in dbt/README.md)
MODE = ExecutionMode.WATCHER

DOC = """
### dbt build

Runs once every curated table has been published again and both Spark feature jobs have
published new features (all of its source assets; trigger it by hand to rebuild after only
some changed). The dbt project (`dbt/`) turns the curated lake tables and the features
into marts:

* **staging** `stg_<source>__<table>`: renamed and cast; snapshot tables keep their newest
  partition, increments every partition;
* **intermediate** `int_*`: current enrolments, clickstream with weeks, orders with the
  customer's order sequence, the newest feature row per key;
* **marts**, written to `<lake>/marts/<model>/part-0.parquet`: `education_kpis_weekly`,
  `education_engagement_trend`, `education_assessment_performance`, `business_kpis_daily`,
  `business_revenue_by_category`, and the point-in-time training tables
  `ml_education_training` and `ml_business_training`.

Rendered by [astronomer-cosmos](https://astronomer.github.io/astronomer-cosmos/) from the
manifest the last `dbt parse` published (`{manifest}`; `lakeops up` parses when the
project changed). Execution mode `{mode}`: {mode_doc}
Each model is a task group **&lt;model&gt;** with **&lt;model&gt;.run** then
**&lt;model&gt;.test** (its data and unit tests); a model waits for its parents' tests, so a
failed test stops what is built on it. A test of several models (relationships) reports
in the test task of each of them. A mart's run task emits the asset
`lakeops://marts/<model>` (a model-training DAG is scheduled on those), besides the
OpenLineage-derived assets Cosmos emits. **dbt_docs** then publishes the dbt docs site to
`<lake>/reports/dbt_docs/`.

Without a manifest the DAG is **dbt_parse** (writes it) → **dbt_build** (the whole
project) → **dbt_docs**; the next parse of this file shows the per-model tasks.
Target: `{target}`.
"""
MODE_DOC = {
    ExecutionMode.WATCHER: "**dbt_producer_watcher** runs one `dbt build` of the whole "
    "project; the model and test tasks follow its progress (deferred to the triggerer) and "
    "succeed or fail with their node. Cleared or retried, a model task runs its own "
    "`dbt run`/`dbt test`.",
    ExecutionMode.LOCAL: "every task runs its own dbt command (`dbt run --select <model>`, "
    "`dbt test --select <model>`) in the worker, in-process.",
}


def _sources() -> list[Asset]:
    """Every curated table and both feature tables (the registry's dbt sources)."""
    return [d.asset() for d in datasets.DBT_SOURCES]


def _dag_args(settings: Settings, mode: ExecutionMode) -> dict[str, Any]:
    local = settings.dbt_target_name == "local"
    return {
        "dag_id": dags.DBT_BUILD,
        "description": "dbt models, tests and docs over the curated lake and the features",
        "doc_md": DOC.format(manifest=dbt.dag_manifest_path(settings), mode=mode.value,
                             mode_doc=MODE_DOC[mode], target=settings.dbt_target_name),
        # the DuckDB file takes one writer: each dbt invocation holds a file lock on the
        # local target; with a dbt process per task, run them one by one as well
        "max_active_tasks": 1 if local and mode == ExecutionMode.LOCAL
        else settings.airflow_parallelism,
        **dag_args(DATA_PLATFORM, "dbt", "marts"),
    }


def build(mode: ExecutionMode = MODE) -> DAG:
    """The DAG in ``mode`` (``WATCHER`` or ``LOCAL``; the benchmark renders both)."""
    settings = get_settings()
    if dbt.manifest(settings) is None:
        return _fallback(settings)
    profile = dbt.cosmos_profile(settings)
    dag = DbtDag(
        project_config=ProjectConfig(
            dbt_project_path=settings.dbt_project_dir,
            manifest_path=dbt.dag_manifest_path(settings),
            install_dbt_deps=False,  # no packages: nothing to download
        ),
        profile_config=profile,
        execution_config=ExecutionConfig(execution_mode=mode,
                                         invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            # a test of several models reports with each of them: the producer's status of
            # a detached test task never arrives in Cosmos 1.15's watcher mode (the task
            # fails, then its retry runs the test again), measured in a run of make run
            should_detach_multiple_parents_tests=False,
            enable_owner_inheritance=False,
        ),
        schedule=_sources(),
        **_dag_args(settings, mode),
    )
    _emit_mart_assets(dag)
    if mode == ExecutionMode.WATCHER:
        _after_the_build(dag)
    leaves = [t for t in dag.tasks if not t.downstream_list]
    docs = DbtDocsLocalOperator(  # in the worker, like the models: publishes to the lake
        task_id="dbt_docs", dag=dag, project_dir=settings.dbt_project_dir,
        profile_config=profile, invocation_mode=InvocationMode.DBT_RUNNER,
        install_deps=False, callback=dbt.publish_cosmos_docs)
    leaves >> docs
    return dag


def _emit_mart_assets(dag: DbtDag) -> None:
    """The run task of each mart emits the registry's asset ``lakeops://marts/<model>``."""
    for unique_id, node in dag.dbt_graph.filtered_nodes.items():
        if node.resource_type.value != "model" or node.name not in datasets.MARTS:
            continue
        rendered = dag.tasks_map[unique_id]
        run = (rendered.children[f"{rendered.group_id}.run"]  # a task group: run, test
               if hasattr(rendered, "children") else rendered)
        run.outlets = [*run.outlets, datasets.mart(node.name).asset()]


def _after_the_build(dag: DbtDag) -> None:
    """Model tasks without a parent model start when the producer's ``dbt build`` is done,
    whatever its outcome; each then reports its own node at once. (Cosmos starts them
    beside the build, deferred, but misses those that read sources; and a deferred model
    task cannot overtake the build it waits for.)"""
    producer = dag.get_task(PRODUCER_WATCHER_TASK_ID)
    for t in dag.tasks:
        if t is not producer and not t.upstream_task_ids:
            producer >> t
    for t in producer.downstream_list:
        t.trigger_rule = TriggerRule.ALL_DONE


def _fallback(settings: Settings) -> DAG:
    """No usable manifest yet: parse (publishes it), build everything, docs."""
    with DAG(schedule=_sources(), **_dag_args(settings, MODE)) as dag:
        parse = task(task_id="dbt_parse")(dbt.parse)()
        everything = task(
            task_id="dbt_build",
            outlets=[datasets.mart(name).asset() for name in datasets.MART_NAMES],
        )(dbt.build)()
        parse >> everything >> task(task_id="dbt_docs")(dbt.docs)()
    return dag


dbt_build = build()
