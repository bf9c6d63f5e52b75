"""Training for real on a synthetic mart: the pipeline round trip through
``specs.matrix`` with the expected direction, and the hyper-parameter search beating chance
(scikit-learn fits, seconds of CPU each; the rest of training's and the gate's logic is in
tests/unit/test_ml_train.py, whose ``rows`` this module shares)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tests.unit.test_ml_train import EDU, rows

from lakeops.core.settings import Settings
from lakeops.ml import evaluate, train
from lakeops.ml.specs import matrix

__all__ = ["rows"]  # the fixture, used here


def test_matrix_pipeline_round_trip_and_direction_by_construction(rows: pd.DataFrame) -> None:
    x, y = matrix(EDU, rows)
    assert y is not None and list(x.columns) == list(EDU.features)
    pipe = train.build_pipeline(EDU, train.SEARCH_SPACE[0], seed=7).fit(x, y)
    # scoring rows (label unknown) give the same matrix, so the same predictions
    unlabelled = rows.drop(columns=EDU.label)
    x_score, y_score = matrix(EDU, unlabelled)
    assert y_score is None
    predict = evaluate.positive_proba(pipe)
    np.testing.assert_allclose(predict(x_score), predict(x))
    # unseen categories and missing numbers are scored, not refused
    odd = x.head(3).copy()
    odd["region"] = "Atlantis"
    odd["clicks_week"] = np.nan
    assert np.isfinite(predict(odd)).all()
    # the monotonic constraints: more engagement never raises the at-risk probability
    assert all(r["passed"] for r in evaluate.direction(predict, EDU, rows))
    assert evaluate.invariance(predict, EDU, rows)["passed"]
    # the fit is reproducible (fixed seed)
    again = train.build_pipeline(EDU, train.SEARCH_SPACE[0], seed=7).fit(x, y)
    np.testing.assert_allclose(evaluate.positive_proba(again)(x), predict(x))


def test_search_picks_a_combination_and_beats_chance(rows: pd.DataFrame) -> None:
    settings = Settings(ml_search_size=2, ml_cv_folds=2)
    train_part, holdout = train.split_by_time(rows, EDU.time_column, 0.25)
    x, y = matrix(EDU, train_part)
    best, tried = train.search(EDU, x, y, train_part[EDU.time_column], settings)
    assert best in train.SEARCH_SPACE[:2] and len(tried) == 2
    assert all(r["folds"] == 2 and r["roc_auc"] > 0.6 for r in tried)
    pipe = train.build_pipeline(EDU, best, settings.ml_seed).fit(x, y)
    xh, yh = matrix(EDU, holdout)
    metrics = evaluate.classification_metrics(yh, evaluate.positive_proba(pipe)(xh))
    assert set(metrics) == set(evaluate.METRICS)
    assert metrics["roc_auc"] > 0.7
