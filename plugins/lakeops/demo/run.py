"""The demo behind ``make run``: real deliveries, ingested by Airflow's own scheduler, then
the data-driven chain the publications start: the Spark feature DAGs, dbt, and the model
DAGs (train and gate, score, monitor).

Both sources are onboarded the way a platform takes on a new source: the first day's
delivery is a historical load (:data:`HISTORY_DAYS` days before it, one file per table,
marked by ``_load.json``) that the same ingest DAG takes as one interval; the feature jobs
turn it into one partition per day, so the churn label (30 days ahead) is known for the
oldest weeks and both models train, pass the gate and score on the demo's own run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import tenacity

from lakeops.catalog import datasets
from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings, repo_root
from lakeops.ml.specs import SPECS
from lakeops.storage.lake import Lake

TERMINAL = {"success", "failed"}
FEATURE_DAGS = {f"features_{source}": ds.dataset for source, ds in datasets.FEATURES.items()}
DBT_DAG = "dbt_build"
MODEL_DAGS = [f"{stage}_{model}" for model in SPECS for stage in ("train", "score", "monitor")]
DASHBOARD_DAG = "publish_dashboards"
SUPERSET = "superset"
# the first delivery's history: the churn label looks 30 days ahead, so 42 days give two
# weeks of labelled as-of days by the demo's last day
HISTORY_DAYS = 42
SETTLE_S = 6  # a DAG counts as settled once no run of it has been active for this long
TIMINGS = repo_root() / "benchmarks" / "results" / "make_run.json"


def _airflow(settings: Settings) -> Any:
    """An ``ApiClient`` (apache-airflow-client) of the running Airflow, as the admin."""
    from lakeops.airflow.client import airflow_client

    return airflow_client(settings)


def _dicts(models: list[Any]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json", by_alias=True) for m in models]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def unpause(settings: Settings, dag_id: str) -> None:
    from airflow_client.client import DAGApi, DAGPatchBody

    from lakeops.airflow.client import retry_busy

    with _airflow(settings) as client:
        retry_busy(DAGApi(client).patch_dag, dag_id, DAGPatchBody(is_paused=False))


def wait_for_dag(settings: Settings, dag_id: str, timeout: float = 180) -> None:
    """Until the dag-processor has parsed the DAG and the API knows it."""
    from airflow_client.client import DAGApi

    def get_dag() -> None:
        with _airflow(settings) as client:
            DAGApi(client).get_dag(dag_id)

    try:  # any error: not parsed yet
        tenacity.Retrying(stop=tenacity.stop_after_delay(timeout),
                          wait=tenacity.wait_fixed(2))(get_dag)
    except tenacity.RetryError:
        raise TimeoutError(f"Airflow did not load DAG {dag_id} within {timeout:.0f}s; "
                           f"see {settings.log_dir}/airflow-dag-processor.log") from None


def _running_backfill(exc: BaseException) -> bool:
    from airflow_client.client.exceptions import ApiException

    return (isinstance(exc, ApiException) and exc.status == 409
            and "already a running backfill" in str(exc.body))


def backfill(settings: Settings, dag_id: str, start: date, days: int) -> dict[str, Any]:
    """Ask the scheduler (REST API) to run ``dag_id`` for each daily interval, re-running
    completed ones, so a re-run of the demo replaces rather than duplicates.

    The backfill is created while the DAG is still paused, then the DAG is unpaused: its
    runs exist by then, so the scheduler does not add a scheduled run of the latest
    interval beside the backfill's own (``catchup=False`` would; the two then processed
    one interval twice at once, and on SQLite once crashed the scheduler with a
    ``StaleDataError`` on ``dag_run``)."""
    from airflow_client.client import BackfillApi, BackfillPostBody, ReprocessBehavior

    from lakeops.airflow.client import db_busy

    body = BackfillPostBody(
        dag_id=dag_id, from_date=_midnight(start),
        to_date=_midnight(start + timedelta(days=days - 1)),
        reprocess_behavior=ReprocessBehavior.COMPLETED, max_active_runs=1,
    )
    with _airflow(settings) as client:
        api = BackfillApi(client)

        def create() -> Any:
            try:
                return api.create_backfill(body)
            except Exception as exc:
                if _running_backfill(exc):
                    _cancel_backfills(api, dag_id)  # an earlier, interrupted demo's
                raise

        # On the embedded SQLite metadata DB Airflow answers 503 "Database is locked" (or
        # a 500 "Database error" from its audit log) while the scheduler writes; safe to
        # repeat.
        result = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: db_busy(e) or _running_backfill(e)),
            wait=tenacity.wait_fixed(2), stop=tenacity.stop_after_attempt(30), reraise=True,
        )(create)
    unpause(settings, dag_id)
    return dict(result.model_dump(mode="json", by_alias=True))


def _cancel_backfills(api: Any, dag_id: str) -> None:
    for b in api.list_backfills(dag_id, limit=100).backfills:
        if not b.completed_at:
            api.cancel_backfill(b.id)


def dag_runs(settings: Settings, dag_id: str, start: date, days: int) -> list[dict[str, Any]]:
    from airflow_client.client import DagRunApi

    end = start + timedelta(days=days - 1)
    with _airflow(settings) as client:
        runs = DagRunApi(client).get_dag_runs(
            dag_id, logical_date_gte=_midnight(start), logical_date_lte=_midnight(end),
            limit=100)
    return _dicts(runs.dag_runs)


def wait_for_runs(settings: Settings, dag_id: str, start: date, days: int, timeout: float,
                  echo: Callable[[str], Any] = print) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        runs = dag_runs(settings, dag_id, start, days)
        states = sorted(r["state"] for r in runs)
        line = f"{dag_id}: " + ", ".join(f"{s}={states.count(s)}" for s in sorted(set(states)))
        if line != last:
            echo(line)
            last = line
        if len(runs) >= days and all(s in TERMINAL for s in states):
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag_id}: runs not finished after {timeout:.0f}s: {line}")
        time.sleep(3)


def landed_report(settings: Settings, start: date, days: int) -> str:
    """Per table over the days: rows delivered, rejected at ingest, quarantined by the
    validation suite, and published to curated/."""
    lake = Lake.from_settings(settings)
    lines = [f"{'table':<34}{'delivered':>10}{'rejected':>10}{'quarant.':>10}{'published':>10}"]
    for source in TABLES:
        for table in TABLES[source]:
            totals = [0, 0, 0, 0]
            for i in range(days):
                day = (start + timedelta(days=i)).isoformat()
                path = f"curated/{source}/{table}/dt={day}/_manifest.json"
                if lake.exists(path):
                    m = lake.read_json(path)
                    for k, key in enumerate(("delivered", "rejected_at_ingest",
                                             "quarantined_at_validation", "published")):
                        totals[k] += int(m[key])
            lines.append(f"{source + '.' + table:<34}" + "".join(f"{v:>10}" for v in totals))
    lines.append(f"curated under {lake.uri('curated')}, rejects under {lake.uri('quarantine')}, "
                 f"validation results in {lake.uri('monitoring/validation_results')}")
    return "\n".join(lines)


def _runs_since(settings: Settings, dag_id: str, since: datetime) -> list[dict[str, Any]]:
    from airflow_client.client import DagRunApi

    with _airflow(settings) as client:
        runs = DagRunApi(client).get_dag_runs(dag_id, limit=100, run_after_gte=since)
    return _dicts(runs.dag_runs)


def _queued_events(settings: Settings, dag_id: str = DBT_DAG) -> int:
    """Asset events queued for ``dag_id`` that no run has consumed yet (the scheduler
    creates the run they call for on one of its next loops)."""
    from airflow_client.client import AssetApi
    from airflow_client.client.exceptions import NotFoundException

    with _airflow(settings) as client:
        try:
            return len(AssetApi(client).get_dag_asset_queued_events(dag_id).queued_events)
        except NotFoundException:
            return 0


def _trigger_dbt_by_hand(settings: Settings) -> bool:
    """Drop ``dbt_build``'s queued asset events and trigger one run instead; False when
    the scheduler took the events meanwhile (it then starts a run itself)."""
    from airflow_client.client import AssetApi, DagRunApi, TriggerDAGRunPostBody
    from airflow_client.client.exceptions import NotFoundException

    with _airflow(settings) as client:
        try:
            AssetApi(client).delete_dag_asset_queued_events(DBT_DAG)
        except NotFoundException:
            return False
        DagRunApi(client).trigger_dag_run(DBT_DAG, TriggerDAGRunPostBody(
            logical_date=None, note="lakeops demo: the last features"))
    return True


def _settled(settings: Settings, dag_ids: list[str], since: datetime, quiet: dict[str, float],
             ) -> tuple[bool, list[dict[str, Any]]]:
    """Whether every run of ``dag_ids`` created since ``since`` is finished and has been for
    :data:`SETTLE_S` (the scheduler creates asset-triggered runs a little after the event)."""
    runs = [r for d in dag_ids for r in _runs_since(settings, d, since)]
    return _quiet_for(runs, quiet), runs


def _quiet_for(runs: list[dict[str, Any]], quiet: dict[str, float]) -> bool:
    """Whether ``runs`` are all finished and have been, unchanged, for :data:`SETTLE_S`
    (``quiet`` remembers since when, between polls)."""
    key = ",".join(sorted(f"{r['dag_id']}/{r['dag_run_id']}:{r['state']}" for r in runs))
    if any(r["state"] not in TERMINAL for r in runs):
        quiet.clear()
        return False
    first_seen = quiet.setdefault(key, time.monotonic())
    return time.monotonic() - first_seen >= SETTLE_S


def _summary(runs: list[dict[str, Any]]) -> str:
    states = sorted(f"{r['dag_id']} {r['run_type']} {r['state']}" for r in runs)
    return ", ".join(f"{s} x{states.count(s)}" for s in sorted(set(states))) or "no run yet"


def wait_for_transforms(settings: Settings, start: date, days: int, since: datetime,
                        timeout: float, echo: Callable[[str], Any] = print,
                        ) -> list[dict[str, Any]]:
    """After the ingest runs: wait for what their publications started. The feature DAGs
    run on the curated tables' assets, ``dbt_build`` on all curated and feature assets. When
    the last publications were not all consumed by one run (a dbt run started after one
    source's last features but before the other's), ``dbt_build`` is left with queued asset
    events and no run: the demo then triggers it once by hand, so the marts see every
    partition."""
    lake = Lake.from_settings(settings)
    wanted = {(start + timedelta(days=i)).isoformat() for i in range(days)}
    deadline = time.monotonic() + timeout
    quiet_features: dict[str, float] = {}
    quiet_dbt: dict[str, float] = {}
    last, triggered = "", False
    while True:
        done, feature_runs = _settled(settings, list(FEATURE_DAGS), since, quiet_features)
        # the ingest runs published every day again: each feature DAG runs at least once
        done = done and {r["dag_id"] for r in feature_runs} == set(FEATURE_DAGS)
        missing = [f"{t}@{d}" for t in FEATURE_DAGS.values()
                   for d in sorted(wanted - set(lake.partitions("features", t)))]
        failed = [r for r in feature_runs if r["state"] == "failed"]
        dbt_done, dbt_runs = _settled(settings, [DBT_DAG], since, quiet_dbt)
        line = _summary(feature_runs + dbt_runs)
        if line != last:
            echo(line)
            last = line
        if done and (failed or not missing) and dbt_done:
            if failed or triggered or not _queued_events(settings):
                return feature_runs + dbt_runs
            if not _trigger_dbt_by_hand(settings):  # the scheduler took them meanwhile
                continue
            echo(f"{DBT_DAG}: triggered by hand for the feature runs the scheduler left "
                 "unpaired")
            triggered = True
            quiet_dbt.clear()
        if time.monotonic() > deadline:
            raise TimeoutError(f"features and dbt not finished after {timeout:.0f}s: {line}; "
                               f"missing feature partitions: {', '.join(missing) or 'none'}")
        time.sleep(3)


def _models_settled(settings: Settings, since: datetime, quiet: dict[str, float],
                    ) -> tuple[bool, list[dict[str, Any]]]:
    """:func:`_settled` for the model DAGs and the dashboards' publication; an asset event
    a model DAG has not turned into a run yet is work still to come (on a busy machine the
    scheduler may take longer than :data:`SETTLE_S` to create the run)."""
    everything, runs = _settled(settings, [*MODEL_DAGS, DASHBOARD_DAG], since, quiet)
    if everything and any(_queued_events(settings, d) for d in MODEL_DAGS):
        quiet.clear()
        return False, runs
    return everything, runs


def wait_for_models(settings: Settings, since: datetime, timeout: float,
                    echo: Callable[[str], Any] = print) -> list[dict[str, Any]]:
    """After dbt: wait until the model DAGs its marts started (train -> gate, then score on
    the new champion, then monitor) and the dashboards' publication have settled with
    every recent interval scored and monitored, or a model has no champion once its
    training settled."""
    from lakeops.ml import runs as owed
    from lakeops.ml import score

    deadline = time.monotonic() + timeout
    quiet: dict[str, float] = {}
    quiet_all: dict[str, float] = {}
    served = [d for d in MODEL_DAGS if not d.startswith("train_")] + [DASHBOARD_DAG]
    last = ""
    while True:
        everything, all_runs = _models_settled(settings, since, quiet_all)
        done = _quiet_for([r for r in all_runs if r["dag_id"] in served], quiet)
        line = _summary(all_runs)
        if line != last:
            echo(line)
            last = line
        if everything and any(r["state"] == "failed" for r in all_runs):
            return all_runs
        if done or everything:
            pending = [m for m in SPECS if owed.to_score(m, settings)
                       or owed.to_monitor(m, settings)]
            try:
                for m in SPECS:
                    score.champion(m, settings)
                champions = True
            except score.NoChampionError:
                champions = False
            # served: every model has a champion whose recent scores are monitored; a
            # retraining a drift alert started may still run (it is reported as such)
            if champions and not pending:
                return all_runs
            if everything:  # nothing runs any more: the report says what is missing
                return all_runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"model DAGs not finished after {timeout:.0f}s: {line}")
        time.sleep(3)


def models_report(settings: Settings) -> str:
    """Per model: the champion in MLflow's registry, then its predictions and drift
    numbers through the lakehouse SQL endpoint."""
    from lakeops.ml import score
    from lakeops.query import connect

    lines = [f"{'model':<18}{'champion':>9}{'scored days':>12}{'predictions':>12}"
             f"{'drift share':>12}"]
    unpromoted = []
    with connect(settings) as client:
        for name, s in SPECS.items():
            try:
                version = f"v{score.champion(name, settings).version}"
            except score.NoChampionError:
                version = "none"
                unpromoted.append(name)
            try:
                p = client.table(f"SELECT count(DISTINCT interval) AS d, count(*) AS n "
                                 f"FROM lakehouse.{s.predictions.name}").to_pylist()[0]
                d = client.table(f"SELECT drift_share FROM lakehouse.{s.drift.name} "
                                 "ORDER BY interval DESC LIMIT 1").to_pylist()
                share = f"{d[0]['drift_share']:.2f}" if d else "-"
                lines.append(f"{name:<18}{version:>9}{p['d']:>12}{p['n']:>12}{share:>12}")
            except Exception as exc:  # noqa: BLE001 - report the model as unscored, go on
                lines.append(f"{name:<18}{version:>9}  ({str(exc).splitlines()[0]})")
        for name in unpromoted:
            lines.append(f"{name}: no champion - {_last_decision(client, name)}")
    lines.append(f"MLflow registry at {settings.mlflow_url}/#/models, drift reports at "
                 f"{settings.docs_url}/drift/, Evidently at {settings.evidently_url}")
    return "\n".join(lines)


def _last_decision(client: Any, model: str) -> str:
    """Why a model has no champion: its newest gate decision, with the reasons."""
    try:
        rows = client.table(
            "SELECT version, decision, reasons FROM lakehouse.monitoring.model_decisions "
            f"WHERE model = '{model}' ORDER BY decided_at DESC LIMIT 1").to_pylist()
    except Exception as exc:  # noqa: BLE001 - no decision table yet
        rows, why = [], str(exc).splitlines()[0]
    else:
        why = "no version reached the promotion gate (see train_" + model + " in Airflow)"
    if not rows:
        return why
    row = rows[0]
    return f"the gate's last decision: v{row['version']} {row['decision']} ({row['reasons']})"


def dashboards_report(settings: Settings) -> str:
    """Where each dashboard is, and whether the bundle was published."""
    from lakeops.dashboards import bundle as dashboards

    published = (settings.superset_home / dashboards.STATE).exists()
    lines = [f"Dashboards (Superset, user {settings.superset_admin_user}"
             f"{'' if published else '; not published yet: see publish_dashboards'}):"]
    lines += [f"  {title:<14}{url}" for title, url in dashboards.urls(settings).items()]
    return "\n".join(lines)


def marts_report(settings: Settings) -> str:
    """Rows per mart, counted through the lakehouse SQL endpoint, as any client would."""
    from lakeops.query import connect

    lines = [f"{'mart (lakehouse.marts.*)':<34}{'rows':>10}"]
    with connect(settings) as client:
        for name in datasets.MARTS:
            try:
                rows = client.table(f"SELECT count(*) AS n FROM lakehouse.marts.{name}")
                lines.append(f"{name:<34}{rows.column(0)[0].as_py():>10}")
            except Exception as exc:  # noqa: BLE001 - report the mart as missing, go on
                lines.append(f"{name:<34}{'missing':>10}  ({str(exc).splitlines()[0]})")
    lines.append(f"dbt docs at {settings.docs_url}/dbt_docs/")
    return "\n".join(lines)


class Stopwatch:
    """Wall time per stage of the demo, and per DAG from Airflow's own run records."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self.stages: list[tuple[str, float]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.stages.append((name, time.monotonic() - began))

    def dag_spans(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per DAG: runs, seconds from the demo's start to its first run's start and to
        its last run's end, and the runs' summed duration."""
        by_dag: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            if run.get("start_date") and run.get("end_date"):
                by_dag.setdefault(run["dag_id"], []).append(run)
        spans = []
        for dag_id, dag_runs in sorted(by_dag.items()):
            starts = [datetime.fromisoformat(r["start_date"]) for r in dag_runs]
            ends = [datetime.fromisoformat(r["end_date"]) for r in dag_runs]
            spans.append({
                "dag_id": dag_id, "runs": len(dag_runs),
                "first_start_s": (min(starts) - self.started).total_seconds(),
                "last_end_s": (max(ends) - self.started).total_seconds(),
                "busy_s": sum((e - s).total_seconds() for s, e in zip(starts, ends, strict=True)),
            })
        return spans

    def table(self, runs: list[dict[str, Any]]) -> str:
        total = sum(s for _, s in self.stages)
        lines = [f"{'stage':<40}{'seconds':>9}"]
        lines += [f"{name:<40}{seconds:>9.1f}" for name, seconds in self.stages]
        lines.append(f"{'total (after setup)':<40}{total:>9.1f}")
        lines.append(f"\n{'DAG (runs since the demo started)':<34}{'runs':>5}{'start s':>9}"
                     f"{'end s':>8}{'busy s':>8}")
        lines += [f"{d['dag_id']:<34}{d['runs']:>5}{d['first_start_s']:>9.0f}"
                  f"{d['last_end_s']:>8.0f}{d['busy_s']:>8.0f}" for d in self.dag_spans(runs)]
        return "\n".join(lines)

    def save(self, runs: list[dict[str, Any]], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "started": self.started.isoformat(), "stages": dict(self.stages),
            "total_s": sum(s for _, s in self.stages), "dags": self.dag_spans(runs),
        }, indent=2) + "\n")


def run_demo(settings: Settings, start: date, days: int, *, scale: float = 0.01,
             timeout: float = 1800, echo: Callable[[str], Any] = print,
             timings: Path = TIMINGS, history_days: int = HISTORY_DAYS) -> str:
    from lakeops import services
    from lakeops.synthetic.generate import generate

    watch = Stopwatch()
    with watch.stage("services up (lakeops up)"):
        echo("starting the embedded services ...")
        # Superset is first needed after dbt (publish_dashboards): its first start
        # (metadata DB migration, ~40 s) runs while the data flows
        services.up(settings, services=[SUPERSET], wait=False)
        services.up(settings, services=[s for s in services.service_names(settings)
                                        if s != SUPERSET])
    with watch.stage("deliveries generated into landing/"):
        landing = Lake.landing(settings)
        for source in TABLES:
            generate(landing, source, start, days, scale=scale, seed=42, bad_records=0.002,
                     history_days=history_days)
    since = datetime.now(UTC)
    deadline = time.monotonic() + timeout
    with watch.stage("ingest, validate, publish (Airflow)"):
        # started by the data, not by the clock
        for dag_id in [*FEATURE_DAGS, DBT_DAG, *MODEL_DAGS, DASHBOARD_DAG]:
            wait_for_dag(settings, dag_id)
            unpause(settings, dag_id)
        for source in TABLES:
            dag_id = f"ingest_{source}"
            wait_for_dag(settings, dag_id)
            backfill(settings, dag_id, start, days)
            echo(f"{dag_id}: backfill of {days} daily intervals submitted to the scheduler")
        ingest_runs = []
        for source in TABLES:
            ingest_runs += wait_for_runs(settings, f"ingest_{source}", start, days,
                                         deadline - time.monotonic(), echo)
    failed = [r["dag_run_id"] for r in ingest_runs if r["state"] != "success"]
    report = landed_report(settings, start, days)
    echo("ingest done; waiting for the Spark feature DAGs and dbt they trigger ...")
    with watch.stage("features and dbt after the last ingest"):
        runs = wait_for_transforms(settings, start, days, since, deadline - time.monotonic(),
                                   echo)
    failed += [f"{r['dag_id']}/{r['dag_run_id']}" for r in runs if r["state"] != "success"]
    with watch.stage("models trained, gated, scoring (after dbt)"):
        services.up(settings, services=[SUPERSET])  # long healthy by now: no wait
        model_runs = wait_for_models(settings, since, deadline - time.monotonic(), echo)
    runs += model_runs
    failed += [f"{r['dag_id']}/{r['dag_run_id']}" for r in model_runs
               if r["state"] == "failed"]
    still = sorted({r["dag_id"] for r in model_runs if r["state"] not in TERMINAL})
    with watch.stage("marts and models through the SQL endpoint"):
        report += "\n\n" + marts_report(settings) + "\n\n" + models_report(settings)
        report += "\n\n" + dashboards_report(settings)
    if still:
        report += ("\nstill running (a retraining a drift alert started; its gate decides "
                   "in the Airflow UI): " + ", ".join(still))
    if failed:
        report += "\nFAILED runs (see the Airflow UI): " + ", ".join(failed)
    watch.save(ingest_runs + runs, timings)
    return report + "\n\n" + watch.table(ingest_runs + runs) + f"\n(saved to {timings})"
