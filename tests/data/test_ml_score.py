"""Batch scoring with a real MLflow registry (SQLite in a temp folder) and a small
scikit-learn pipeline: the champion scores an interval's feature rows into a partition
that a re-run replaces, and realised metrics follow once the labels arrive; a registry
without a champion is a clear error."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from tests.support import write_mart

from lakeops.catalog import datasets
from lakeops.core.settings import Settings
from lakeops.ml import score as sc
from lakeops.ml.specs import matrix, spec
from lakeops.storage.lake import Lake

MODEL = "customer_churn"
INTERVAL = "2024-10-03"
MART = "ml_business_features"  # the mart customer_churn scores
N = 120


def _mart_rows(rng: np.random.Generator, n: int, as_of: date) -> pd.DataFrame:
    frequency = rng.poisson(4, n).astype("int32")
    return pd.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype="int64"),
        "as_of_date": [as_of] * n,
        "recency_days": rng.integers(0, 60, n).astype("int32"),
        "frequency": frequency,
        "monetary": rng.normal(100, 20, n),
        "orders_today": rng.integers(0, 2, n).astype("int32"),
        "avg_order_value": rng.normal(25, 5, n),
        "avg_items_per_order": rng.normal(2, 0.5, n),
        "distinct_categories": rng.integers(1, 5, n).astype("int32"),
        "first_order_date": [date(2024, 1, 1)] * n,
        "segment": rng.choice(["consumer", "enterprise"], n),
        "country": rng.choice(["FR", "DE"], n),
        "city": rng.choice(["Lyon", "Berlin", None], n),
        "tenure_days": rng.integers(0, 400, n).astype("int32"),
        # customers who order often reorder
        "reordered_within_30d": pd.array(frequency + rng.normal(0, 1, n) > 4,
                                         dtype="boolean"),
    })


def _fit() -> object:
    """A small churn pipeline trained on labelled rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    model_spec = spec(MODEL)
    train = _mart_rows(np.random.default_rng(1), 400, date(2024, 9, 1))
    x, y = matrix(model_spec, train)
    assert y is not None
    return make_pipeline(
        ColumnTransformer([
            ("num", SimpleImputer(), list(model_spec.numeric)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(model_spec.categorical)),
        ]),
        LogisticRegression(max_iter=2000),
    ).fit(x, y)


def _register(uri: str, tmp_path: Path, pipe: object) -> str:
    """Log ``pipe`` as a new version of customer_churn, make it the champion; its version."""
    import mlflow
    from mlflow import MlflowClient

    x, _ = matrix(spec(MODEL), _mart_rows(np.random.default_rng(1), 2, date(2024, 9, 1)))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        # artifacts in the test's folder (a SQLite store defaults them to ./mlruns)
        experiment = mlflow.get_experiment_by_name("churn")
        mlflow.set_experiment(experiment_id=experiment.experiment_id if experiment else
                              mlflow.create_experiment(
                                  "churn", artifact_location=(tmp_path / "artifacts").as_uri()))
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(pipe, name="model", registered_model_name=MODEL,
                                            input_example=x,
                                            skops_trusted_types=["numpy.dtype"])
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.set_registered_model_alias(MODEL, sc.ALIAS, info.registered_model_version)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    return str(info.registered_model_version)


@pytest.fixture
def registry(tmp_path: Path) -> str:
    """A champion of customer_churn trained on labelled rows, in a SQLite-backed MLflow."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _register(uri, tmp_path, _fit())
    return uri


def test_champion_scores_the_interval_and_a_rerun_replaces_it(settings: Settings,
                                                              registry: str) -> None:
    lake = Lake.from_settings(settings)
    rng = np.random.default_rng(2)
    day = date.fromisoformat(INTERVAL)
    today = _mart_rows(rng, N, day)
    today["reordered_within_30d"] = pd.array([None] * N, dtype="boolean")  # not known yet
    write_mart(lake, MART, pd.concat([_mart_rows(rng, 30, day - timedelta(days=1)), today]))

    first = sc.score(MODEL, INTERVAL, settings, tracking_uri=registry)
    second = sc.score(MODEL, INTERVAL, settings, tracking_uri=registry)

    ds = datasets.PREDICTIONS[MODEL]
    assert lake.partitions(ds.zone, ds.dataset) == [INTERVAL]
    rows = lake.read_partition(ds.zone, ds.dataset, INTERVAL).to_pandas()
    assert first["rows"] == second["rows"] == len(rows) == N  # replaced, not appended
    assert first["path"] == f"predictions/{MODEL}/dt={INTERVAL}/part-0.parquet"
    assert sorted(rows["customer_id"]) == list(range(1, N + 1))
    assert set(rows["as_of_date"]) == {day}
    assert (rows["model_version"] == first["version"]).all() and first["version"] == "1"
    assert rows["run_id"].str.len().min() == 32 and rows["run_id"].nunique() == 1
    assert rows["probability"].between(0, 1).all()
    assert ((rows["probability"] >= 0.5).astype(int) == rows["predicted_label"]).all()
    assert (rows["interval"] == INTERVAL).all() and (rows["threshold"] == 0.5).all()

    # a threshold tag on the version moves the predicted label
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=registry, registry_uri=registry).set_model_version_tag(
        MODEL, "1", "threshold", "0.9")
    sc.score(MODEL, INTERVAL, settings, tracking_uri=registry)
    rows = lake.read_partition(ds.zone, ds.dataset, INTERVAL).to_pandas()
    assert (rows["threshold"] == 0.9).all()
    assert ((rows["probability"] >= 0.9).astype(int) == rows["predicted_label"]).all()

    # nothing known yet: no realised metrics
    assert sc.realised(MODEL, INTERVAL, settings)["rows"] == 0
    # thirty days later the labels are in the mart
    labelled = today.copy()
    labelled["reordered_within_30d"] = _mart_rows(np.random.default_rng(2), N, day)[
        "reordered_within_30d"]
    write_mart(lake, MART, labelled)
    later = (day + timedelta(days=31)).isoformat()
    out = sc.realised(MODEL, later, settings)

    perf = lake.read_partition("monitoring", f"model_performance/{MODEL}", later).to_pylist()
    assert out["rows"] == N and len(perf) == 1
    row = perf[0]
    assert tuple(row) == tuple(name for name, _ in sc.PERFORMANCE_COLUMNS)
    assert (row["model_version"], row["rows"], row["interval"]) == ("1", N, later)
    assert row["first_prediction_interval"] == row["last_prediction_interval"] == INTERVAL
    for metric in ("roc_auc", "precision", "recall", "f1", "accuracy"):
        assert 0 <= row[metric] <= 1, metric
    # churn (label false) is the predicted class; a model that learnt anything beats chance
    assert row["roc_auc"] > 0.6


def test_no_champion_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(sc.NoChampionError, match="customer_churn has no 'champion' version"):
        sc.score(MODEL, INTERVAL, settings, tracking_uri=empty)


def _whole_interval_predictions(lake: Lake, registry: str, settings: Settings,
                                version: str) -> pa.Table:
    """The partition as scoring wrote it before it streamed: the interval's rows read as
    one frame, predicted at once, converted to Arrow once."""
    import pyarrow.compute as pc

    from lakeops.ml.data import read_mart

    model_spec = spec(MODEL)
    rows = read_mart(lake, model_spec.features_mart,
                     columns=[*model_spec.keys, *model_spec.features, model_spec.label],
                     where=pc.field("as_of_date") == pa.scalar(date.fromisoformat(INTERVAL),
                                                                pa.date32()))
    current = sc.champion(MODEL, settings, tracking_uri=registry)
    assert current.version == version
    model = sc.load_model(current, settings, tracking_uri=registry)
    proba = sc.predict_proba(model, matrix(model_spec, rows.drop(columns=[model_spec.label]))[0])
    out = rows[list(model_spec.keys)].copy()
    out["probability"] = proba
    out["predicted_label"] = (proba >= current.threshold).astype("int64")
    out["threshold"] = current.threshold
    out["model"] = MODEL
    out["model_version"] = current.version
    out["run_id"] = current.run_id
    out["interval"] = INTERVAL
    return pa.Table.from_pandas(out, preserve_index=False)


def test_streamed_scoring_writes_what_scoring_the_whole_interval_wrote(
        settings: Settings, registry: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Row groups of 37 rows, other days' rows between the interval's and batches of 50:
    the scan's batches are ragged and regrouped, yet the file holds the same rows in the
    same order, the same predictions and the same schema; the previous champion's shadow
    scores come from the same pass, and go when there is no previous champion."""
    from mlflow import MlflowClient

    lake = Lake.from_settings(settings)
    rng = np.random.default_rng(3)
    day = date.fromisoformat(INTERVAL)
    parts = []
    for i in range(6):  # 6 x (40 of the interval + 25 of the day before)
        today = _mart_rows(rng, 40, day)
        today["customer_id"] += 40 * i
        today["reordered_within_30d"] = pd.array([None] * 40, dtype="boolean")
        parts += [_mart_rows(rng, 25, day - timedelta(days=1)), today]
    lake.write_table("marts/ml_business_features/part-0.parquet",
                     pa.Table.from_pandas(pd.concat(parts), preserve_index=False),
                     row_group_size=37)
    monkeypatch.setattr(sc, "SCORE_BATCH", 50)
    batches = list(sc.scoring_batches(spec(MODEL), INTERVAL, lake))
    assert [len(b) for b in batches] == [50, 50, 50, 50, 40]

    out = sc.score(MODEL, INTERVAL, settings, tracking_uri=registry)

    ds = datasets.PREDICTIONS[MODEL]
    written = lake.read_partition(ds.zone, ds.dataset, INTERVAL)
    expected = _whole_interval_predictions(lake, registry, settings, "1")
    assert out["rows"] == written.num_rows == 240
    assert out["predicted_positive"] == sum(written.column("predicted_label").to_pylist())
    assert written.schema.equals(expected.schema, check_metadata=True)
    # a linear model's dot products may round differently in a 50-row batch than in the
    # whole interval (last bit); tree models, as trained here, give identical bits (the
    # 10M-row benchmark's file is equal to the one written before streaming)
    np.testing.assert_allclose(written.column("probability").to_numpy(),
                               expected.column("probability").to_numpy(), rtol=0, atol=1e-12)
    assert written.drop_columns(["probability"]).equals(expected.drop_columns(["probability"]))
    assert out["shadow_version"] is None

    # a promoted version 2 whose predecessor is 1: v1 shadow-scores the same rows
    v2 = _register(registry, tmp_path, _fit())
    client = MlflowClient(tracking_uri=registry, registry_uri=registry)
    client.set_model_version_tag(MODEL, v2, "gate.previous_champion", "1")
    out = sc.score(MODEL, INTERVAL, settings, tracking_uri=registry)
    shadow_ds = datasets.SHADOW_PREDICTIONS[MODEL]
    shadow = lake.read_partition(shadow_ds.zone, shadow_ds.dataset, INTERVAL)
    assert out["shadow_version"] == "1" and out["version"] == v2 == "2"
    assert shadow.equals(written)  # v1's scores, as v1 wrote them as the champion
    now = lake.read_partition(ds.zone, ds.dataset, INTERVAL)
    assert set(now.column("model_version").to_pylist()) == {"2"}
    assert now.select(["customer_id", "probability"]).equals(
        written.select(["customer_id", "probability"]))  # the same pipeline, refitted

    # no predecessor any more: the interval's shadow scores are removed
    client.delete_model_version_tag(MODEL, v2, "gate.previous_champion")
    assert sc.score(MODEL, INTERVAL, settings, tracking_uri=registry)["shadow_version"] is None
    assert lake.partitions(shadow_ds.zone, shadow_ds.dataset) == []


def test_an_interval_the_mart_does_not_hold_yet_writes_nothing(settings: Settings,
                                                                registry: str) -> None:
    """Features written after dbt's last build: the mart has no row of the interval, so
    no (empty) predictions partition is published for monitoring to trip over."""
    lake = Lake.from_settings(settings)
    write_mart(lake, MART, _mart_rows(np.random.default_rng(4), 10, date(2024, 9, 30)))

    with pytest.raises(sc.NothingToScore, match=f"{INTERVAL}.*no row of this interval"):
        sc.score(MODEL, INTERVAL, settings, tracking_uri=registry)
    ds = datasets.PREDICTIONS[MODEL]
    assert lake.partitions(ds.zone, ds.dataset) == []
