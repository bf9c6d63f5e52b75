"""The demo behind ``make run``: real deliveries, ingested by Airflow's own scheduler, then
the data-driven chain the publications start: the Spark feature DAGs, dbt, and the model
DAGs (train and gate, score, monitor).

Both sources are onboarded the way a platform takes on a new source: the first day's
delivery is a historical load (:data:`HISTORY_DAYS` days before it, one file per table,
marked by ``_load.json``) that the same ingest DAG takes as one interval; the feature jobs
turn it into one partition per day, so the churn label (30 days ahead) is known for the
oldest weeks and both models train, pass the gate and score on the demo's own run.

Airflow is driven through :mod:`lakeops.airflow.client`; what is printed at the end comes
from :mod:`lakeops.demo.reports`, the timings from :mod:`lakeops.demo.stopwatch` (saved
under the state folder, :func:`timings_file`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from lakeops.airflow import client
from lakeops.airflow.client import TERMINAL, StatusLine, poll
from lakeops.catalog import dags, datasets
from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.demo.reports import dashboards_report, landed_report, marts_report, models_report
from lakeops.demo.stopwatch import Stopwatch
from lakeops.ml.specs import SPECS
from lakeops.storage.lake import Lake

# feature DAG -> the feature table it publishes (below the features zone)
FEATURE_TABLES = {dags.features_dag(source): ds.dataset
                  for source, ds in datasets.FEATURES.items()}
SUPERSET = "superset"
# the first delivery's history: the churn label looks 30 days ahead, so 42 days give two
# weeks of labelled as-of days by the demo's last day
HISTORY_DAYS = 42
SETTLE_S = 6  # a DAG counts as settled once no run of it has been active for this long


def timings_file(settings: Settings) -> Path:
    """Where the demo saves its stage and DAG timings: the state folder's ``timings/``."""
    return settings.home / "timings" / "make_run.json"


class Settling:
    """Whether every run of some DAGs created since ``since`` is finished and has been
    for :data:`SETTLE_S` (the scheduler creates asset-triggered runs a little after the
    event, so a moment without an active run is not yet the end)."""

    def __init__(self, settings: Settings, dag_ids: list[str], since: datetime) -> None:
        self.settings, self.dag_ids, self.since = settings, dag_ids, since
        self._quiet: dict[str, float] = {}

    def check(self) -> tuple[bool, list[dict[str, Any]]]:
        """(settled, the runs) from Airflow now."""
        runs = [r for d in self.dag_ids for r in client.runs_since(self.settings, d, self.since)]
        return self.quiet(runs), runs

    def quiet(self, runs: list[dict[str, Any]]) -> bool:
        """Whether ``runs`` are all finished and have been, unchanged, for
        :data:`SETTLE_S` (remembered between polls)."""
        key = ",".join(sorted(f"{r['dag_id']}/{r['dag_run_id']}:{r['state']}" for r in runs))
        if any(r["state"] not in TERMINAL for r in runs):
            self._quiet.clear()
            return False
        first_seen = self._quiet.setdefault(key, time.monotonic())
        return time.monotonic() - first_seen >= SETTLE_S

    def restart(self) -> None:
        self._quiet.clear()


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
    features = Settling(settings, list(FEATURE_TABLES), since)
    dbt = Settling(settings, [dags.DBT_BUILD], since)
    status = StatusLine(echo)
    missing: list[str] = []
    triggered = False

    def finished() -> list[dict[str, Any]] | None:
        nonlocal missing, triggered
        done, feature_runs = features.check()
        # the ingest runs published every day again: each feature DAG runs at least once
        done = done and {r["dag_id"] for r in feature_runs} == set(FEATURE_TABLES)
        missing = [f"{t}@{d}" for t in FEATURE_TABLES.values()
                   for d in sorted(wanted - set(lake.partitions("features", t)))]
        failed = [r for r in feature_runs if r["state"] == "failed"]
        dbt_done, dbt_runs = dbt.check()
        status(_summary(feature_runs + dbt_runs))
        if not (done and (failed or not missing) and dbt_done):
            return None
        if failed or triggered or not client.queued_events(settings, dags.DBT_BUILD):
            return feature_runs + dbt_runs
        if client.trigger_instead_of_queued(settings, dags.DBT_BUILD,
                                            note="lakeops demo: the last features"):
            echo(f"{dags.DBT_BUILD}: triggered by hand for the feature runs the scheduler "
                 "left unpaired")
            triggered = True
            dbt.restart()
        return None  # else the scheduler took the events meanwhile: its run comes

    return poll(finished, timeout=timeout, describe=lambda: (
        f"features and dbt not finished after {timeout:.0f}s: {status.last}; "
        f"missing feature partitions: {', '.join(missing) or 'none'}"))


def _models_settled(settings: Settings, settling: Settling,
                    ) -> tuple[bool, list[dict[str, Any]]]:
    """:meth:`Settling.check` for the model DAGs and the dashboards' publication; an asset
    event a model DAG has not turned into a run yet is work still to come (on a busy
    machine the scheduler may take longer than :data:`SETTLE_S` to create the run)."""
    everything, runs = settling.check()
    if everything and any(client.queued_events(settings, d) for d in dags.MODEL_DAGS):
        settling.restart()
        return False, runs
    return everything, runs


def _served(settings: Settings) -> bool:
    """Every model has a champion whose recent scores are monitored (a retraining a drift
    alert started may still run: it is reported as such)."""
    from lakeops.ml import runs as owed
    from lakeops.ml import score

    if any(owed.to_score(m, settings) or owed.to_monitor(m, settings) for m in SPECS):
        return False
    try:
        for m in SPECS:
            score.champion(m, settings)
    except score.NoChampionError:
        return False
    return True


def wait_for_models(settings: Settings, since: datetime, timeout: float,
                    echo: Callable[[str], Any] = print) -> list[dict[str, Any]]:
    """After dbt: wait until the model DAGs its marts started (train -> gate, then score on
    the new champion, then monitor) and the dashboards' publication have settled with
    every recent interval scored and monitored, or a model has no champion once its
    training settled."""
    settling = Settling(settings, [*dags.MODEL_DAGS, dags.PUBLISH_DASHBOARDS], since)
    served_dags = {*(dags.score_dag(m) for m in dags.MODELS),
                   *(dags.monitor_dag(m) for m in dags.MODELS), dags.PUBLISH_DASHBOARDS}
    serving = Settling(settings, sorted(served_dags), since)
    status = StatusLine(echo)

    def finished() -> list[dict[str, Any]] | None:
        everything, all_runs = _models_settled(settings, settling)
        done = serving.quiet([r for r in all_runs if r["dag_id"] in served_dags])
        status(_summary(all_runs))
        if everything and any(r["state"] == "failed" for r in all_runs):
            return all_runs
        # nothing runs any more (the report says what is missing), or every model served
        if everything or (done and _served(settings)):
            return all_runs
        return None

    return poll(finished, timeout=timeout, describe=lambda: (
        f"model DAGs not finished after {timeout:.0f}s: {status.last}"))


def run_demo(settings: Settings, start: date, days: int, *, scale: float = 0.01,
             timeout: float = 1800, echo: Callable[[str], Any] = print,
             timings: Path | None = None, history_days: int = HISTORY_DAYS) -> str:
    """Start the services, deliver ``days`` daily intervals of both sources (the first a
    historical load of ``history_days``), backfill the ingest DAGs over them, wait for the
    chain the publications start; the reports and the timings (saved to ``timings``,
    by default :func:`timings_file`)."""
    from lakeops import services
    from lakeops.synthetic.generate import generate

    timings = timings or timings_file(settings)
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
        client.wait_and_unpause(settings, dags.DATA_DRIVEN)  # started by the data
        for source in TABLES:
            dag_id = dags.ingest_dag(source)
            client.wait_for_dag(settings, dag_id)
            client.backfill(settings, dag_id, start, days)
            echo(f"{dag_id}: backfill of {days} daily intervals submitted to the scheduler")
        ingest_runs = []
        for source in TABLES:
            ingest_runs += client.wait_for_runs(settings, dags.ingest_dag(source), start, days,
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
