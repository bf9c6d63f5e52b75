"""What the demo prints after its runs: what landed, the marts, the models, the dashboards.

Each report reads what a user would: the manifests in the lake, the marts and the models'
tables through the lakehouse SQL endpoint, the champion in MLflow's registry, the
dashboards' URLs in Superset.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from lakeops.catalog import dags, datasets
from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.ml.specs import SPECS
from lakeops.storage.lake import Lake


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
        why = (f"no version reached the promotion gate (see {dags.train_dag(model)} "
               "in Airflow)")
    if not rows:
        return why
    row = rows[0]
    return f"the gate's last decision: v{row['version']} {row['decision']} ({row['reasons']})"


def dashboards_report(settings: Settings) -> str:
    """Where each dashboard is, and whether the bundle was published."""
    from lakeops.dashboards import bundle as dashboards

    published = (settings.superset_home / dashboards.STATE).exists()
    pending = "" if published else f"; not published yet: see {dags.PUBLISH_DASHBOARDS}"
    lines = [f"Dashboards (Superset, user {settings.superset_admin_user}{pending}):"]
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
