"""Evidently's reports on a monitored interval, and what the drift tables take from them.

Both reports compare two :func:`evidently_frame` frames — the interval's scored rows
(current) and the training reference of the version that scored them — whose columns are
exactly the model's input (:func:`lakeops.ml.specs.matrix`) plus the predicted probability:

* the drift report (:func:`drift_report`): data drift of every tested feature
  (``DataDriftPreset`` with ``drift_share`` = ``settings.ml_drift_share_threshold``;
  Evidently picks the test per column: K-S / chi-square below 1000 rows, Wasserstein /
  Jensen-Shannon above), prediction drift (``ValueDrift`` of the probability column) and a
  data quality summary (``DataSummaryPreset``); :func:`drift_tests` reads each column's
  test and the count and share of drifted features back from its run;
* the quality report (:func:`quality_report`), only when labels of current rows are known
  already: the classification quality of those rows (``ClassificationPreset``), read back
  by :func:`quality_metrics`.

Each run is tagged (:data:`DRIFT_TAG`, :data:`QUALITY_TAG`, ``version=<v>``) and timed at
the interval's midnight (UTC): the workspace's dashboard panels select runs by tag
(:mod:`lakeops.ml.workspace`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from lakeops.ml.data import PREDICTION_SCORE
from lakeops.ml.specs import ModelSpec, matrix, target

if TYPE_CHECKING:
    import pandas as pd

PREDICTION = PREDICTION_SCORE  # the probability column, in the reference and the report
TARGET = "target"
PREDICTED_LABEL = "prediction_label"
DRIFT_TAG = "drift"  # tag of the drift runs in the workspace: the panels select by it
QUALITY_TAG = "quality"  # tag of the classification quality runs
# Evidently's classification metric -> its column in monitoring/drift
QUALITY_METRICS = {"Accuracy": "accuracy", "Precision": "precision", "Recall": "recall",
                   "F1Score": "f1", "RocAuc": "roc_auc"}


class ColumnTest(TypedDict):
    """Evidently's drift test of one column, as its run reports it."""

    stattest: str | None
    drift_score: float
    stattest_threshold: float | None
    drifted: bool


class DriftTests(NamedTuple):
    """What the drift run found: each tested column's test (the probability column
    included), and how many of the tested features drifted and their share."""

    columns: dict[str, ColumnTest]
    drifted_features: int
    drift_share: float


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


def tested_columns(model_spec: ModelSpec, reference: pd.DataFrame,
                   current: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) features the drift report tests: a numeric feature without
    values on either side has no distribution to compare — it is reported, not tested."""
    numeric = [c for c in model_spec.numeric
               if reference[c].notna().any() and current[c].notna().any()]
    return numeric, list(model_spec.categorical)


def labelled(current: pd.DataFrame) -> pd.DataFrame:
    """The current rows whose label is known already (none when the frame has no target)."""
    if TARGET not in current.columns:
        return current.iloc[0:0]
    return current[current[TARGET].notna()]


def _definition(numeric: list[str], categorical: list[str], *, classification: bool) -> Any:
    from evidently import BinaryClassification, DataDefinition

    task = [BinaryClassification(target=TARGET, prediction_labels=PREDICTED_LABEL,
                                 prediction_probas=PREDICTION, pos_label=1)] \
        if classification else None
    return DataDefinition(
        numerical_columns=[*numeric, PREDICTION],
        categorical_columns=[*categorical, *([TARGET, PREDICTED_LABEL] if classification
                                             else [PREDICTED_LABEL])],
        classification=task)


def _timestamp(interval: str) -> datetime:
    """A run's time: the interval's midnight, UTC (the dashboards' x axis)."""
    return datetime.combine(date.fromisoformat(interval), datetime.min.time(), UTC)


def _metric_kind(metric: dict[str, Any]) -> str:
    return str(metric["config"]["type"]).rsplit(":", 1)[-1]


def drift_report(model_spec: ModelSpec, reference: pd.DataFrame, current: pd.DataFrame, *,
                 numeric: list[str], categorical: list[str], drift_share: float,
                 interval: str, reference_version: str, model_version: str) -> Any:
    """The drift run of the ``numeric`` and ``categorical`` features (see
    :func:`tested_columns`) and of the predicted probability, current against reference."""
    from evidently import Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    tested = [*numeric, *categorical]
    definition = _definition(numeric, categorical, classification=False)
    columns = [*tested, PREDICTION, PREDICTED_LABEL]
    report = Report(
        [DataDriftPreset(columns=tested, drift_share=drift_share),
         ValueDrift(column=PREDICTION), DataSummaryPreset(columns=columns)],
        include_tests=True)
    return report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
        timestamp=_timestamp(interval), name=f"{model_spec.name} drift {interval}",
        tags=[DRIFT_TAG, f"version={model_version}"],
        metadata={"model": model_spec.name, "interval": interval,
                  "reference_version": reference_version, "model_version": model_version})


def drift_tests(run: Any) -> DriftTests:
    """Each column's test (``ValueDrift``: its method, score, threshold, and whether its
    test failed) and the drifted features' count and share (``DriftedColumnsCount``)."""
    out = run.dict()
    status = {t["metric_config"]["metric_id"]: t["status"] for t in out["tests"]}
    columns: dict[str, ColumnTest] = {}
    dataset = {"count": 0.0, "share": 0.0}
    for metric in out["metrics"]:
        kind = _metric_kind(metric)
        if kind == "ValueDrift":
            cfg = metric["config"]
            columns[cfg["column"]] = {"stattest": cfg.get("method"),
                                      "drift_score": float(metric["value"]),
                                      "stattest_threshold": cfg.get("threshold"),
                                      "drifted": status.get(metric["id"]) == "FAIL"}
        elif kind == "DriftedColumnsCount":
            dataset = metric["value"]
    return DriftTests(columns, int(dataset["count"]), float(dataset["share"]))


def quality_report(model_spec: ModelSpec, reference: pd.DataFrame, rows: pd.DataFrame, *,
                   numeric: list[str], categorical: list[str], interval: str,
                   model_version: str) -> Any:
    """The classification quality run of the labelled current ``rows`` (see
    :func:`labelled`), beside the reference's labelled rows when it has any."""
    from evidently import Dataset, Report
    from evidently.presets import ClassificationPreset

    definition = _definition(numeric, categorical, classification=True)
    columns = [*numeric, *categorical, PREDICTION, PREDICTED_LABEL, TARGET]
    cur = rows[columns].astype({TARGET: "int64"})
    ref = reference[columns].dropna(subset=[TARGET]).astype({TARGET: "int64"}) \
        if TARGET in reference.columns and reference[TARGET].notna().any() else None
    return Report([ClassificationPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition) if ref is not None else None,
        timestamp=_timestamp(interval), name=f"{model_spec.name} quality {interval}",
        tags=[QUALITY_TAG, f"version={model_version}"],
        metadata={"model": model_spec.name, "interval": interval,
                  "model_version": model_version})


def quality_metrics(run: Any) -> dict[str, float]:
    """The quality run's numbers by their column in monitoring/drift
    (:data:`QUALITY_METRICS`); a metric Evidently could not compute is left out."""
    found = {}
    for metric in run.dict()["metrics"]:
        kind = _metric_kind(metric)
        if kind in QUALITY_METRICS and isinstance(metric["value"], int | float):
            found[QUALITY_METRICS[kind]] = float(metric["value"])
    return found
