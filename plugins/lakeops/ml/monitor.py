"""Drift monitoring with Evidently: the interval's scored rows against the training
reference of the version that scored them.

:func:`monitor` (one model, one data interval):

* **current** — the interval's feature-mart rows (:func:`lakeops.ml.score.scoring_rows`)
  joined to their predictions (``predictions/<model>/dt=<interval>``) on the spec's keys;
* **reference** — the training reference sample of the version that scored them (the
  champion when scoring ran; ``monitoring/model_references/<model>/version=<v>/*.parquet``,
  :func:`reference_frame`), its ``prediction_score`` column being that version's
  probability of the predicted class (scored here with the version when absent).

Both go through :func:`lakeops.ml.specs.matrix`, so the columns compared are exactly the
model's input. One Evidently ``Report`` computes

* data drift of every feature (``DataDriftPreset`` with ``drift_share`` =
  ``settings.ml_drift_share_threshold``; Evidently picks the test per column: K-S /
  chi-square below 1000 rows, Wasserstein / Jensen-Shannon above) and prediction drift
  (``ValueDrift`` of the probability column);
* a data quality summary (``DataSummaryPreset``);

and, when labels of the current rows are known already, a second report computes the
classification quality of those rows (``ClassificationPreset``). PSI per feature and of
the prediction is computed here with numpy (:func:`psi`: ten reference-quantile bins for
numbers, one bin per category), because Evidently's PSI is one more drift test per column
rather than a number beside the chosen test.

Outputs:

* ``reports/drift/<model>/<interval>.html`` (and ``<interval>-quality.html`` when labels
  are known) in the lake — the docs site serves ``reports/``;
* the runs in the Evidently workspace ``<home>/evidently``, one project per model
  (``evidently ui --workspace <home>/evidently``; the ``evidently`` service); running an
  interval again replaces its runs; each project gets its dashboard
  (:func:`dashboard_panels`, :func:`ensure_dashboard`) — without panels the UI's dashboard
  tab stays empty however many runs there are;
* ``monitoring/drift/<model>/dt=<interval>`` — one row (:data:`DRIFT_COLUMNS`) and
  ``monitoring/drift_features/<model>/dt=<interval>`` — one row per feature and one for
  the prediction (:data:`DRIFT_FEATURE_COLUMNS`).

The retraining alert (:func:`crossed`, :func:`drift_alert`) is raised when the share of
drifted features — by Evidently's per-column tests, or by PSI above
``settings.ml_psi_threshold`` — reaches ``settings.ml_drift_share_threshold``.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeops.catalog import datasets
from lakeops.core.settings import Settings
from lakeops.ml.score import (
    PREDICTED,
    PROBABILITY,
    load_model,
    predict_proba,
    read_predictions,
    scoring_rows,
)
from lakeops.ml.specs import ModelSpec, matrix, spec, target
from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path

if TYPE_CHECKING:
    import pandas as pd

PREDICTION = "prediction_score"  # the probability column, in the reference and the report
TARGET = "target"
PREDICTED_LABEL = "prediction_label"
DRIFT_TAG = "drift"  # tag of the drift runs in the workspace: the panels select by it
QUALITY_TAG = "quality"  # tag of the classification quality runs
DRIFT_TAB = "Drift"
QUALITY_TAB = "Quality"
PSI_BINS = 10
PSI_EPS = 1e-4

# monitoring/drift/<model>: one row per interval
DRIFT_COLUMNS = (
    "model", "interval", "reference_version", "model_version", "rows", "reference_rows",
    "features", "drifted_features", "drift_share", "dataset_drift", "drift_share_threshold",
    "psi_threshold", "psi_drifted_features", "psi_drift_share", "psi_max",
    "prediction_stattest", "prediction_drift_score", "prediction_drift_threshold",
    "prediction_drifted", "prediction_psi", "prediction_mean", "prediction_std",
    "prediction_p10", "prediction_p50", "prediction_p90", "predicted_positive_rate",
    "reference_prediction_mean", "reference_predicted_positive_rate", "labelled_rows",
    "accuracy", "precision", "recall", "f1", "roc_auc", "alert", "report_path",
)
# monitoring/drift_features/<model>: one row per feature (and one for the prediction)
DRIFT_FEATURE_COLUMNS = (
    "model", "interval", "reference_version", "feature", "kind", "stattest", "drift_score",
    "stattest_threshold", "drifted", "psi", "psi_drifted", "current_missing_share",
    "reference_missing_share",
)


def workspace_dir(settings: Settings) -> Path:
    """The Evidently workspace: ``<home>/evidently`` (what ``evidently ui`` serves)."""
    return settings.home / "evidently"


def report_path(model: str, interval: str, suffix: str = "") -> str:
    """``reports/drift/<model>/<interval><suffix>.html`` in the lake."""
    return table_path("reports", "drift", model, f"{interval}{suffix}.html")


def reference_frame(model: str, version: int | str, settings: Settings) -> pd.DataFrame:
    """The training reference rows of one version of ``model``
    (``<REFERENCES path>/version=<v>/*.parquet``)."""
    import pyarrow as pa

    lake = Lake.from_settings(settings)
    folder = f"{datasets.REFERENCES[model].path}/version={version}"
    files = [f.path for f in lake.ls(folder) if f.path.endswith(".parquet")]
    if not files:
        raise FileNotFoundError(f"no training reference of {model} version {version} in "
                                f"{lake.uri(folder)}")
    return pa.concat_tables([lake.read_parquet(p) for p in files],
                            promote_options="default").to_pandas()


# -- PSI ------------------------------------------------------------------------------------


def psi(reference: Any, current: Any, *, categorical: bool, bins: int = PSI_BINS) -> float:
    """Population stability index of ``current`` against ``reference`` (missing values
    left out): numbers in ``bins`` bins at the reference's quantiles (fewer when values
    repeat), categories one bin each; empty bins count ``PSI_EPS``. NaN when a side is
    empty."""
    import numpy as np
    import pandas as pd

    ref, cur = pd.Series(reference).dropna(), pd.Series(current).dropna()
    if ref.empty or cur.empty:
        return float("nan")
    if categorical:
        r_counts, c_counts = ref.astype(str).value_counts(), cur.astype(str).value_counts()
        cats = sorted(set(r_counts.index) | set(c_counts.index))
        r = r_counts.reindex(cats, fill_value=0).to_numpy() / len(ref)
        c = c_counts.reindex(cats, fill_value=0).to_numpy() / len(cur)
    else:
        ref_v, cur_v = ref.to_numpy(dtype="float64"), cur.to_numpy(dtype="float64")
        inner = np.unique(np.quantile(ref_v, np.linspace(0, 1, bins + 1)))[1:-1]
        r = np.bincount(np.searchsorted(inner, ref_v, side="right"),
                        minlength=len(inner) + 1) / len(ref_v)
        c = np.bincount(np.searchsorted(inner, cur_v, side="right"),
                        minlength=len(inner) + 1) / len(cur_v)
    r, c = np.clip(r, PSI_EPS, None), np.clip(c, PSI_EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


# -- frames for Evidently -------------------------------------------------------------------


def evidently_frame(model_spec: ModelSpec, rows: pd.DataFrame, proba: Any,
                    threshold: float) -> pd.DataFrame:
    """The model's input (via :func:`matrix`), its probability, and — where the rows carry a
    known label — the target (1 = the predicted class) and the predicted label."""
    import numpy as np

    x, _ = matrix(model_spec, rows.drop(columns=[model_spec.label], errors="ignore"))
    frame = x.reset_index(drop=True)
    p = np.asarray(proba, dtype="float64")
    frame[PREDICTION] = p
    frame[PREDICTED_LABEL] = (p >= threshold).astype("int64")
    if model_spec.label in rows.columns:
        frame[TARGET] = target(model_spec, rows).to_numpy()
    return frame


def _definition(model_spec: ModelSpec, numeric: list[str], categorical: list[str],
                *, classification: bool) -> Any:
    from evidently import BinaryClassification, DataDefinition

    task = [BinaryClassification(target=TARGET, prediction_labels=PREDICTED_LABEL,
                                 prediction_probas=PREDICTION, pos_label=1)] \
        if classification else None
    return DataDefinition(
        numerical_columns=[*numeric, PREDICTION],
        categorical_columns=[*categorical, *([TARGET, PREDICTED_LABEL] if classification
                                             else [PREDICTED_LABEL])],
        classification=task)


def _usable(frame: pd.DataFrame, column: str) -> bool:
    return bool(frame[column].notna().any())


# -- Evidently ------------------------------------------------------------------------------


def _metric_values(run: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(metrics of ``run.dict()``, metric id -> test status)."""
    out = run.dict()
    status = {t["metric_config"]["metric_id"]: t["status"] for t in out["tests"]}
    return out["metrics"], status


def _metric_kind(metric: dict[str, Any]) -> str:
    return str(metric["config"]["type"]).rsplit(":", 1)[-1]


def compare(model_spec: ModelSpec, reference: pd.DataFrame, current: pd.DataFrame,
            settings: Settings, *, interval: str, reference_version: str,
            model_version: str, threshold: float) -> dict[str, Any]:
    """Run the drift (and, with labels, quality) reports on two :func:`evidently_frame`
    frames; returns the snapshots, the headline row and the per-feature rows."""
    import numpy as np
    from evidently import Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import ClassificationPreset, DataDriftPreset, DataSummaryPreset

    # a feature empty on either side has no distribution to compare: reported, not tested
    numeric = [c for c in model_spec.numeric
               if _usable(reference, c) and _usable(current, c)]
    categorical = list(model_spec.categorical)
    tested = [*numeric, *categorical]
    timestamp = datetime.combine(date.fromisoformat(interval), datetime.min.time(), UTC)
    definition = _definition(model_spec, numeric, categorical, classification=False)
    columns = [*tested, PREDICTION, PREDICTED_LABEL]
    drift_report = Report(
        [DataDriftPreset(columns=tested, drift_share=settings.ml_drift_share_threshold),
         ValueDrift(column=PREDICTION), DataSummaryPreset(columns=columns)],
        include_tests=True)
    drift_run = drift_report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
        timestamp=timestamp, name=f"{model_spec.name} drift {interval}",
        tags=[DRIFT_TAG, f"version={model_version}"],
        metadata={"model": model_spec.name, "interval": interval,
                  "reference_version": reference_version, "model_version": model_version})
    metrics, status = _metric_values(drift_run)

    drift: dict[str, dict[str, Any]] = {}
    dataset = {"count": 0.0, "share": 0.0}
    for metric in metrics:
        kind = _metric_kind(metric)
        if kind == "ValueDrift":
            cfg = metric["config"]
            drift[cfg["column"]] = {"stattest": cfg.get("method"),
                                    "drift_score": float(metric["value"]),
                                    "stattest_threshold": cfg.get("threshold"),
                                    "drifted": status.get(metric["id"]) == "FAIL"}
        elif kind == "DriftedColumnsCount":
            dataset = metric["value"]

    base = {"model": model_spec.name, "interval": interval,
            "reference_version": reference_version}
    feature_rows = []
    for col in [*model_spec.numeric, *model_spec.categorical, PREDICTION]:
        is_cat = col in model_spec.categorical
        value = psi(reference[col], current[col], categorical=is_cat)
        found = drift.get(col, {})
        feature_rows.append({
            **base, "feature": col,
            "kind": "prediction" if col == PREDICTION else
            ("categorical" if is_cat else "numeric"),
            "stattest": found.get("stattest") or "not tested: no values on one side",
            "drift_score": found.get("drift_score", float("nan")),
            "stattest_threshold": found.get("stattest_threshold", float("nan")),
            "drifted": bool(found.get("drifted", False)),
            "psi": value,
            "psi_drifted": bool(not math.isnan(value) and value > settings.ml_psi_threshold),
            "current_missing_share": float(current[col].isna().mean()) if len(current) else 0.0,
            "reference_missing_share": float(reference[col].isna().mean())
            if len(reference) else 0.0,
        })
    features = [r for r in feature_rows if r["kind"] != "prediction"]
    prediction = next(r for r in feature_rows if r["kind"] == "prediction")
    n_features = len(features)
    psi_drifted = sum(r["psi_drifted"] for r in features)
    p = current[PREDICTION].to_numpy(dtype="float64")
    ref_p = reference[PREDICTION].to_numpy(dtype="float64")
    row: dict[str, Any] = {
        **base, "model_version": model_version, "rows": len(current),
        "reference_rows": len(reference), "features": n_features,
        "drifted_features": int(dataset["count"]), "drift_share": float(dataset["share"]),
        "dataset_drift": float(dataset["share"]) >= settings.ml_drift_share_threshold,
        "drift_share_threshold": settings.ml_drift_share_threshold,
        "psi_threshold": settings.ml_psi_threshold,
        "psi_drifted_features": int(psi_drifted),
        "psi_drift_share": psi_drifted / n_features if n_features else 0.0,
        "psi_max": float(np.nanmax([r["psi"] for r in features]))
        if any(not math.isnan(r["psi"]) for r in features) else float("nan"),
        "prediction_stattest": prediction["stattest"],
        "prediction_drift_score": prediction["drift_score"],
        "prediction_drift_threshold": prediction["stattest_threshold"],
        "prediction_drifted": prediction["drifted"], "prediction_psi": prediction["psi"],
        "prediction_mean": float(np.mean(p)) if len(p) else float("nan"),
        "prediction_std": float(np.std(p)) if len(p) else float("nan"),
        **{f"prediction_p{q}": float(np.quantile(p, q / 100)) if len(p) else float("nan")
           for q in (10, 50, 90)},
        "predicted_positive_rate": float(np.mean(p >= threshold)) if len(p) else float("nan"),
        "reference_prediction_mean": float(np.mean(ref_p)) if len(ref_p) else float("nan"),
        "reference_predicted_positive_rate": float(np.mean(ref_p >= threshold))
        if len(ref_p) else float("nan"),
        "labelled_rows": 0, "accuracy": float("nan"), "precision": float("nan"),
        "recall": float("nan"), "f1": float("nan"), "roc_auc": float("nan"),
    }
    row["alert"] = crossed(row, settings)

    quality_run = None
    labelled = current[current[TARGET].notna()] if TARGET in current.columns \
        else current.iloc[0:0]
    if len(labelled):
        qdef = _definition(model_spec, numeric, categorical, classification=True)
        qcols = [*columns, TARGET]
        cur = labelled[qcols].astype({TARGET: "int64"})
        ref = reference[qcols].dropna(subset=[TARGET]).astype({TARGET: "int64"}) \
            if TARGET in reference.columns and reference[TARGET].notna().any() else None
        quality_run = Report([ClassificationPreset()]).run(
            Dataset.from_pandas(cur, data_definition=qdef),
            Dataset.from_pandas(ref, data_definition=qdef) if ref is not None else None,
            timestamp=timestamp, name=f"{model_spec.name} quality {interval}",
            tags=[QUALITY_TAG, f"version={model_version}"],
            metadata={"model": model_spec.name, "interval": interval,
                      "model_version": model_version})
        row["labelled_rows"] = len(labelled)
        names = {"Accuracy": "accuracy", "Precision": "precision", "Recall": "recall",
                 "F1Score": "f1", "RocAuc": "roc_auc"}
        for metric in quality_run.dict()["metrics"]:
            kind = _metric_kind(metric)
            if kind in names and isinstance(metric["value"], int | float):
                row[names[kind]] = float(metric["value"])
    return {"drift_run": drift_run, "quality_run": quality_run, "row": row,
            "features": feature_rows}


def crossed(row: dict[str, Any], settings: Settings) -> bool:
    """The retraining alert: the share of drifted features by Evidently's tests, or of
    features whose PSI exceeds ``ml_psi_threshold``, reaches ``ml_drift_share_threshold``."""
    limit = settings.ml_drift_share_threshold
    return bool(row["drift_share"] >= limit or row["psi_drift_share"] >= limit)


# -- workspace and lake ---------------------------------------------------------------------


def _stable_id(*parts: str) -> uuid.UUID:
    """The same id on every run for the same parts: a dashboard panel or tab is found (and
    replaced) by it rather than added again."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("lakeops.ml.monitor", *parts)))


def dashboard_panels(model_spec: ModelSpec, settings: Settings) -> list[tuple[str, Any]]:
    """(tab, panel) of the model's project dashboard, in order, each panel with a stable id.

    Every series selects the runs by tag (:data:`DRIFT_TAG`, :data:`QUALITY_TAG`) and a
    metric of those runs (see :func:`compare`) by its labels — the metric's parameters, so
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


def _write_rows(lake: Lake, ds: datasets.Dataset, interval: str, rows: list[dict[str, Any]],
                columns: tuple[str, ...]) -> str:
    import pandas as pd
    import pyarrow as pa

    frame = pd.DataFrame(rows, columns=list(columns))
    return lake.write_partition(ds.zone, ds.dataset, interval,
                                pa.Table.from_pandas(frame, preserve_index=False))


def current_rows(model_spec: ModelSpec, interval: str, lake: Lake) -> pd.DataFrame:
    """The interval's feature rows with their predictions (inner join on the keys)."""
    rows = scoring_rows(model_spec, interval, lake)
    predictions = read_predictions(lake, model_spec.name, interval)
    keys = list(model_spec.keys)
    for key in keys:
        predictions[key] = predictions[key].astype(rows[key].dtype)
    keep = [*keys, PROBABILITY, PREDICTED, "threshold", "model_version", "run_id"]
    return rows.merge(predictions[keep], on=keys, how="inner").reset_index(drop=True)


def monitor(model: str, interval: str, settings: Settings, *,
            tracking_uri: str | None = None) -> dict[str, Any]:
    """Drift and quality of the interval's scored rows against the training reference of
    the version that scored them; writes the report(s), the workspace runs and the two
    drift tables, and returns the headline row with ``alert`` (see :func:`crossed`).
    ``tracking_uri`` (default ``settings.mlflow_url``) is only used when the reference
    lacks ``prediction_score`` and the version must score it."""
    model_spec = spec(model)
    lake = Lake.from_settings(settings)
    rows = current_rows(model_spec, interval, lake)
    if rows.empty:
        raise ValueError(f"{model} {interval}: no scored rows to monitor")
    versions = sorted(rows["model_version"].astype(str).unique())
    if len(versions) != 1:
        raise ValueError(f"{model} {interval}: predictions of several versions {versions}")
    version, threshold = versions[0], float(rows["threshold"].iloc[0])
    reference_rows = reference_frame(model, version, settings)
    if PREDICTION in reference_rows.columns:
        ref_proba = reference_rows[PREDICTION].to_numpy()
    else:  # an older reference without the version's scores: score it now
        from lakeops.ml.score import Champion

        loaded = load_model(Champion(model, version, str(rows["run_id"].iloc[0]), threshold),
                            settings, tracking_uri=tracking_uri)
        x, _ = matrix(model_spec, reference_rows.drop(columns=[model_spec.label],
                                                      errors="ignore"))
        ref_proba = predict_proba(loaded, x)
    reference = evidently_frame(model_spec, reference_rows, ref_proba, threshold)
    current = evidently_frame(model_spec, rows, rows[PROBABILITY].to_numpy(), threshold)

    result = compare(model_spec, reference, current, settings, interval=interval,
                     reference_version=version, model_version=version, threshold=threshold)
    html = report_path(model, interval)
    lake.write_bytes(html, result["drift_run"].get_html_str(as_iframe=False).encode())
    runs = [result["drift_run"]]
    quality_html = report_path(model, interval, "-quality")
    if result["quality_run"] is not None:
        lake.write_bytes(quality_html,
                         result["quality_run"].get_html_str(as_iframe=False).encode())
        runs.append(result["quality_run"])
    elif lake.exists(quality_html):  # labels were known on an earlier run, not now
        lake.delete(quality_html)
    snapshots = add_to_workspace(settings, model, runs)

    row = {**result["row"], "report_path": html}
    _write_rows(lake, datasets.DRIFT[model], interval, [row], DRIFT_COLUMNS)
    _write_rows(lake, datasets.DRIFT_FEATURES[model], interval, result["features"],
                DRIFT_FEATURE_COLUMNS)
    return {**row, "snapshots": snapshots,
            "drifted": sorted(r["feature"] for r in result["features"]
                              if r["kind"] != "prediction" and (r["drifted"] or r["psi_drifted"]))}


def drift_alert(model: str, interval: str, settings: Settings) -> bool:
    """Whether the interval's recorded drift (``monitoring/drift/<model>/dt=<interval>``,
    written by :func:`monitor`) crossed the thresholds (:func:`crossed`, as configured
    when it was recorded): schedule retraining."""
    lake = Lake.from_settings(settings)
    ds = datasets.DRIFT[model]
    path = table_path(ds.zone, ds.dataset, partition_dir(interval), DATA_FILE)
    if not lake.exists(path):
        raise FileNotFoundError(f"no drift recorded for {model} {interval} at "
                                f"{lake.uri(path)}: run monitor first")
    return bool(lake.read_parquet(path).column("alert")[0].as_py())
