"""The model DAGs of ``student_at_risk`` through Airflow's own scheduler, with a real MLflow.

One platform (Airflow's four components + MLflow) on free loopback ports in a throw-away
state folder. The lake is prepared directly (no ingest, no Spark, no dbt): a learnable
``ml_education_training`` mart, the ``ml_education_features`` mart and the feature job's
``features/education/student_week/dt=<day>`` partitions that map an interval to its
as-of (presentation) day. Every run is started through the REST API (conf
``{"interval": ...}``) and waited for; the tests run in file order and share the registry:

1. ``train``  on the learnable mart          -> v1 champion (and challenger), promoted row
2. ``train``  on shuffled labels             -> v2 challenger only, rejected row + reason
3. ``score``  interval D                     -> predictions of D's feature rows by v1
4. ``monitor`` D (undrifted)                 -> drift_alert skipped, no alert event
   ``score`` + ``monitor`` D2 (engagement down 60 %) -> drift, the alert asset is emitted
   and the scheduler starts ``train_student_at_risk`` by itself (asset-triggered), which
   registers v3 and gates it.

``monitor_student_at_risk`` is paused whenever a score run publishes predictions: a paused
DAG queues no asset events, so scoring starts no monitoring run of its own beside the ones
the test triggers.
Unpausing ``train_student_at_risk`` starts its latest missed weekly run at once; the
fixture unpauses it before the lake holds a mart, so that run's train task is skipped
("nothing to train on yet") and the versions are the ones the tests train
(:func:`stop_the_missed_weekly_run`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from airflow_client.client import DagRunApi, DagRunMutableStates, DAGRunPatchBody
from tests.support import platform_settings, write_mart

from lakeops import services
from lakeops.airflow import client as airflow_api
from lakeops.airflow.client import list_runs, task_states
from lakeops.catalog import dags, datasets
from lakeops.core.settings import Settings
from lakeops.ml import data, synthetic
from lakeops.ml.specs import spec
from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MODEL = "student_at_risk"
SPEC = spec(MODEL)
TRAIN, SCORE, MONITOR = dags.train_dag(MODEL), dags.score_dag(MODEL), dags.monitor_dag(MODEL)
# two data intervals and the presentation day the feature job wrote for each
D, D2 = "2024-10-07", "2024-10-08"
AS_OF = {D: 70, D2: 77}  # the training mart's prediction days are 0, 7, ..., 63
ENGAGEMENT = [c for c in SPEC.numeric if c.startswith(("clicks_", "active_days_"))]
RUN_TIMEOUT_S = 420  # per run; generous: benchmarks may share the 2 cores


# -- the lake ---------------------------------------------------------------------------


def training_mart(*, shuffled: bool = False) -> pd.DataFrame:
    rows = synthetic.training_rows(SPEC, entities=250, times=10, seed=11)
    if shuffled:
        rows[SPEC.label] = np.random.default_rng(5).permutation(rows[SPEC.label].to_numpy())
    return rows


def day_rows(interval: str, seed: int, *, engagement_factor: float = 1.0) -> pd.DataFrame:
    """One as-of day of scoring rows (label not known yet); ``engagement_factor`` scales
    every click and active-day feature, as the generator's engagement_drop drift does."""
    rows = synthetic.training_rows(SPEC, entities=300, times=1, seed=seed)
    rows[SPEC.time_column] = AS_OF[interval]
    rows[SPEC.label] = None
    for col in ENGAGEMENT:
        rows[col] = (rows[col] * engagement_factor).round(1)
    return rows


def write_feature_partition(lake: Lake, interval: str, rows: pd.DataFrame) -> None:
    """The feature job's partition of ``interval``: its rows' as-of day per presentation."""
    part = rows[["code_module", "code_presentation", SPEC.id_column]].copy()
    part["as_of_day"] = AS_OF[interval]
    ds = datasets.FEATURES["education"]
    lake.write_partition(ds.zone, ds.dataset, interval,
                         pa.Table.from_pandas(part, preserve_index=False))


def prepare_lake(settings: Settings) -> dict[str, pd.DataFrame]:
    lake = Lake.from_settings(settings)
    labelled = training_mart()
    days = {D: day_rows(D, seed=21), D2: day_rows(D2, seed=22, engagement_factor=0.4)}
    write_mart(lake, SPEC.training_mart, labelled)
    # every scoring row: the labelled past (the training mart's rows) and the new days
    write_mart(lake, SPEC.features_mart,
               pd.concat([labelled, *days.values()], ignore_index=True))
    for interval, rows in days.items():
        write_feature_partition(lake, interval, rows)
    return days


# -- Airflow ----------------------------------------------------------------------------


def task_logs(settings: Settings, dag_id: str, run_id: str, chars: int = 4000) -> str:
    """The tail of every task log of a run (``<airflow home>/logs``), for failures."""
    folder = settings.airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    parts = [f"--- {p.relative_to(folder)}\n{p.read_text(errors='replace')[-chars:]}"
             for p in sorted(Path(folder).rglob("*.log"))] if folder.exists() else []
    return "\n".join(parts) or f"(no task logs under {folder})"


def wait_for_run(settings: Settings, dag_id: str, run_id: str,
                 timeout: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """:func:`lakeops.airflow.client.wait_for_run`, with the task logs on a timeout."""
    try:
        return airflow_api.wait_for_run(settings, dag_id, run_id, timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\n{task_logs(settings, dag_id, run_id)}") from None


def run_dag(settings: Settings, dag_id: str, interval: str) -> dict[str, Any]:
    """Trigger ``dag_id`` with conf ``{"interval": interval}``; its finished run, which
    must have succeeded (else the task logs are in the failure)."""
    started = time.monotonic()
    run_id = airflow_api.trigger(settings, dag_id, conf={"interval": interval})["dag_run_id"]
    done = wait_for_run(settings, dag_id, run_id)
    print(f"{dag_id} {interval}: {done['state']} in {time.monotonic() - started:.0f}s")
    assert done["state"] == "success", (
        f"{dag_id}/{run_id} {done['state']}: {task_states(settings, dag_id, run_id)}\n"
        + task_logs(settings, dag_id, run_id))
    return done


def alert_events(settings: Settings) -> list[dict[str, Any]]:
    """Every event of ``student_at_risk``'s drift-alert asset."""
    return airflow_api.asset_events(settings, datasets.DRIFT_ALERTS[MODEL].uri)


def stop_the_missed_weekly_run(settings: Settings, timeout: float = 120) -> None:
    """Unpausing ``train_<model>`` (weekly cron, ``catchup=False``, a past ``start_date``)
    makes the scheduler start the latest missed weekly run at once. Without a training
    mart its train task is skipped and the run ends; should it fail instead, it is marked
    failed before its retry, so it neither trains nor holds the DAG's only active-run slot
    (``max_active_runs=1``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scheduled = [r for r in list_runs(settings, TRAIN) if r["run_type"] == "scheduled"]
        if scheduled:
            run_id = scheduled[0]["dag_run_id"]
            if scheduled[0]["state"] in airflow_api.TERMINAL:
                assert task_states(settings, TRAIN, run_id).get("train") == "skipped"
                return
            if task_states(settings, TRAIN, run_id).get("train") in ("up_for_retry",
                                                                     "failed"):
                with airflow_api.airflow_client(settings) as client:
                    airflow_api.retry_busy(DagRunApi(client).patch_dag_run, TRAIN, run_id,
                                        DAGRunPatchBody(state=DagRunMutableStates.FAILED))
                wait_for_run(settings, TRAIN, run_id, timeout=60)
                return
        time.sleep(2)
    print(f"no scheduled {TRAIN} run after unpausing it within {timeout:.0f}s")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = platform_settings(
        tmp_path_factory.mktemp("model-dags"), airflow_parallelism=3,
        # small and quick, as in test_ml_registry: two combinations over two folds, and
        # gate bounds a 2,500-row synthetic mart meets
        ml_search_size=2, ml_cv_folds=2, ml_min_critical_recall=0.3,
        ml_max_fairness_gap=0.3, ml_min_slice_rows=50,
    )
    started = time.monotonic()
    try:
        services.up(settings, services=["airflow", "mlflow"], timeout=300)
        for dag_id in (TRAIN, SCORE, MONITOR):
            airflow_api.wait_for_dag(settings, dag_id)
        airflow_api.unpause(settings, TRAIN)
        stop_the_missed_weekly_run(settings)  # before the lake holds a mart to train on
        prepare_lake(settings)
        airflow_api.unpause(settings, SCORE)  # monitor: in step 4 (see the module docstring)
        print(f"\nplatform up in {time.monotonic() - started:.0f}s")
        yield settings
    finally:
        services.down(settings)


def mlflow(settings: Settings) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_url, registry_uri=settings.mlflow_url)


def decision(settings: Settings, version: str) -> pd.Series:
    rows = data.read_decisions(Lake.from_settings(settings), MODEL)
    [row] = [r for _, r in rows.iterrows() if r["version"] == version and r["action"] == "gate"]
    return row


# -- the tests --------------------------------------------------------------------------


def test_train_registers_and_promotes_the_first_version(platform: Settings) -> None:
    run_dag(platform, TRAIN, D)
    c = mlflow(platform)
    assert c.get_model_version_by_alias(MODEL, "champion").version == "1"
    assert c.get_model_version_by_alias(MODEL, "challenger").version == "1"
    row = decision(platform, "1")
    assert row["decision"] == "promoted", row["reasons"]
    assert (row["champion_before"], row["champion_after"]) == (None, "1")
    assert row["interval"] == D and str(row["dag_run"]).startswith("manual__")
    run_id = [r for r in list_runs(platform, TRAIN) if r["run_type"] == "manual"][0]["dag_run_id"]
    assert task_states(platform, TRAIN, run_id)["new_champion"] == "success"


def test_train_on_shuffled_labels_registers_a_challenger_the_gate_rejects(
        platform: Settings) -> None:
    write_mart(Lake.from_settings(platform), SPEC.training_mart, training_mart(shuffled=True))
    run_dag(platform, TRAIN, D)  # a rejection is a decision, not a failure
    c = mlflow(platform)
    assert c.get_model_version_by_alias(MODEL, "challenger").version == "2"
    assert c.get_model_version_by_alias(MODEL, "champion").version == "1"
    row = decision(platform, "2")
    assert row["decision"] == "rejected"
    assert "does not beat champion v1" in row["reasons"], row["reasons"]
    assert (row["champion_before"], row["champion_after"]) == ("1", "1")
    manual = [r for r in list_runs(platform, TRAIN) if r["run_type"] == "manual"]
    newest = max(manual, key=lambda r: r["run_after"])["dag_run_id"]
    assert task_states(platform, TRAIN, newest)["new_champion"] == "skipped"  # no rescoring


def test_score_predicts_the_intervals_feature_rows_with_the_champion(
        platform: Settings) -> None:
    run_dag(platform, SCORE, D)
    lake = Lake.from_settings(platform)
    path = table_path("predictions", MODEL, partition_dir(D), DATA_FILE)
    assert lake.exists(path)
    predictions = lake.read_parquet(path).to_pandas()
    features = data.read_mart(lake, SPEC.features_mart)
    expected = features[features[SPEC.time_column] == AS_OF[D]]
    keys = list(SPEC.keys)
    assert len(predictions) == len(expected) == 300
    assert set(map(tuple, predictions[keys].to_numpy().tolist())) == \
        set(map(tuple, expected[keys].to_numpy().tolist()))
    assert set(predictions["model_version"].astype(str)) == {"1"}  # the champion, not v2
    assert predictions["probability"].between(0, 1).all()
    assert set(predictions["interval"]) == {D}


def drift_row(settings: Settings, interval: str) -> dict[str, Any]:
    ds = datasets.DRIFT[MODEL]
    [row] = Lake.from_settings(settings).read_partition(ds.zone, ds.dataset, interval
                                                        ).to_pylist()
    return dict(row)


def test_monitor_raises_no_alert_for_an_undrifted_interval(platform: Settings) -> None:
    airflow_api.unpause(platform, MONITOR)
    done = run_dag(platform, MONITOR, D)
    states = task_states(platform, MONITOR, done["dag_run_id"])
    assert states == {"monitor": "success", "drift_alert": "skipped",
                      "review_champion": "success", "new_champion": "skipped"}, states
    row = drift_row(platform, D)
    assert not row["alert"], row
    assert row["model_version"] == "1" and row["rows"] == 300
    assert alert_events(platform) == []


def test_drift_alert_schedules_retraining_by_itself(platform: Settings) -> None:
    # no monitoring run of its own on D2's predictions
    airflow_api.set_paused(platform, MONITOR, True)
    run_dag(platform, SCORE, D2)
    airflow_api.set_paused(platform, MONITOR, False)
    since = {r["dag_run_id"] for r in list_runs(platform, TRAIN)}
    done = run_dag(platform, MONITOR, D2)
    states = task_states(platform, MONITOR, done["dag_run_id"])
    assert states == {"monitor": "success", "drift_alert": "success",
                      "review_champion": "success", "new_champion": "skipped"}, states
    row = drift_row(platform, D2)
    assert row["alert"], row
    assert max(row["drift_share"], row["psi_drift_share"]) >= row["drift_share_threshold"]
    events = alert_events(platform)
    assert [(e["source_dag_id"], e["source_run_id"]) for e in events] == [
        (MONITOR, done["dag_run_id"])]

    # the scheduler turns the event into a training run: nobody triggers it
    deadline = time.monotonic() + 300
    started: list[dict[str, Any]] = []
    while not started and time.monotonic() < deadline:
        started = [r for r in list_runs(platform, TRAIN)
                   if r["dag_run_id"] not in since and r["run_type"] == "asset_triggered"]
        time.sleep(3)
    assert started, f"no asset-triggered {TRAIN} run: {list_runs(platform, TRAIN)}"
    with airflow_api.airflow_client(platform) as client:
        upstream = airflow_api.retry_busy(DagRunApi(client).get_upstream_asset_events,
                                       TRAIN, started[0]["dag_run_id"]).asset_events
    assert {e.uri for e in upstream} == {datasets.DRIFT_ALERTS[MODEL].uri}

    # ... and it retrains: v3 (the mart still holds shuffled labels), judged by the gate
    retrain = started[0]["dag_run_id"]
    finished = wait_for_run(platform, TRAIN, retrain)
    assert finished["state"] == "success", (task_states(platform, TRAIN, retrain),
                                            task_logs(platform, TRAIN, retrain))
    c = mlflow(platform)
    v3 = c.get_model_version_by_alias(MODEL, "challenger")
    assert v3.version == "3" and v3.tags["lakeops.dag_run"] == retrain
    assert decision(platform, "3")["decision"] == "rejected"
    assert c.get_model_version_by_alias(MODEL, "champion").version == "1"
