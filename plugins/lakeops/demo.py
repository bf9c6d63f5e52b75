"""The demo behind ``make run``: real deliveries, ingested by Airflow's own scheduler, then
the data-driven chain the publications start: the Spark feature DAGs, then dbt."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from lakeops.contracts import TABLES
from lakeops.lake import Lake
from lakeops.settings import Settings

TERMINAL = {"success", "failed"}
FEATURE_DAGS = {"features_education": "education/student_week",
                "features_business": "business/customer_day"}
DBT_DAG = "dbt_build"
SETTLE_S = 15  # a DAG counts as settled once no run of it has been active for this long


def _api(settings: Settings, method: str, path: str, json: Any = None) -> Any:
    from lakeops.services import airflow_api

    return airflow_api(settings, method, path, json=json)


def wait_for_dag(settings: Settings, dag_id: str, timeout: float = 180) -> None:
    """Until the dag-processor has parsed the DAG and the API knows it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _api(settings, "GET", f"/api/v2/dags/{dag_id}")
            return
        except Exception:  # noqa: BLE001 - not parsed yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow did not load DAG {dag_id} within {timeout:.0f}s; "
                                   f"see {settings.log_dir}/airflow-dag-processor.log") from None
            time.sleep(2)


def backfill(settings: Settings, dag_id: str, start: date, days: int) -> dict[str, Any]:
    """Ask the scheduler (REST API) to run ``dag_id`` for each daily interval, re-running
    completed ones, so a re-run of the demo replaces rather than duplicates."""
    _api(settings, "PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    end = start + timedelta(days=days - 1)
    body = {
        "dag_id": dag_id,
        "from_date": f"{start.isoformat()}T00:00:00Z",
        "to_date": f"{end.isoformat()}T00:00:00Z",
        "reprocess_behavior": "completed",
        "max_active_runs": 1,
    }
    # On the embedded SQLite metadata DB Airflow answers 503 "Database is locked" (or a 500
    # "Database error" from its audit log) while the scheduler writes; safe to repeat.
    for attempt in range(30):
        try:
            result: dict[str, Any] = _api(settings, "POST", "/api/v2/backfills", json=body)
            return result
        except httpx.HTTPStatusError as exc:
            conflict = exc.response.status_code == 409
            if conflict and "already a running backfill" in exc.response.text:
                _cancel_backfills(settings, dag_id)  # an earlier, interrupted demo's
            elif attempt == 29 or not (exc.response.status_code == 503 or (
                    exc.response.status_code == 500 and "Database" in exc.response.text)):
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def _cancel_backfills(settings: Settings, dag_id: str) -> None:
    listing = _api(settings, "GET", f"/api/v2/backfills?dag_id={dag_id}&limit=100")
    for b in listing.get("backfills", []):
        if not b.get("completed_at"):
            _api(settings, "PUT", f"/api/v2/backfills/{b['id']}/cancel")


def dag_runs(settings: Settings, dag_id: str, start: date, days: int) -> list[dict[str, Any]]:
    end = start + timedelta(days=days - 1)
    body = _api(
        settings, "GET",
        f"/api/v2/dags/{dag_id}/dagRuns?logical_date_gte={start.isoformat()}T00:00:00Z"
        f"&logical_date_lte={end.isoformat()}T00:00:00Z&limit=100",
    )
    return list(body.get("dag_runs", []))


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
    body = _api(settings, "GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100"
                f"&run_after_gte={since.isoformat().replace('+00:00', 'Z')}")
    return list(body.get("dag_runs", []))


def _settled(settings: Settings, dag_ids: list[str], since: datetime, quiet: dict[str, float],
             ) -> tuple[bool, list[dict[str, Any]]]:
    """Whether every run of ``dag_ids`` created since ``since`` is finished and has been for
    :data:`SETTLE_S` (the scheduler creates asset-triggered runs a little after the event)."""
    runs = [r for d in dag_ids for r in _runs_since(settings, d, since)]
    key = ",".join(sorted(f"{r['dag_id']}/{r['dag_run_id']}:{r['state']}" for r in runs))
    if any(r["state"] not in TERMINAL for r in runs):
        quiet.clear()
        return False, runs
    first_seen = quiet.setdefault(key, time.monotonic())
    return time.monotonic() - first_seen >= SETTLE_S, runs


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
            queued = _api(settings, "GET", f"/api/v2/dags/{DBT_DAG}/assets/queuedEvents")
            if failed or triggered or not queued.get("queued_events"):
                return feature_runs + dbt_runs
            try:
                _api(settings, "DELETE", f"/api/v2/dags/{DBT_DAG}/assets/queuedEvents")
            except httpx.HTTPStatusError as exc:  # the scheduler took them meanwhile: a run
                if exc.response.status_code != 404:
                    raise
                continue
            _api(settings, "POST", f"/api/v2/dags/{DBT_DAG}/dagRuns",
                 json={"logical_date": None, "note": "lakeops demo: the last features"})
            echo(f"{DBT_DAG}: triggered by hand for the feature runs the scheduler left "
                 "unpaired")
            triggered = True
            quiet_dbt.clear()
        if time.monotonic() > deadline:
            raise TimeoutError(f"features and dbt not finished after {timeout:.0f}s: {line}; "
                               f"missing feature partitions: {', '.join(missing) or 'none'}")
        time.sleep(3)


def marts_report(settings: Settings) -> str:
    """Rows per mart, counted through the lakehouse SQL endpoint, as any client would."""
    from lakeops.query import connect
    from lakeops.transform.dbt import mart_names

    lines = [f"{'mart (lakehouse.marts.*)':<34}{'rows':>10}"]
    with connect(settings) as client:
        for name in mart_names(settings):
            try:
                rows = client.table(f"SELECT count(*) AS n FROM lakehouse.marts.{name}")
                lines.append(f"{name:<34}{rows.column(0)[0].as_py():>10}")
            except Exception as exc:  # noqa: BLE001 - report the mart as missing, go on
                lines.append(f"{name:<34}{'missing':>10}  ({str(exc).splitlines()[0]})")
    lines.append(f"dbt docs at {settings.docs_url}/dbt_docs/")
    return "\n".join(lines)


def run_demo(settings: Settings, start: date, days: int, *, scale: float = 0.01,
             timeout: float = 1800, echo: Callable[[str], Any] = print) -> str:
    from lakeops import services
    from lakeops.generate import generate

    echo("starting the embedded services ...")
    services.up(settings)
    lake = Lake.from_settings(settings)
    for source in TABLES:
        generate(lake, source, start, days, scale=scale, seed=42, bad_records=0.002)
    since = datetime.now(UTC)
    for dag_id in [*FEATURE_DAGS, DBT_DAG]:  # started by the data, not by the clock
        wait_for_dag(settings, dag_id)
        _api(settings, "PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    failed = []
    for source in TABLES:
        dag_id = f"ingest_{source}"
        wait_for_dag(settings, dag_id)
        backfill(settings, dag_id, start, days)
        echo(f"{dag_id}: backfill of {days} daily intervals submitted to the scheduler")
    deadline = time.monotonic() + timeout
    for source in TABLES:
        runs = wait_for_runs(settings, f"ingest_{source}", start, days,
                             deadline - time.monotonic(), echo)
        failed += [r["dag_run_id"] for r in runs if r["state"] != "success"]
    report = landed_report(settings, start, days)
    echo("ingest done; waiting for the Spark feature DAGs and dbt they trigger ...")
    runs = wait_for_transforms(settings, start, days, since, deadline - time.monotonic(), echo)
    failed += [f"{r['dag_id']}/{r['dag_run_id']}" for r in runs if r["state"] != "success"]
    report += "\n\n" + marts_report(settings)
    if failed:
        report += "\nFAILED runs (see the Airflow UI): " + ", ".join(failed)
    return report
