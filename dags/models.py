"""Model DAGs, three per model (``student_at_risk``, ``customer_churn``):

* ``train_<model>`` — weekly, and whenever dbt rebuilds the model's training mart or its
  monitoring raises a drift alert: train a candidate, register it as ``@challenger``, run
  the promotion gate (``@champion`` only if it beats the champion on the champion's frozen
  holdout and passes the behavioural and fairness checks);
* ``score_<model>`` — when dbt rebuilds the model's features mart or the champion alias
  moves (``new_champion`` of the other two DAGs): score the recent intervals with features
  and no predictions yet with ``models:/<model>@champion``;
* ``monitor_<model>`` — when predictions are published: Evidently drift against the
  champion's training reference, realised quality once labels arrived, and a drift alert
  (an asset event that schedules ``train_<model>``) when drift crosses the threshold.

Only wiring lives here; the work is in :mod:`lakeops.ml`.
"""

from __future__ import annotations

import math
from typing import Any

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, task
from airflow.sdk.exceptions import AirflowSkipException

from lakeops.airflow.defaults import ML_PLATFORM, dag_args
from lakeops.catalog import dags, datasets
from lakeops.core.settings import get_settings
from lakeops.ml import gate, monitor, runs, score, train
from lakeops.ml.specs import SPECS, ModelSpec
from lakeops.transform import spark

PARAMS = {"interval": Param(None, type=["null", "string"],
                            description="run for this day (YYYY-MM-DD) by hand")}

TRAIN_DOC = """
### Train `{model}`

Weekly (Monday 03:00 UTC), and whenever dbt rebuilds `{mart}` or `monitor_{model}` raises
a drift alert. **train** fits the scikit-learn pipeline on `{mart}` (split by time: the
latest rows are the holdout), logs params, metrics, plots, signature and the training data
to MLflow, registers the version and gives it the alias `challenger`. **gate** promotes it
to `champion` only if it beats the champion on the champion's frozen holdout by the
configured margin (the first model: a trivial baseline) and passes the behavioural tests
(invariance to the pseudonymous id, direction of engagement, minimum recall on critical
slices) and the fairness bound; the decision and its numbers go to the version's tags and
`lakehouse.monitoring.model_decisions`.
"""

SCORE_DOC = """
### Score `{model}`

When dbt rebuilds `{mart}` or the champion alias moves (a promotion, a rollback): every
interval of the last `LAKEOPS_ML_SCORE_DAYS` with features and no predictions yet is
scored with `models:/{model}@champion` (skipped while there is no champion);
`predictions/{model}/dt=<day>/` is replaced (model version and run id on every row) and
`{uri}` emitted. Trigger with conf `{{"interval": "YYYY-MM-DD"}}`
to re-score one day.
"""

MONITOR_DOC = """
### Monitor `{model}`

When predictions are published: for every scored interval without drift numbers yet,
Evidently compares the features and predictions with the champion's training reference
(drift share, per-feature scores and PSI) and, once labels arrived, measures realised
quality. Reports go to the docs site (`reports/drift/{model}/`) and the Evidently UI,
numbers to `lakehouse.monitoring.drift.{model}` and friends. Drift over the threshold emits
`{alert}`, which schedules `train_{model}`. **review_champion** compares the champion with
its predecessor on the rows both scored (the predecessor scores in the shadow) whose
labels arrived, and moves `champion` back when the champion does worse.
"""


def _json_safe(value: Any) -> Any:
    """A task's return value as XCom can store it: XCom travels as strict JSON, so NaN and
    infinities (a metric without labels yet, an untested feature's drift score) become
    None and numpy scalars Python ones; anything else is left as it is."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _interval(context: dict[str, Any]) -> str:
    """The day a training run is for: its conf, else its data interval, else the day the
    run was due (asset-triggered runs have no data interval)."""
    named = spark.named_interval(context)
    if named:
        return named
    run = context["dag_run"]
    when = getattr(run, "data_interval_start", None) or run.run_after
    return str(when.date().isoformat())


def _train_dag(s: ModelSpec) -> DAG:
    mart = datasets.mart(s.training_mart)
    with DAG(
        dag_id=dags.train_dag(s.name),
        description=f"Train, register and gate {s.name}",
        doc_md=TRAIN_DOC.format(model=s.name, mart=s.training_mart),
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable("0 3 * * 1", timezone="UTC"),
            assets=(mart.asset() | datasets.DRIFT_ALERTS[s.name].asset())),
        params=PARAMS, **dag_args(ML_PLATFORM, "ml", "train", s.source),
    ) as dag:

        @task(task_id="train")
        def fit(**context: Any) -> dict[str, Any]:
            try:
                trained = train.train(s.name, _interval(context), get_settings(),
                                      dag_run=context["dag_run"].run_id)
            except train.NotEnoughData as exc:  # not a failure: labels are yet to come
                raise AirflowSkipException(str(exc)) from None
            return _json_safe(trained)

        @task(task_id="gate")
        def judge(trained: dict[str, Any], **context: Any) -> dict[str, Any]:
            return _json_safe(gate.evaluate_gate(s.name, trained["version"], get_settings(),
                                                 interval=trained["interval"],
                                                 dag_run=context["dag_run"].run_id))

        _announce(s, judge(fit()))
    return dag


def _announce(s: ModelSpec, decision: Any) -> None:
    """A task that emits the model's champion asset when ``decision`` moved the alias (a
    promotion, a rollback), which schedules ``score_<model>``; skipped (no event)
    otherwise."""

    @task(task_id="new_champion", outlets=[datasets.CHAMPIONS[s.name].asset()])
    def announce(result: dict[str, Any]) -> dict[str, Any]:
        if result.get("decision") not in (gate.PROMOTED, gate.ROLLED_BACK):
            raise AirflowSkipException(f"champion unchanged ({result.get('decision')})")
        return result

    announce(decision)


def _score_dag(s: ModelSpec) -> DAG:
    features = datasets.mart(s.features_mart)
    with DAG(
        dag_id=dags.score_dag(s.name),
        description=f"Batch scoring with {s.name}@champion",
        doc_md=SCORE_DOC.format(model=s.name, mart=s.features_mart, uri=s.predictions.uri),
        schedule=(features.asset() | datasets.CHAMPIONS[s.name].asset()),
        params=PARAMS, **dag_args(ML_PLATFORM, "ml", "score", s.source),
    ) as dag:

        @task(task_id="score", outlets=[s.predictions.asset()])
        def run(**context: Any) -> list[dict[str, Any]]:
            settings = get_settings()
            named = spark.named_interval(context)
            days = [named] if named else runs.to_score(s.name, settings)
            scored, waiting = [], []
            for day in days:
                try:
                    scored.append(score.score(s.name, day, settings))
                except score.NoChampionError as exc:  # not a failure: the gate promotes one
                    raise AirflowSkipException(str(exc)) from None
                except score.NothingToScore as exc:  # dbt's next build brings its rows
                    waiting.append(str(exc))
            if not scored:
                raise AirflowSkipException("; ".join(waiting) or
                                           "every recent interval with features is scored")
            return _json_safe(scored)

        run()
    return dag


def _monitor_dag(s: ModelSpec) -> DAG:
    with DAG(
        dag_id=dags.monitor_dag(s.name),
        description=f"Drift and realised quality of {s.name}",
        doc_md=MONITOR_DOC.format(model=s.name, alert=datasets.DRIFT_ALERTS[s.name].uri),
        schedule=[s.predictions.asset()], params=PARAMS,
        **dag_args(ML_PLATFORM, "ml", "monitor", s.source),
    ) as dag:

        @task(task_id="monitor", outlets=[s.drift.asset()])
        def run(**context: Any) -> list[dict[str, Any]]:
            settings = get_settings()
            named = spark.named_interval(context)
            days = [named] if named else runs.to_monitor(s.name, settings)
            if not days:
                raise AirflowSkipException("every scored interval is monitored already")
            out = []
            for day in days:
                out.append({**monitor.monitor(s.name, day, settings),
                            "realised": score.realised(s.name, day, settings)})
            return _json_safe(out)

        @task(task_id="drift_alert", outlets=[datasets.DRIFT_ALERTS[s.name].asset()])
        def alert(results: list[dict[str, Any]]) -> list[str]:
            drifted = [r["interval"] for r in results if r.get("alert")]
            if not drifted:  # a skipped task emits no asset event: no retraining
                raise AirflowSkipException("drift within the threshold")
            return drifted

        @task(task_id="review_champion")
        def review(results: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
            newest = max(r["interval"] for r in results)
            return _json_safe(score.review_champion(s.name, newest, get_settings(),
                                                    dag_run=context["dag_run"].run_id))

        monitored = run()
        alert(monitored)
        _announce(s, review(monitored))
    return dag


for _spec in SPECS.values():
    globals()[dags.train_dag(_spec.name)] = _train_dag(_spec)
    globals()[dags.score_dag(_spec.name)] = _score_dag(_spec)
    globals()[dags.monitor_dag(_spec.name)] = _monitor_dag(_spec)
