"""The demo behind ``make run``: real deliveries, ingested by Airflow's own scheduler."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx

from lakeops.contracts import TABLES
from lakeops.lake import Lake
from lakeops.settings import Settings

TERMINAL = {"success", "failed"}


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


def run_demo(settings: Settings, start: date, days: int, *, scale: float = 0.01,
             timeout: float = 900, echo: Callable[[str], Any] = print) -> str:
    from lakeops import services
    from lakeops.generate import generate

    echo("starting the embedded services ...")
    services.up(settings)
    lake = Lake.from_settings(settings)
    for source in TABLES:
        generate(lake, source, start, days, scale=scale, seed=42, bad_records=0.002)
    failed = []
    for source in TABLES:
        dag_id = f"ingest_{source}"
        wait_for_dag(settings, dag_id)
        backfill(settings, dag_id, start, days)
        echo(f"{dag_id}: backfill of {days} daily intervals submitted to the scheduler")
    for source in TABLES:
        runs = wait_for_runs(settings, f"ingest_{source}", start, days, timeout, echo)
        failed += [r["dag_run_id"] for r in runs if r["state"] != "success"]
    report = landed_report(settings, start, days)
    if failed:
        report += "\nFAILED runs (see the Airflow UI): " + ", ".join(failed)
    return report
