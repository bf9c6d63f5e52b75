"""Metrics and behavioural checks of a classifier, shared by training (holdout metrics),
the promotion gate and the behavioural suite in ``tests/model``.

Every check is a plain function over labels and probabilities, or over a ``predict``
callable (rows -> probability of the predicted class), so it can be tested on synthetic
predictions and run against any registered version. Results are small dicts of numbers
with a ``passed`` flag and a human ``reason`` when not passed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lakeops.ml.specs import ModelSpec, matrix

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    Predict = Callable[[pd.DataFrame], np.ndarray]

METRICS = ("roc_auc", "average_precision", "precision", "recall", "f1", "brier", "log_loss")
LOWER_IS_BETTER = frozenset({"brier", "log_loss"})


def classification_metrics(y: Sequence[int] | Any, proba: Sequence[float] | Any,
                           threshold: float = 0.5) -> dict[str, float]:
    """The holdout metrics; a metric undefined on these labels (one class only) is NaN."""
    import numpy as np
    from sklearn import metrics as m

    y_arr = np.asarray(y, dtype="int64")
    p = np.clip(np.asarray(proba, dtype="float64"), 1e-7, 1 - 1e-7)
    pred = (p >= threshold).astype("int64")
    both = len(np.unique(y_arr)) == 2
    nan = float("nan")
    return {
        "roc_auc": float(m.roc_auc_score(y_arr, p)) if both else nan,
        "average_precision": float(m.average_precision_score(y_arr, p)) if both else nan,
        "precision": float(m.precision_score(y_arr, pred, zero_division=0)),
        "recall": float(m.recall_score(y_arr, pred, zero_division=0)) if y_arr.any() else nan,
        "f1": float(m.f1_score(y_arr, pred, zero_division=0)),
        "brier": float(m.brier_score_loss(y_arr, p)) if len(y_arr) else nan,
        "log_loss": float(m.log_loss(y_arr, p, labels=[0, 1])) if len(y_arr) else nan,
    }


def improvement(metric: str, candidate: float, incumbent: float) -> float:
    """How much better ``candidate`` is than ``incumbent`` (positive = better), whatever
    the metric's direction."""
    return incumbent - candidate if metric in LOWER_IS_BETTER else candidate - incumbent


def beats(metric: str, candidate: float, incumbent: float, margin: float) -> bool:
    """``candidate`` is better than ``incumbent`` by at least ``margin`` (never when a
    value is NaN)."""
    if math.isnan(candidate) or math.isnan(incumbent):
        return False
    return improvement(metric, candidate, incumbent) >= margin


def baseline_proba(y_train: Sequence[int] | Any, n: int) -> Any:
    """A trivial model's probabilities: the training prior for every row (scikit-learn's
    ``DummyClassifier(strategy="prior")``)."""
    import numpy as np
    from sklearn.dummy import DummyClassifier

    y_arr = np.asarray(y_train, dtype="int64")
    dummy = DummyClassifier(strategy="prior").fit(np.zeros((len(y_arr), 1)), y_arr)
    proba = dummy.predict_proba(np.zeros((n, 1)))
    classes = list(dummy.classes_)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(n)


# -- behavioural checks --------------------------------------------------------------


def positive_proba(model: Any) -> Predict:
    """``predict`` for a fitted scikit-learn classifier: probability of class 1."""

    def predict(x: pd.DataFrame) -> np.ndarray:
        classes = list(model.classes_)
        return model.predict_proba(x)[:, classes.index(1)]  # type: ignore[no-any-return]

    return predict


def invariance(predict: Predict, spec: ModelSpec, rows: pd.DataFrame) -> dict[str, Any]:
    """Changing the entity id (``spec.id_column``) changes no prediction."""
    import numpy as np
    from pandas.api.types import is_numeric_dtype

    x, _ = matrix(spec, rows)
    changed = rows.copy()
    if spec.id_column in changed.columns:
        ids = changed[spec.id_column]
        changed[spec.id_column] = (ids * 7919 + 104729 if is_numeric_dtype(ids)
                                   else (ids.astype("string") + "-x").astype(object))
    x2, _ = matrix(spec, changed)
    diff = np.abs(predict(x) - predict(x2))
    n_changed = int((diff > 1e-12).sum())
    out: dict[str, Any] = {"check": "invariance", "column": spec.id_column,
                           "rows": len(rows), "changed": n_changed,
                           "max_abs_diff": float(diff.max()) if len(diff) else 0.0,
                           "passed": n_changed == 0}
    if n_changed:
        out["reason"] = (f"changing {spec.id_column} changed {n_changed} of {len(rows)} "
                         f"predictions (max {out['max_abs_diff']:.3g})")
    return out


def direction(predict: Predict, spec: ModelSpec, rows: pd.DataFrame,
              tolerance: float = 1e-6) -> list[dict[str, Any]]:
    """Adding to each engagement feature (``spec.engagement``) never raises the predicted
    class's probability, all else equal. The step is the feature's standard deviation on
    these rows (at least 1)."""
    import numpy as np

    x, _ = matrix(spec, rows)
    base = predict(x)
    results = []
    for col in spec.engagement:
        step = float(np.nanstd(x[col].to_numpy())) if x[col].notna().any() else 0.0
        step = max(step, 1.0)
        more = x.copy()
        more[col] = more[col] + step
        rise = predict(more) - base
        worst = float(rise.max()) if len(rise) else 0.0
        n_up = int((rise > tolerance).sum())
        result: dict[str, Any] = {"check": "direction", "column": col, "step": step,
                                  "max_increase": worst, "raised": n_up,
                                  "passed": n_up == 0}
        if n_up:
            result["reason"] = (f"adding {step:.3g} to {col} raised the probability of "
                                f"{n_up} row(s), by up to {worst:.3g}")
        results.append(result)
    return results


def critical_recall(spec: ModelSpec, rows: pd.DataFrame, y: Any, proba: Any, *,
                    threshold: float, min_recall: float, min_positives: int
                    ) -> list[dict[str, Any]]:
    """Recall on each critical slice (``spec.critical_slices``); a slice with fewer than
    ``min_positives`` positives is reported (``status`` = ``insufficient``), not failed."""
    import numpy as np

    y_arr = np.asarray(y, dtype="int64")
    pred = np.asarray(proba) >= threshold
    results = []
    for column, value in spec.critical_slices:
        if column not in rows.columns:
            results.append({"check": "critical_recall", "slice": f"{column}={value}",
                            "status": "absent", "passed": True})
            continue
        mask = (rows[column].astype("string") == value).fillna(False).to_numpy(dtype=bool)
        positives = int(y_arr[mask].sum())
        result: dict[str, Any] = {"check": "critical_recall", "slice": f"{column}={value}",
                                  "rows": int(mask.sum()), "positives": positives}
        if positives < min_positives:
            result.update(status="insufficient", recall=None, passed=True)
        else:
            recall = float(pred[mask & (y_arr == 1)].mean())
            ok = recall >= min_recall
            result.update(status="pass" if ok else "fail", recall=recall, passed=ok)
            if not ok:
                result["reason"] = (f"recall {recall:.3f} on {column}={value} is under "
                                    f"{min_recall:.3f} ({positives} positives)")
        results.append(result)
    return results


# a metric that is a proportion, and the rows it is a proportion of
PROPORTIONS = {"recall": "positives", "precision": "predicted positives", "accuracy": "rows"}


def fairness_gaps(spec: ModelSpec, rows: pd.DataFrame, y: Any, proba: Any, *,
                  metric: str, threshold: float, max_gap: float, min_rows: int,
                  confidence: float = 0.0) -> list[dict[str, Any]]:
    """Per sensitive column: ``metric`` in each group of at least ``min_rows`` rows (where
    it is defined) and the gap between the best and the worst group, at most ``max_gap``.

    With ``confidence`` > 0 and a metric that is a proportion (recall, precision,
    accuracy), the check fails only when the gap exceeds the bound by more than sampling
    noise: its one-sided lower confidence bound, gap - z * sqrt(se_best^2 + se_worst^2)
    with se = sqrt(m (1 - m) / n) over the rows the proportion is of. The best and worst
    of a dozen small groups differ by chance alone (12 cities of 250 customers: about 0.2
    in recall); the raw gap is reported beside the bound."""
    import numpy as np
    from scipy.stats import norm

    y_arr = np.asarray(y, dtype="int64")
    p = np.asarray(proba, dtype="float64")
    of = PROPORTIONS.get(metric) if confidence > 0 else None
    z = float(norm.ppf(confidence)) if of is not None else 0.0
    results = []
    for column in spec.sensitive:
        if column not in rows.columns:
            results.append({"check": "fairness", "column": column, "status": "absent",
                            "passed": True})
            continue
        groups = rows[column].astype("string").fillna("unknown").to_numpy()
        values: dict[str, float] = {}
        sizes: dict[str, int] = {}
        small: list[str] = []
        for group in sorted(set(groups)):
            mask = groups == group
            if mask.sum() < min_rows:
                small.append(group)
                continue
            value = classification_metrics(y_arr[mask], p[mask], threshold)[metric]
            if not math.isnan(value):
                values[group] = value
                sizes[group] = {"positives": int(y_arr[mask].sum()),
                                "predicted positives": int((p[mask] >= threshold).sum()),
                                "rows": int(mask.sum())}.get(of or "", 0)
        gap, noise = 0.0, 0.0
        if len(values) > 1:
            worst = min(values, key=values.__getitem__)
            best = max(values, key=values.__getitem__)
            gap = values[best] - values[worst]
            if of is not None:
                noise = z * math.sqrt(sum(values[g] * (1 - values[g]) / max(sizes[g], 1)
                                          for g in (best, worst)))
        ok = gap - noise <= max_gap
        result: dict[str, Any] = {"check": "fairness", "column": column, "metric": metric,
                                  "groups": values, "too_small": small, "gap": gap,
                                  "gap_lower_bound": gap - noise, "passed": ok}
        if not ok:
            result["reason"] = (f"{metric} gap {gap:.3f} across {column} exceeds "
                                f"{max_gap:.3f} beyond sampling noise (lower "
                                f"{confidence:.0%} bound {gap - noise:.3f}; {best} "
                                f"{values[best]:.3f} vs {worst} {values[worst]:.3f})")
        results.append(result)
    return results
