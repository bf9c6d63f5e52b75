"""Batch scoring with a real MLflow registry (SQLite in a temp folder) and a small
scikit-learn pipeline: the champion scores an interval's feature rows into a partition
that a re-run replaces, and realised metrics follow once the labels arrive."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakeops import datasets
from lakeops.lake import Lake
from lakeops.ml import score as sc
from lakeops.ml.specs import matrix, spec
from lakeops.settings import Settings

MODEL = "customer_churn"
INTERVAL = "2024-10-03"
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


def _write_mart(lake: Lake, mart: pd.DataFrame) -> None:
    lake.write_table("marts/ml_business_features/part-0.parquet",
                     pa.Table.from_pandas(mart, preserve_index=False))


@pytest.fixture
def registry(tmp_path: Path) -> str:
    """A champion of customer_churn trained on labelled rows, in a SQLite-backed MLflow."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    model_spec = spec(MODEL)
    train = _mart_rows(np.random.default_rng(1), 400, date(2024, 9, 1))
    x, y = matrix(model_spec, train)
    assert y is not None
    pipe = make_pipeline(
        ColumnTransformer([
            ("num", SimpleImputer(), list(model_spec.numeric)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(model_spec.categorical)),
        ]),
        LogisticRegression(max_iter=2000),
    ).fit(x, y)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        # artifacts in the test's folder (a SQLite store defaults them to ./mlruns)
        mlflow.set_experiment(experiment_id=mlflow.create_experiment(
            "churn", artifact_location=(tmp_path / "artifacts").as_uri()))
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(pipe, name="model", registered_model_name=MODEL,
                                            input_example=x.head(2),
                                            skops_trusted_types=["numpy.dtype"])
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.set_registered_model_alias(MODEL, sc.ALIAS, info.registered_model_version)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    return uri


def test_champion_scores_the_interval_and_a_rerun_replaces_it(settings: Settings,
                                                              registry: str) -> None:
    lake = Lake.from_settings(settings)
    rng = np.random.default_rng(2)
    day = date.fromisoformat(INTERVAL)
    today = _mart_rows(rng, N, day)
    today["reordered_within_30d"] = pd.array([None] * N, dtype="boolean")  # not known yet
    _write_mart(lake, pd.concat([_mart_rows(rng, 30, day - timedelta(days=1)), today]))

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
    _write_mart(lake, labelled)
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


def test_education_scores_the_prediction_days_of_the_intervals_feature_partition(
        settings: Settings) -> None:
    """The features partition of an interval names its as-of day per presentation; the
    mart's rows of those prediction days are the ones scored."""
    lake = Lake.from_settings(settings)
    features = pa.table({"code_module": ["AAA", "AAA", "BBB"],
                         "code_presentation": ["2024J"] * 3,
                         "id_student": pa.array([1, 2, 3], pa.int64()),
                         "as_of_day": pa.array([12, 12, 5], pa.int32())})
    lake.write_partition("features", "education/student_week", INTERVAL, features)
    mart = pd.DataFrame({
        "code_module": ["AAA", "AAA", "AAA", "BBB", "BBB", "CCC"],
        "code_presentation": ["2024J"] * 6,
        "student_id": pd.array([1, 2, 1, 3, 3, 9], dtype="int64"),
        "prediction_day": pd.array([12, 12, 11, 5, 12, 12], dtype="int32"),
    })
    lake.write_table("marts/ml_education_features/part-0.parquet",
                     pa.Table.from_pandas(mart, preserve_index=False))

    rows = sc.scoring_rows(spec("student_at_risk"), INTERVAL, lake)

    assert sorted(zip(rows["code_module"], rows["student_id"], rows["prediction_day"],
                      strict=True)) == [("AAA", 1, 12), ("AAA", 2, 12), ("BBB", 3, 5)]
    with pytest.raises(FileNotFoundError, match="no education features for 2024-10-04"):
        sc.scoring_rows(spec("student_at_risk"), "2024-10-04", lake)
