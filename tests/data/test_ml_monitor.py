"""Drift monitoring on synthetic rows in a temporary lake: a shifted feature is flagged by
Evidently and by PSI, an unshifted one is not; the report, the workspace run and the two
drift tables are written where the docs site, the Evidently UI and SQL read them
(Evidently's reports take seconds of CPU each; PSI alone is in tests/unit)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakeops.catalog import datasets
from lakeops.core.settings import Settings
from lakeops.ml import drift, reports, workspace
from lakeops.ml import monitor as mon
from lakeops.ml.specs import spec
from lakeops.storage.lake import Lake

MODEL = "customer_churn"
INTERVAL = "2024-10-03"
N = 400


def _rows(rng: np.random.Generator, n: int, *, as_of: date, shift: float,
          first_id: int) -> pd.DataFrame:
    """Feature-mart rows of the business model; ``monetary`` moves by ``shift``."""
    return pd.DataFrame({
        "customer_id": np.arange(first_id, first_id + n, dtype="int64"),
        "as_of_date": [as_of] * n,
        "recency_days": rng.integers(0, 60, n).astype("int32"),
        "frequency": rng.poisson(4, n).astype("int32"),
        "monetary": rng.normal(100 + shift, 20, n),
        "orders_today": rng.integers(0, 2, n).astype("int32"),
        "avg_order_value": rng.normal(25, 5, n),
        "avg_items_per_order": rng.normal(2, 0.5, n),
        "distinct_categories": rng.integers(1, 5, n).astype("int32"),
        "first_order_date": [date(2024, 1, 1)] * n,
        "segment": rng.choice(["consumer", "enterprise", "smb"], n),
        "country": rng.choice(["FR", "DE", "UK"], n),
        "city": rng.choice(["Lyon", "Berlin", "Leeds", "Paris"], n),
        "tenure_days": rng.integers(0, 400, n).astype("int32"),
        "reordered_within_30d": pd.array([None] * n, dtype="boolean"),
    })


@pytest.fixture
def scored(settings: Settings) -> Settings:
    """A features mart, the interval's predictions of version 3 and its training reference."""
    rng = np.random.default_rng(7)
    lake = Lake.from_settings(settings)
    current = _rows(rng, N, as_of=date.fromisoformat(INTERVAL), shift=60.0, first_id=1)
    other_day = _rows(rng, 50, as_of=date(2024, 10, 2), shift=0.0, first_id=1)
    mart = pd.concat([other_day, current], ignore_index=True)
    lake.write_table("marts/ml_business_features/part-0.parquet",
                     pa.Table.from_pandas(mart, preserve_index=False))

    proba = np.clip(rng.normal(0.3, 0.1, N), 0, 1)
    predictions = current[["customer_id", "as_of_date"]].assign(
        probability=proba, predicted_label=(proba >= 0.5).astype("int64"), threshold=0.5,
        model=MODEL, model_version="3", run_id="r3", interval=INTERVAL)
    ds = datasets.PREDICTIONS[MODEL]
    lake.write_partition(ds.zone, ds.dataset, INTERVAL,
                         pa.Table.from_pandas(predictions, preserve_index=False))

    reference = _rows(rng, N, as_of=date(2024, 9, 1), shift=0.0, first_id=1000)
    reference["reordered_within_30d"] = rng.random(N) < 0.6
    reference["prediction_score"] = np.clip(rng.normal(0.3, 0.1, N), 0, 1)
    lake.write_table(f"{datasets.REFERENCES[MODEL].path}/version=3/part-0.parquet",
                     pa.Table.from_pandas(reference, preserve_index=False))
    return settings


def test_monitor_flags_the_shifted_feature_and_writes_every_output(scored: Settings) -> None:
    settings = scored
    lake = Lake.from_settings(settings)

    result = mon.monitor(MODEL, INTERVAL, settings)

    table = lake.read_partition("monitoring", f"drift_features/{MODEL}", INTERVAL)
    assert tuple(table.column_names) == drift.DRIFT_FEATURE_COLUMNS
    features = table.to_pandas().set_index("feature")
    model_spec = spec(MODEL)
    assert set(features.index) == {*model_spec.features, reports.PREDICTION}
    shifted, steady = features.loc["monetary"], features.loc["frequency"]
    assert shifted["drifted"] and shifted["psi"] > settings.ml_psi_threshold
    assert shifted["psi_drifted"]
    assert not steady["drifted"] and steady["psi"] < settings.ml_psi_threshold
    assert features.loc[reports.PREDICTION, "kind"] == "prediction"
    assert features["stattest"].str.len().min() > 0

    recorded = lake.read_partition("monitoring", f"drift/{MODEL}", INTERVAL).to_pylist()
    assert len(recorded) == 1 and tuple(recorded[0]) == drift.DRIFT_COLUMNS
    row = recorded[0]
    assert row["rows"] == N and row["reference_rows"] == N
    assert row["reference_version"] == "3" and row["features"] == len(model_spec.features)
    assert row["drifted_features"] >= 1 and 0 < row["drift_share"] < 1
    assert row["drift_share_threshold"] == 0.3 and row["psi_threshold"] == 0.2
    assert row["prediction_mean"] == pytest.approx(0.3, abs=0.03)
    assert row["labelled_rows"] == 0 and row["roc_auc"] is None  # no labels yet
    # one shifted feature of eleven: under the 0.3 share, no retraining
    assert result["alert"] is False and mon.drift_alert(MODEL, INTERVAL, settings) is False
    assert "monetary" in result["drifted"]

    html = lake.local_path(mon.report_path(MODEL, INTERVAL))
    assert html == lake.local_path(f"reports/drift/{MODEL}/{INTERVAL}.html")
    assert html.stat().st_size > 10_000 and b"monetary" in html.read_bytes()

    from evidently.ui.workspace import Workspace

    ws = Workspace(str(settings.home / "evidently"))
    (project,) = ws.search_project(MODEL)
    assert len(ws.list_runs(project.id)) == 1
    # running the interval again replaces its run, its report and its rows
    mon.monitor(MODEL, INTERVAL, settings)
    assert len(ws.list_runs(project.id)) == 1
    assert lake.read_partition("monitoring", f"drift/{MODEL}", INTERVAL).num_rows == 1


def test_the_alert_follows_the_drift_share_threshold(scored: Settings) -> None:
    low = scored.model_copy(update={"ml_drift_share_threshold": 0.05})
    assert mon.monitor(MODEL, INTERVAL, low)["alert"] is True
    assert mon.drift_alert(MODEL, INTERVAL, low) is True


def _label_the_interval(settings: Settings) -> None:
    """The labels of the interval's rows become known (the mart's label column fills in)."""
    lake = Lake.from_settings(settings)
    mart = lake.read_parquet("marts/ml_business_features/part-0.parquet").to_pandas()
    today = mart["as_of_date"] == date.fromisoformat(INTERVAL)
    mart["reordered_within_30d"] = pd.array(
        np.where(today, np.random.default_rng(3).random(len(mart)) < 0.6, None),
        dtype="boolean")
    lake.write_table("marts/ml_business_features/part-0.parquet",
                     pa.Table.from_pandas(mart, preserve_index=False))


def test_known_labels_add_the_classification_quality(scored: Settings) -> None:
    lake = Lake.from_settings(scored)
    _label_the_interval(scored)

    result = mon.monitor(MODEL, INTERVAL, scored)

    assert result["labelled_rows"] == N
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert 0 <= result[metric] <= 1, metric
    assert lake.exists(f"reports/drift/{MODEL}/{INTERVAL}-quality.html")
    from evidently.ui.workspace import Workspace

    ws = Workspace(str(workspace.workspace_dir(scored)))
    (project,) = ws.search_project(MODEL)
    assert len(ws.list_runs(project.id)) == 2  # drift and quality


def _points(settings: Settings, project_id: Any, value: Any) -> list[float]:
    """The values the Evidently UI plots for one series of a panel: the service's own
    query (``data_series_batch``) over the runs stored in the workspace."""
    from evidently.legacy.utils.sync import async_to_sync
    from evidently.ui.service.base import SeriesFilter
    from evidently.ui.service.storage.local.base import InMemoryDataStorage

    storage = InMemoryDataStorage(str(workspace.workspace_dir(settings)))
    query = SeriesFilter(tags=value.tags, metadata=value.metadata, metric=value.metric,
                         metric_labels=value.metric_labels)
    found = async_to_sync(storage.get_data_series(project_id, [query], None, None))
    return [v for series in found.series for v in series.values if v is not None]


def test_each_project_gets_a_dashboard_whose_panels_find_their_points(
        scored: Settings) -> None:
    from evidently.sdk.models import DashboardPanelPlot
    from evidently.sdk.panels import text_panel
    from evidently.ui.workspace import Workspace

    _label_the_interval(scored)
    result = mon.monitor(MODEL, INTERVAL, scored)

    ws = Workspace(str(workspace.workspace_dir(scored)))
    (project,) = ws.search_project(MODEL)
    dashboard = ws.get_dashboard(project.id)
    titles = [p.title for p in dashboard.panels]
    assert len(titles) == len(set(titles))
    assert {"Share of drifted features", "Prediction drift score", "Predicted probability",
            "Drift score of numeric features", "Drift score of categorical features",
            "Classification quality of labelled rows"} <= set(titles)
    assert [t.title for t in dashboard.tabs] == [workspace.DRIFT_TAB, workspace.QUALITY_TAB]
    in_tabs = [i for t in dashboard.tabs for i in t.panels]
    assert sorted(in_tabs) == sorted(p.id for p in dashboard.panels)
    panels = {p.title: p for p in dashboard.panels}
    model_spec = spec(MODEL)
    assert [v.metric_labels["column"] for v in
            panels["Drift score of numeric features"].values] == list(model_spec.numeric)
    assert [v.metric_labels["column"] for v in
            panels["Drift score of categorical features"].values] == \
        list(model_spec.categorical)

    # every series of every panel names a metric the stored runs hold: none plots empty
    for panel in dashboard.panels:
        for value in panel.values:
            assert _points(scored, project.id, value), (panel.title, value.legend)
    (share,) = panels["Share of drifted features"].values
    assert _points(scored, project.id, share) == [pytest.approx(result["drift_share"])]
    auc = next(v for v in panels["Classification quality of labelled rows"].values
               if v.legend == "ROC AUC")
    assert _points(scored, project.id, auc) == [pytest.approx(result["roc_auc"])]

    # adding runs again leaves the dashboard as it was: no panel twice
    mon.monitor(MODEL, INTERVAL, scored)
    workspace.add_to_workspace(scored, MODEL, [])
    assert ws.get_dashboard(project.id).dict() == dashboard.dict()

    # a panel made by hand stays; a stale copy of ours (same title, other id) is replaced
    note = text_panel("Notes")
    stale = DashboardPanelPlot(title="Prediction drift score", subtitle=None, size="full",
                               values=[], plot_params={"plot_type": "line"})
    project.dashboard.add_panel(note, tab=workspace.DRIFT_TAB)
    project.dashboard.add_panel(stale, tab="Old")
    workspace.add_to_workspace(scored, MODEL, [])
    again = ws.get_dashboard(project.id)
    titles = [p.title for p in again.panels]
    assert len(titles) == len(set(titles)) == len(dashboard.panels) + 1
    assert note.id in next(t for t in again.tabs if t.title == workspace.DRIFT_TAB).panels
    assert stale.id not in {p.id for p in again.panels} | \
        {i for t in again.tabs for i in t.panels}
