"""Training and the promotion gate's logic on synthetic frames: the time split, the
time-ordered folds, the metric margin and baseline, critical-slice recall, fairness gaps,
the rollback decision and the decisions table. Fitting models: tests/data/test_ml_train.py;
the registry side (an MLflow server): tests/integration/test_ml_registry.py."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from lakeops.core.settings import Settings
from lakeops.ml import data, evaluate, gate, synthetic, train
from lakeops.ml.specs import SPECS, spec
from lakeops.storage.lake import Lake

EDU = spec("student_at_risk")
BIZ = spec("customer_churn")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return synthetic.training_rows(EDU, entities=120, times=8, seed=1)


# -- the time split -------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(SPECS))
def test_time_split_never_puts_a_later_row_in_training(model: str) -> None:
    s = spec(model)
    frame = synthetic.training_rows(s, entities=30, times=10, seed=2).sample(frac=1,
                                                                               random_state=3)
    train_part, holdout = train.split_by_time(frame, s.time_column, 0.2)
    assert len(train_part) + len(holdout) == len(frame)
    assert train_part[s.time_column].max() < holdout[s.time_column].min()
    # the latest ~20% of the time values, whole time values only
    assert holdout[s.time_column].nunique() == 2
    assert set(holdout[s.time_column]) == set(sorted(frame[s.time_column].unique())[-2:])


def test_time_split_keeps_one_time_value_each_side_at_the_extremes() -> None:
    frame = pd.DataFrame({"day": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 2)]})
    train_part, holdout = train.split_by_time(frame, "day", 0.9)
    assert list(train_part["day"]) == [date(2024, 1, 1)] * 2
    assert list(holdout["day"]) == [date(2024, 1, 2)]
    with pytest.raises(ValueError, match="2 distinct"):
        train.split_by_time(frame.iloc[:2], "day", 0.2)


def test_time_folds_train_only_on_earlier_times() -> None:
    times = pd.Series(np.repeat(np.arange(9), 5))
    folds = train.time_folds(times, 3)
    assert len(folds) == 3
    for train_idx, val_idx in folds:
        assert times.iloc[train_idx].max() < times.iloc[val_idx].min()
        assert not set(train_idx) & set(val_idx)
    # each fold trains on more history than the one before
    assert [len(t) for t, _ in folds] == sorted(len(t) for t, _ in folds)
    assert len(train.time_folds(pd.Series([1, 1, 2]), 5)) == 1  # as many as the values allow


def test_labelled_rows_drop_unknown_labels_and_sort_by_time(rows: pd.DataFrame) -> None:
    frame = rows.copy()
    frame[EDU.label] = frame[EDU.label].astype(object)
    frame.loc[frame.index[:5], EDU.label] = None
    out = train.labelled_rows(EDU, frame.sample(frac=1, random_state=0))
    assert len(out) == len(rows) - 5
    assert out[EDU.time_column].is_monotonic_increasing
    with pytest.raises(KeyError, match="city"):
        train.labelled_rows(BIZ, synthetic.training_rows(BIZ, entities=5, times=3)
                            .drop(columns="city"))


# -- the pipeline ---------------------------------------------------------------------------


def test_direction_check_catches_a_model_that_rises_with_engagement(rows: pd.DataFrame
                                                                    ) -> None:
    def wrong(x: pd.DataFrame) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-x["clicks_week"].fillna(0) / 10)))

    results = {r["column"]: r for r in evaluate.direction(wrong, EDU, rows)}
    assert not results["clicks_week"]["passed"]
    assert "clicks_week" in results["clicks_week"]["reason"]
    assert results["clicks_total"]["passed"]


def test_invariance_check_catches_a_model_that_reads_the_id() -> None:
    frame = synthetic.training_rows(BIZ, entities=20, times=2)
    leaky = BIZ.__class__(**{**BIZ.__dict__, "numeric": (*BIZ.numeric, "customer_id")})

    def predict(x: pd.DataFrame) -> np.ndarray:
        return np.asarray((x["customer_id"] % 2).astype(float))

    result = evaluate.invariance(predict, leaky, frame)
    assert not result["passed"] and result["changed"] > 0


# -- the gate's pure parts --------------------------------------------------------------------


def test_margin_applies_in_the_metric_direction() -> None:
    assert gate.compare("roc_auc", {"roc_auc": 0.81}, {"roc_auc": 0.80}, 0.01, "c")["passed"]
    worse = gate.compare("roc_auc", {"roc_auc": 0.805}, {"roc_auc": 0.80}, 0.01, "champion v1")
    assert not worse["passed"] and "champion v1" in worse["reason"]
    assert gate.compare("brier", {"brier": 0.10}, {"brier": 0.12}, 0.01, "c")["passed"]
    assert not gate.compare("brier", {"brier": 0.12}, {"brier": 0.10}, 0.0, "c")["passed"]
    assert not evaluate.beats("roc_auc", math.nan, 0.5, 0.0)


def test_baseline_is_the_training_prior_and_a_learnt_model_beats_it() -> None:
    y_train = [1, 0, 0, 0]
    proba = evaluate.baseline_proba(y_train, 3)
    np.testing.assert_allclose(proba, [0.25, 0.25, 0.25])
    y = np.array([0, 1, 0, 1, 0, 0])
    base = evaluate.classification_metrics(y, evaluate.baseline_proba(y_train, len(y)))
    assert base["roc_auc"] == 0.5
    good = evaluate.classification_metrics(y, [0.1, 0.9, 0.2, 0.7, 0.3, 0.1])
    assert gate.compare("roc_auc", good, base, 0.05, "baseline")["passed"]
    assert not gate.compare("roc_auc", base, base, 0.01, "baseline")["passed"]


def test_critical_recall_fails_low_recall_and_reports_thin_slices() -> None:
    rows = pd.DataFrame({"disability": ["Y"] * 20 + ["N"] * 20,
                         "imd_band": ["0-10%"] * 3 + ["x"] * 37})
    y = np.array(([1] * 10 + [0] * 10) * 2)
    proba = np.where(np.arange(40) < 4, 0.9, 0.1)  # catches 4 of the 10 disabled positives
    results = {r["slice"]: r for r in evaluate.critical_recall(
        EDU, rows, y, proba, threshold=0.5, min_recall=0.5, min_positives=5)}
    assert results["disability=Y"]["recall"] == pytest.approx(0.4)
    assert not results["disability=Y"]["passed"]
    assert "disability=Y" in results["disability=Y"]["reason"]
    assert results["imd_band=0-10%"]["status"] == "insufficient"
    assert results["imd_band=0-10%"]["passed"]


def test_fairness_gap_over_groups_large_enough() -> None:
    rows = pd.DataFrame({"city": ["A"] * 40 + ["B"] * 40 + ["C"] * 5})
    y = np.array([1, 0] * 42 + [1])
    # recall 1.0 in A, 0.5 in B; C is too small to count
    proba = np.concatenate([np.where(y[:40] == 1, 0.9, 0.1),
                            np.where(np.arange(40) % 4 == 0, 0.9, 0.1), np.zeros(5)])
    [result] = evaluate.fairness_gaps(BIZ, rows, y, proba, metric="recall", threshold=0.5,
                                      max_gap=0.3, min_rows=20)
    assert result["groups"] == {"A": 1.0, "B": 0.5}
    assert result["too_small"] == ["C"]
    assert result["gap"] == pytest.approx(0.5) and not result["passed"]
    [lenient] = evaluate.fairness_gaps(BIZ, rows, y, proba, metric="recall", threshold=0.5,
                                       max_gap=0.6, min_rows=20)
    assert lenient["passed"]
    [absent] = evaluate.fairness_gaps(BIZ, rows.rename(columns={"city": "town"}), y, proba,
                                      metric="recall", threshold=0.5, max_gap=0.1,
                                      min_rows=20)
    assert absent["status"] == "absent" and absent["passed"]


def test_a_fairness_gap_within_sampling_noise_passes_a_larger_one_fails() -> None:
    """Recall 1.0 vs 0.5 over 20 positives per group: the lower 95 % bound of the gap is
    0.5 - 1.645 * sqrt(0.25 / 20) = 0.316, within a 0.4 bound; the same recalls over ten
    times the rows are not noise and fail it."""
    def judge(repeat: int, confidence: float) -> dict:
        rows = pd.DataFrame({"city": ["A"] * 40 * repeat + ["B"] * 40 * repeat})
        y = np.array([1, 0] * 40 * repeat)
        hit_b = np.tile(np.where(np.arange(40) % 4 == 0, 0.9, 0.1), repeat)
        proba = np.concatenate([np.where(y[:40 * repeat] == 1, 0.9, 0.1), hit_b])
        [result] = evaluate.fairness_gaps(BIZ, rows, y, proba, metric="recall",
                                          threshold=0.5, max_gap=0.4, min_rows=20,
                                          confidence=confidence)
        return result

    strict, noisy, large = judge(1, 0.0), judge(1, 0.95), judge(10, 0.95)
    assert strict["gap"] == noisy["gap"] == pytest.approx(0.5)
    assert not strict["passed"]
    assert noisy["passed"] and noisy["gap_lower_bound"] == pytest.approx(0.316, abs=1e-3)
    assert not large["passed"] and large["gap_lower_bound"] > 0.4
    assert "beyond sampling noise" in large["reason"]


def test_verdict_collects_the_reasons_of_failed_checks() -> None:
    assert gate.verdict([{"check": "metric", "passed": True}]) == (gate.PROMOTED, [])
    decision, reasons = gate.verdict([
        {"check": "metric", "passed": False, "reason": "roc_auc too low"},
        {"check": "invariance", "passed": False},
        {"check": "direction", "passed": True}])
    assert decision == gate.REJECTED
    assert reasons == ["roc_auc too low", "invariance failed"]


# -- rollback and the decisions table -------------------------------------------------------


def test_rollback_only_when_realised_metric_is_worse_by_more_than_the_margin() -> None:
    assert gate.should_roll_back("roc_auc", 0.70, 0.75, 0.0)
    assert not gate.should_roll_back("roc_auc", 0.74, 0.75, 0.02)
    assert not gate.should_roll_back("roc_auc", 0.80, 0.75, 0.0)
    assert gate.should_roll_back("log_loss", 0.60, 0.50, 0.0)  # lower is better
    assert not gate.should_roll_back("roc_auc", math.nan, 0.75, 0.0)
    assert gate.realised_value({"roc_auc": 0.7, "recall": 0.2}, "roc_auc") == 0.7
    assert math.isnan(gate.realised_value({"recall": 0.2}, "roc_auc"))


def test_decisions_are_replaced_per_interval_version_and_action(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    first = gate.decision_row("student_at_risk", "2", "gate", gate.REJECTED, before="1",
                              after="1", interval="2024-10-01", dag_run="r1",
                              reasons=["worse"], value=0.6)
    data.write_decision(lake, first)
    data.write_decision(lake, {**first, "decision": gate.PROMOTED, "champion_after": "2",
                               "reasons": ""})  # the same interval decided again
    data.write_decision(lake, {**first, "version": "3"})
    data.write_decision(lake, {**first, "model": "customer_churn"})
    assert data.decision_path("student_at_risk", 2, "gate", "2024-10-01") == (
        "monitoring/model_decisions/dt=2024-10-01/student_at_risk.v2.gate.parquet")
    mine = data.read_decisions(lake, "student_at_risk")
    assert sorted(mine["version"]) == ["2", "3"]
    assert mine.set_index("version").loc["2", "decision"] == gate.PROMOTED
    assert len(data.read_decisions(lake)) == 3


def test_a_first_decision_with_nulls_reads_with_the_others_as_one_table(
        settings: Settings) -> None:
    """The first model's rejection has no champion before or after: its file still types
    those columns, so the decisions folder scans as one table (as the SQL endpoint and a
    user's DuckDB read it), not "cannot cast VARCHAR to NULL"."""
    import duckdb

    lake = Lake.from_settings(settings)
    data.write_decision(lake, gate.decision_row("customer_churn", "1", "gate", gate.REJECTED,
                                                before=None, after=None,
                                                interval="2024-10-01", dag_run=None,
                                                reasons=["gap"]))
    data.write_decision(lake, gate.decision_row("student_at_risk", "1", "gate", gate.PROMOTED,
                                                before=None, after="1",
                                                interval="2024-10-01", dag_run="r",
                                                reasons=[], value=0.8, holdout_version="1"))
    folder = lake.local_path("monitoring/model_decisions")
    rows = duckdb.sql(f"SELECT model, champion_after, value FROM read_parquet("
                      f"'{folder}/**/*.parquet') ORDER BY model").fetchall()
    assert rows == [("customer_churn", None, None), ("student_at_risk", "1", 0.8)]


def test_frozen_data_paths_are_per_version() -> None:
    assert data.holdout_path("customer_churn", 4) == (
        "monitoring/model_holdouts/customer_churn/version=4/part-0.parquet")
    assert data.reference_path("student_at_risk", "2") == (
        "monitoring/model_references/student_at_risk/version=2/part-0.parquet")
