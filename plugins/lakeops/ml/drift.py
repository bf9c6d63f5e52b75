"""The drift tables' rows: per feature and per interval, with PSI beside Evidently's tests.

* ``monitoring/drift_features/<model>/dt=<interval>`` — one :class:`FeatureDrift` per
  feature and one for the prediction (:func:`feature_rows`): Evidently's test of the column
  (:class:`lakeops.ml.reports.ColumnTest`), its PSI and both sides' share of missing values;
* ``monitoring/drift/<model>/dt=<interval>`` — one :class:`DriftRow`: what was compared,
  the share of drifted features (:func:`drift_summary`), the predicted probability's
  drift and distribution (:func:`prediction_summary`), the classification quality of the
  rows labelled already (:func:`quality_summary`) and the retraining alert
  (:func:`crossed`).

Each TypedDict lists its table's columns in their order (:data:`DRIFT_COLUMNS`,
:data:`DRIFT_FEATURE_COLUMNS`). PSI is computed here with numpy (:func:`psi`: ten
reference-quantile bins for numbers, one bin per category), because Evidently's PSI is
one more drift test per column rather than a number beside the chosen test.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

from lakeops.core.settings import Settings
from lakeops.ml.reports import PREDICTION, ColumnTest, DriftTests
from lakeops.ml.specs import ModelSpec

if TYPE_CHECKING:
    import pandas as pd

PSI_BINS = 10
PSI_EPS = 1e-4
# a column without values on one side: reported, not tested (see reports.tested_columns)
UNTESTED: ColumnTest = {"stattest": None, "drift_score": float("nan"),
                        "stattest_threshold": float("nan"), "drifted": False}


class FeatureDrift(TypedDict):
    """A row of ``monitoring/drift_features/<model>``: one feature (or the prediction)."""

    model: str
    interval: str
    reference_version: str
    feature: str
    kind: str  # numeric | categorical | prediction
    stattest: str  # Evidently's test, or why the column was not tested
    drift_score: float
    stattest_threshold: float | None
    drifted: bool  # by Evidently's test
    psi: float
    psi_drifted: bool  # PSI above ml_psi_threshold
    current_missing_share: float
    reference_missing_share: float


class Compared(TypedDict):
    """What was compared: the model's scored rows of an interval against the reference."""

    model: str
    interval: str
    reference_version: str
    model_version: str
    rows: int
    reference_rows: int


class DriftSummary(TypedDict):
    """How many features drifted, by Evidently's tests and by PSI, against the thresholds."""

    features: int
    drifted_features: int
    drift_share: float
    dataset_drift: bool
    drift_share_threshold: float
    psi_threshold: float
    psi_drifted_features: int
    psi_drift_share: float
    psi_max: float


class PredictionSummary(TypedDict):
    """The predicted probability: its drift and its distribution on both sides."""

    prediction_stattest: str
    prediction_drift_score: float
    prediction_drift_threshold: float | None
    prediction_drifted: bool
    prediction_psi: float
    prediction_mean: float
    prediction_std: float
    prediction_p10: float
    prediction_p50: float
    prediction_p90: float
    predicted_positive_rate: float
    reference_prediction_mean: float
    reference_predicted_positive_rate: float


class QualitySummary(TypedDict):
    """The classification quality of the rows labelled already (NaN when none are)."""

    labelled_rows: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float


class IntervalDrift(Compared, DriftSummary, PredictionSummary, QualitySummary):
    """The headline of an interval's comparison, with the retraining alert."""

    alert: bool


class DriftRow(IntervalDrift):
    """A row of ``monitoring/drift/<model>``: the headline and where its report is."""

    report_path: str


DRIFT_COLUMNS = tuple(DriftRow.__annotations__)
DRIFT_FEATURE_COLUMNS = tuple(FeatureDrift.__annotations__)


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


def _missing_share(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].isna().mean()) if len(frame) else 0.0


def feature_rows(model_spec: ModelSpec, reference: pd.DataFrame, current: pd.DataFrame,
                 tests: dict[str, ColumnTest], psi_threshold: float, *, interval: str,
                 reference_version: str) -> list[FeatureDrift]:
    """Every feature of the spec and the probability column: Evidently's test where the
    column was tested, its PSI, and the share of missing values on each side."""
    rows: list[FeatureDrift] = []
    for col in [*model_spec.numeric, *model_spec.categorical, PREDICTION]:
        is_cat = col in model_spec.categorical
        value = psi(reference[col], current[col], categorical=is_cat)
        test = tests.get(col, UNTESTED)
        rows.append({
            "model": model_spec.name, "interval": interval,
            "reference_version": reference_version, "feature": col,
            "kind": "prediction" if col == PREDICTION else
            ("categorical" if is_cat else "numeric"),
            "stattest": test["stattest"] or "not tested: no values on one side",
            "drift_score": test["drift_score"],
            "stattest_threshold": test["stattest_threshold"],
            "drifted": bool(test["drifted"]),
            "psi": value,
            "psi_drifted": bool(not math.isnan(value) and value > psi_threshold),
            "current_missing_share": _missing_share(current, col),
            "reference_missing_share": _missing_share(reference, col),
        })
    return rows


def drift_summary(features: list[FeatureDrift], tests: DriftTests,
                  settings: Settings) -> DriftSummary:
    """The share of drifted features, by Evidently's tests (``tests``) and by PSI (the
    feature rows, the prediction's left out)."""
    import numpy as np

    inputs = [r for r in features if r["kind"] != "prediction"]
    n_features = len(inputs)
    psi_drifted = sum(r["psi_drifted"] for r in inputs)
    return {
        "features": n_features,
        "drifted_features": tests.drifted_features, "drift_share": tests.drift_share,
        "dataset_drift": tests.drift_share >= settings.ml_drift_share_threshold,
        "drift_share_threshold": settings.ml_drift_share_threshold,
        "psi_threshold": settings.ml_psi_threshold,
        "psi_drifted_features": int(psi_drifted),
        "psi_drift_share": psi_drifted / n_features if n_features else 0.0,
        "psi_max": float(np.nanmax([r["psi"] for r in inputs]))
        if any(not math.isnan(r["psi"]) for r in inputs) else float("nan"),
    }


def prediction_summary(features: list[FeatureDrift], reference_proba: Any,
                       current_proba: Any, threshold: float) -> PredictionSummary:
    """The probability column's drift (its row among ``features``) and the distribution
    of the current and reference probabilities; positive means ``>= threshold``."""
    import numpy as np

    prediction = next(r for r in features if r["kind"] == "prediction")
    p = np.asarray(current_proba, dtype="float64")
    ref_p = np.asarray(reference_proba, dtype="float64")

    def stat(values: Any, of: Any) -> float:
        return float(of(values)) if len(values) else float("nan")

    return {
        "prediction_stattest": prediction["stattest"],
        "prediction_drift_score": prediction["drift_score"],
        "prediction_drift_threshold": prediction["stattest_threshold"],
        "prediction_drifted": prediction["drifted"], "prediction_psi": prediction["psi"],
        "prediction_mean": stat(p, np.mean),
        "prediction_std": stat(p, np.std),
        "prediction_p10": stat(p, lambda v: np.quantile(v, 0.1)),
        "prediction_p50": stat(p, lambda v: np.quantile(v, 0.5)),
        "prediction_p90": stat(p, lambda v: np.quantile(v, 0.9)),
        "predicted_positive_rate": stat(p, lambda v: np.mean(v >= threshold)),
        "reference_prediction_mean": stat(ref_p, np.mean),
        "reference_predicted_positive_rate": stat(ref_p, lambda v: np.mean(v >= threshold)),
    }


def quality_summary(labelled_rows: int, metrics: dict[str, float]) -> QualitySummary:
    """The quality metrics found (:func:`lakeops.ml.reports.quality_metrics`), NaN for
    the others."""
    nan = float("nan")
    return {"labelled_rows": labelled_rows,
            "accuracy": metrics.get("accuracy", nan),
            "precision": metrics.get("precision", nan), "recall": metrics.get("recall", nan),
            "f1": metrics.get("f1", nan), "roc_auc": metrics.get("roc_auc", nan)}


def crossed(summary: DriftSummary, settings: Settings) -> bool:
    """The retraining alert: the share of drifted features by Evidently's tests, or of
    features whose PSI exceeds ``ml_psi_threshold``, reaches ``ml_drift_share_threshold``."""
    limit = settings.ml_drift_share_threshold
    return bool(summary["drift_share"] >= limit or summary["psi_drift_share"] >= limit)
