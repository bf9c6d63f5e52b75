"""Behavioural tests of one registered model version: invariance, direction, minimum
functionality, critical-slice recall and fairness, the same functions the promotion gate
runs (``lakeops.ml.gate.behavioural_checks``), on the version's frozen holdout.

Which version is chosen by the environment (skipped when unset):

    LAKEOPS_MODEL=student_at_risk LAKEOPS_MODEL_VERSION=3 pytest tests/model
    LAKEOPS_MODEL=customer_churn LAKEOPS_MODEL_ALIAS=champion pytest tests/model

``LAKEOPS_MODEL_HOLDOUT_VERSION`` judges it on another version's holdout (the champion's,
as the gate does). The MLflow server and the lake are the ones ``LAKEOPS_*`` settings name
(``lakeops up``); thresholds are the ``LAKEOPS_ML_*`` settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from lakeops.core.settings import Settings, get_settings
from lakeops.ml import data, evaluate, gate
from lakeops.ml.specs import ModelSpec, matrix, spec
from lakeops.ml.train import mlflow_client
from lakeops.storage.lake import Lake

MODEL = os.environ.get("LAKEOPS_MODEL", "")
VERSION = os.environ.get("LAKEOPS_MODEL_VERSION", "")
ALIAS = os.environ.get("LAKEOPS_MODEL_ALIAS", "")

pytestmark = pytest.mark.skipif(
    not MODEL or not (VERSION or ALIAS),
    reason="no model version to test: set LAKEOPS_MODEL and LAKEOPS_MODEL_VERSION (or "
           "LAKEOPS_MODEL_ALIAS, e.g. champion); needs the MLflow server (lakeops up)")


@dataclass
class Subject:
    spec: ModelSpec
    version: str
    rows: pd.DataFrame
    predict: evaluate.Predict
    settings: Settings

    def checks(self, kind: str) -> list[dict[str, Any]]:
        return [c for c in gate.behavioural_checks(self.predict, self.spec, self.rows,
                                                   self.settings) if c["check"] == kind]


@pytest.fixture(scope="module")
def subject() -> Subject:
    settings = get_settings()
    version = VERSION or gate.alias_version(mlflow_client(settings), MODEL, ALIAS)
    if version is None:
        pytest.skip(f"{MODEL} has no version with alias {ALIAS!r}")
    lake = Lake.from_settings(settings)
    holdout_version = os.environ.get("LAKEOPS_MODEL_HOLDOUT_VERSION") or version
    rows = data.read_holdout(lake, MODEL, holdout_version)
    return Subject(spec(MODEL), version, rows,
                   gate.load_predict(settings, MODEL, version), settings)


def _failures(results: list[dict[str, Any]]) -> list[str]:
    return [r.get("reason", str(r)) for r in results if not r["passed"]]


def test_changing_the_entity_id_changes_no_prediction(subject: Subject) -> None:
    assert _failures(subject.checks("invariance")) == []


def test_more_engagement_never_raises_the_predicted_class(subject: Subject) -> None:
    results = subject.checks("direction")
    assert [r["column"] for r in results] == list(subject.spec.engagement)
    assert _failures(results) == []


def test_recall_on_critical_slices(subject: Subject) -> None:
    results = subject.checks("critical_recall")
    for r in results:  # thin slices are reported, not failed
        if r.get("status") == "insufficient":
            print(f"{r['slice']}: only {r['positives']} positives, not judged")
    assert _failures(results) == []


def test_metric_gap_across_sensitive_groups_is_bounded(subject: Subject) -> None:
    assert _failures(subject.checks("fairness")) == []


def test_beats_the_constant_baseline(subject: Subject) -> None:
    """Minimum functionality: better than predicting the prior for everyone."""
    x, y = matrix(subject.spec, subject.rows)
    assert y is not None
    metric = subject.spec.primary_metric
    model = evaluate.classification_metrics(y, subject.predict(x))[metric]
    baseline = evaluate.classification_metrics(
        y, evaluate.baseline_proba(y, len(y)))[metric]
    assert evaluate.beats(metric, model, baseline, 0.0), (model, baseline)
