"""The Evidently workspace ``<home>/evidently`` (what ``evidently ui --workspace`` serves,
the ``evidently`` service): one project per model holding the monitor's runs, and each
project's dashboard.

:func:`add_to_workspace` adds an interval's runs, replacing those of an earlier run of the
same interval, and gives the project its dashboard (:func:`dashboard_panels`,
:func:`ensure_dashboard`) — without panels the UI's dashboard tab stays empty however many
runs there are. The panels select runs by the tags :mod:`lakeops.ml.reports` gives them.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from lakeops.core.settings import Settings
from lakeops.ml.reports import DRIFT_TAG, PREDICTION, QUALITY_TAG
from lakeops.ml.specs import ModelSpec, spec

DRIFT_TAB = "Drift"
QUALITY_TAB = "Quality"


def workspace_dir(settings: Settings) -> Path:
    """The Evidently workspace: ``<home>/evidently`` (what ``evidently ui`` serves)."""
    return settings.home / "evidently"


def _stable_id(*parts: str) -> uuid.UUID:
    """The same id on every run for the same parts: a dashboard panel or tab is found (and
    replaced) by it rather than added again. Their namespace is ``lakeops.ml.monitor``:
    another one would give the panels of every existing dashboard new ids."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("lakeops.ml.monitor", *parts)))


def dashboard_panels(model_spec: ModelSpec, settings: Settings) -> list[tuple[str, Any]]:
    """(tab, panel) of the model's project dashboard, in order, each panel with a stable id.

    Every series selects the runs by tag (:data:`DRIFT_TAG`, :data:`QUALITY_TAG`) and a
    metric of those runs (see :mod:`lakeops.ml.reports`) by its labels — the metric's parameters, so
    ``column`` for the per-column metrics and ``value_type`` count / share for
    ``DriftedColumnsCount``. A drift score is the score of the test Evidently chose for the
    column: a p-value below 1000 rows (drift when under 0.05), a distance above (drift when
    over 0.1), so a line can change scale when the interval's row count crosses 1000."""
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import counter_panel, line_plot_panel

    def drift(metric: str, legend: str, **labels: str) -> PanelMetric:
        return PanelMetric(legend=legend, tags=[DRIFT_TAG], metric=metric,
                           metric_labels=labels)

    def quality(metric: str, legend: str) -> PanelMetric:
        return PanelMetric(legend=legend, tags=[QUALITY_TAG], metric=metric)

    def column_drift(columns: tuple[str, ...]) -> list[PanelMetric]:
        return [drift("ValueDrift", column, column=column) for column in columns]

    limit = settings.ml_drift_share_threshold
    scores = ("score of the test Evidently picks per column: a p-value below 1000 rows "
              "(drift under 0.05), a distance above (drift over 0.1)")
    panels = [
        ("last", DRIFT_TAB, counter_panel(
            "Last interval",
            [drift("DriftedColumnsCount", "drifted features", value_type="count"),
             drift("DriftedColumnsCount", "share of drifted features", value_type="share"),
             drift("ValueDrift", "prediction drift score", column=PREDICTION),
             drift("MeanValue", "mean predicted probability", column=PREDICTION)],
            description="the latest drift run", aggregation="last")),
        ("drift-share", DRIFT_TAB, line_plot_panel(
            "Share of drifted features",
            [drift("DriftedColumnsCount", "drift share", value_type="share")],
            description=f"of the tested features, those whose Evidently test finds "
                        f"drift; retraining is due from {limit} (or by PSI: "
                        f"monitoring/drift)", size="half")),
        ("prediction-drift", DRIFT_TAB, line_plot_panel(
            "Prediction drift score",
            [drift("ValueDrift", "prediction drift score", column=PREDICTION)],
            description=f"{PREDICTION} against the training reference; {scores}",
            size="half")),
        ("prediction", DRIFT_TAB, line_plot_panel(
            "Predicted probability",
            [drift("MeanValue", "mean", column=PREDICTION),
             *(drift("QuantileValue", f"p{round(q * 100)}", column=PREDICTION, quantile=str(q))
               for q in (0.25, 0.5, 0.75))],
            description=f"distribution of {PREDICTION}, the probability of the predicted "
                        f"class, over the interval's rows")),
        ("numeric-drift", DRIFT_TAB, line_plot_panel(
            "Drift score of numeric features", column_drift(model_spec.numeric),
            description=scores)),
        ("categorical-drift", DRIFT_TAB, line_plot_panel(
            "Drift score of categorical features", column_drift(model_spec.categorical),
            description=scores)),
        ("quality", QUALITY_TAB, line_plot_panel(
            "Classification quality of labelled rows",
            [quality("Accuracy", "accuracy"), quality("Precision", "precision"),
             quality("Recall", "recall"), quality("F1Score", "F1"),
             quality("RocAuc", "ROC AUC")],
            description="the interval's rows whose label is known by now; no points until "
                        "labels arrive")),
        ("quality-last", QUALITY_TAB, counter_panel(
            "Last labelled interval",
            [quality("RocAuc", "ROC AUC"), quality("Recall", "recall"),
             quality("Accuracy", "accuracy")],
            description="the latest quality run", aggregation="last")),
    ]
    return [(tab, panel.copy(update={"id": _stable_id(model_spec.name, "panel", key)}))
            for key, tab, panel in panels]


def ensure_dashboard(ws: Any, project_id: Any, model_spec: ModelSpec,
                     settings: Settings) -> Any:
    """Give the model's project the panels of :func:`dashboard_panels`, idempotently: a
    panel with the same stable id or the same title (one made by hand, or by an older
    version of this code) is replaced, so running again never duplicates one and changed
    definitions (a new feature in the spec) reach the UI. Our panels lead their tabs; other
    panels and tabs are kept. Written only when it changed; returns the dashboard."""
    from evidently.sdk.models import DashboardModel, DashboardTabModel

    current = ws.get_dashboard(project_id)
    wanted = dashboard_panels(model_spec, settings)
    ids, titles = {p.id for _, p in wanted}, {p.title for _, p in wanted}
    others = [p for p in current.panels if p.id not in ids and p.title not in titles]
    kept = {p.id for p in others}
    tabs = [t.copy(update={"panels": [i for i in t.panels if i in kept]})
            for t in current.tabs]
    for title in dict.fromkeys(tab for tab, _ in wanted):
        tab_id = _stable_id(model_spec.name, "tab", title)
        found = next((t for t in tabs if t.id == tab_id or t.title == title), None)
        if found is None:
            found = DashboardTabModel(id=tab_id, title=title, panels=[])
            tabs.append(found)
        found.panels = [*(p.id for tab, p in wanted if tab == title), *found.panels]
    dashboard = DashboardModel(tabs=tabs, panels=[*others, *(p for _, p in wanted)])
    if dashboard.dict() != current.dict():
        ws.save_dashboard(project_id, dashboard)
    return dashboard


def add_to_workspace(settings: Settings, model: str, runs: list[Any]) -> list[str]:
    """Add ``runs`` to the model's project in the local workspace, replacing earlier runs
    of the same name (re-running an interval), and make sure the project has its dashboard
    (:func:`ensure_dashboard`); returns the new snapshot ids."""
    from evidently.ui.workspace import Workspace

    folder = workspace_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    ws = Workspace(str(folder))
    found = ws.search_project(model)
    project = found[0] if found else ws.create_project(
        model, description=f"Drift and quality of {model} against its training reference "
                           f"(lakeops.ml.monitor)")
    ensure_dashboard(ws, project.id, spec(model), settings)
    names = {run.get_name() for run in runs}
    for snapshot_id in ws.list_runs(project.id):
        old = ws.get_run(project.id, snapshot_id)
        if old is not None and old.name in names:
            ws.delete_run(project.id, snapshot_id)
    return [str(ws.add_run(project.id, run, include_data=False).id) for run in runs]
