"""Training, the MLflow registry and the promotion gate for real: a real MLflow server
(``lakeops up`` with only ``mlflow``, on a free port) and synthetic training marts in a
temporary lake. The tests run in file order and share the registry:

v1  trained without its strongest feature (blank in every training row)  -> beats the
    constant baseline: champion
v2  trained on shuffled labels                                          -> challenger only
v3  trained on the full mart                                            -> beats v1 on v1's
                                                                           holdout: champion
then a worse realised metric rolls ``champion`` back to v1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from tests.support import platform_settings, write_mart

from lakeops import services
from lakeops.core.settings import Settings, repo_root
from lakeops.ml import data, gate, synthetic, train
from lakeops.ml.specs import spec
from lakeops.storage.lake import Lake

pytestmark = [pytest.mark.timeout(300)]
MODEL = "student_at_risk"
SPEC = spec(MODEL)
INTERVAL = "2024-10-01"


@pytest.fixture(scope="module")
def ml(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = platform_settings(
        tmp_path_factory.mktemp("lakeops-ml"),
        # small and quick: two combinations over two folds
        ml_search_size=2, ml_cv_folds=2, ml_min_critical_recall=0.3,
        ml_max_fairness_gap=0.3, ml_min_slice_rows=50,
    )
    started = time.monotonic()
    try:
        statuses = services.up(settings, services=["mlflow"], timeout=120)
        assert [(s.name, s.healthy) for s in statuses] == [("mlflow", True)], statuses
        print(f"\nmlflow up in {time.monotonic() - started:.1f} s")
        yield settings
    finally:
        services.down(settings)


@pytest.fixture(scope="module")
def full_mart() -> pd.DataFrame:
    return synthetic.training_rows(SPEC, entities=250, times=10, seed=11)


def write_training_mart(settings: Settings, rows: pd.DataFrame) -> None:
    write_mart(Lake.from_settings(settings), SPEC.training_mart, rows)


def client(settings: Settings):  # type: ignore[no-untyped-def]
    return train.mlflow_client(settings)


def test_first_version_beats_the_baseline_and_becomes_champion(
        ml: Settings, full_mart: pd.DataFrame) -> None:
    weak = full_mart.copy()
    training_times = sorted(weak[SPEC.time_column].unique())[:-2]
    weak.loc[weak[SPEC.time_column].isin(training_times),
             synthetic.signal_feature(SPEC)] = np.nan
    write_training_mart(ml, weak)

    started = time.monotonic()
    trained = train.train(MODEL, INTERVAL, ml, dag_run="manual__1")
    print(f"train v{trained['version']}: {time.monotonic() - started:.1f} s "
          f"{trained['metrics']}")
    assert trained["version"] == "1"
    assert trained["rows_holdout"] == 500  # the latest 2 of 10 weeks
    c = client(ml)
    assert c.get_model_version_by_alias(MODEL, "challenger").version == "1"

    decision = gate.evaluate_gate(MODEL, "1", ml, interval=INTERVAL, dag_run="manual__1")
    assert decision["decision"] == "promoted", decision["reasons"]
    assert decision["incumbent"] == "baseline (training prior)"
    assert decision["incumbent_value"] == 0.5
    assert decision["value"] > 0.5 + ml.ml_promotion_margin
    assert c.get_model_version_by_alias(MODEL, "champion").version == "1"

    # what training logged and wrote
    lake = Lake.from_settings(ml)
    holdout = data.read_holdout(lake, MODEL, 1)
    reference = data.read_reference(lake, MODEL, 1)
    assert len(holdout) == 500 and holdout[SPEC.time_column].min() == 56
    assert reference[SPEC.time_column].max() < holdout[SPEC.time_column].min()
    assert reference[data.PREDICTION_SCORE].between(0, 1).all()
    run = c.get_run(trained["run_id"])
    assert {"roc_auc", "average_precision", "precision", "recall", "f1", "brier",
            "log_loss"} <= set(run.data.metrics)
    assert run.data.tags["lakeops.interval"] == INTERVAL
    assert run.data.tags["lakeops.dag_run"] == "manual__1"
    contexts = {next(t.value for t in d.tags if t.key == "mlflow.data.context")
                for d in run.inputs.dataset_inputs}
    assert contexts == {"training", "holdout"}
    plots = {a.path for a in c.list_artifacts(trained["run_id"], "plots")}
    assert plots == {f"plots/{p}.png" for p in
                     ("roc", "precision_recall", "calibration", "confusion_matrix")}
    tags = c.get_model_version(MODEL, "1").tags
    assert tags["gate.decision"] == "promoted" and tags["threshold"] == "0.5"
    assert tags["holdout_path"] == data.holdout_path(MODEL, 1)


def test_worse_challenger_is_registered_but_not_promoted(
        ml: Settings, full_mart: pd.DataFrame) -> None:
    shuffled = full_mart.copy()
    shuffled[SPEC.label] = np.random.default_rng(5).permutation(
        shuffled[SPEC.label].to_numpy())
    write_training_mart(ml, shuffled)
    trained = train.train(MODEL, INTERVAL, ml, dag_run="manual__2")
    assert trained["version"] == "2"

    decision = gate.evaluate_gate(MODEL, "2", ml, interval=INTERVAL, dag_run="manual__2")
    assert decision["decision"] == "rejected"
    assert decision["holdout_version"] == "1"  # judged on the champion's frozen holdout
    assert any("does not beat champion v1" in r for r in decision["reasons"])
    c = client(ml)
    assert c.get_model_version_by_alias(MODEL, "challenger").version == "2"
    assert c.get_model_version_by_alias(MODEL, "champion").version == "1"
    tags = c.get_model_version(MODEL, "2").tags
    assert tags["gate.decision"] == "rejected"
    assert "does not beat champion v1" in tags["gate.reasons"]

    rows = data.read_decisions(Lake.from_settings(ml), MODEL)
    assert list(zip(rows["version"], rows["decision"], strict=True)) == [
        ("1", "promoted"), ("2", "rejected")]
    rejected = rows.iloc[1]
    assert (rejected["champion_before"], rejected["champion_after"]) == ("1", "1")
    assert rejected["value"] < rejected["incumbent_value"]

    # deciding the same interval again replaces the row
    gate.evaluate_gate(MODEL, "2", ml, interval=INTERVAL, dag_run="manual__2b")
    again = data.read_decisions(Lake.from_settings(ml), MODEL)
    assert len(again) == 2 and again.iloc[1]["dag_run"] == "manual__2b"


def ml_env(settings: Settings) -> dict[str, str]:
    """The environment that makes get_settings() (the CLI, tests/model) equal ``settings``."""
    names = ("home", "mlflow_port", "ml_search_size", "ml_cv_folds", "ml_min_critical_recall",
             "ml_max_fairness_gap", "ml_min_slice_rows")
    return {f"LAKEOPS_{n.upper()}": str(getattr(settings, n)) for n in names}


def test_better_challenger_replaces_the_champion(ml: Settings, full_mart: pd.DataFrame,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from lakeops.cli.app import app

    write_training_mart(ml, full_mart)
    monkeypatch.delenv("LAKEOPS_LAKE_URI", raising=False)
    result = CliRunner().invoke(app, ["train", "--model", MODEL, "--interval", INTERVAL],
                                env=ml_env(ml))
    assert result.exit_code == 0, result.output
    assert "student_at_risk v3" in result.output
    assert "gate: promoted (champion 1 -> 3)" in result.output
    c = client(ml)
    assert c.get_model_version_by_alias(MODEL, "champion").version == "3"
    assert c.get_model_version(MODEL, "3").tags["gate.previous_champion"] == "1"
    [row] = [r for _, r in data.read_decisions(Lake.from_settings(ml), MODEL).iterrows()
             if r["version"] == "3"]
    assert row["value"] > row["incumbent_value"] + ml.ml_promotion_margin
    assert row["incumbent"] == "champion v1" and row["holdout_version"] == "1"


def test_the_predecessor_scores_in_the_shadow_and_a_worse_champion_is_rolled_back(
        ml: Settings) -> None:
    """v3 (champion after v1) scores an interval and v1 scores the same rows in the
    shadow; once labels are known, v3 is judged against v1 on those rows. With the labels
    as they are v3 stays; with every label inverted the better model is the worse one and
    the champion moves back to v1, recorded as a rollback."""
    from lakeops.ml import score

    lake = Lake.from_settings(ml)
    rows = synthetic.training_rows(SPEC, entities=300, times=3, seed=23)
    day = int(rows["prediction_day"].max())
    labels = rows["is_at_risk"].copy()
    rows["is_at_risk"] = None  # not known at scoring time
    mart = f"{data.mart_path(SPEC.features_mart)}/part-0.parquet"
    lake.write_table(mart, pa.Table.from_pandas(rows, preserve_index=False))
    pairs = rows[["code_module", "code_presentation"]].drop_duplicates()
    lake.write_partition("features", "education/student_week", "2024-10-09", pa.table({
        "code_module": pairs["code_module"].tolist(),
        "code_presentation": pairs["code_presentation"].tolist(),
        "as_of_day": pa.array([day] * len(pairs), pa.int32())}))

    out = score.score(MODEL, "2024-10-09", ml)
    assert (out["version"], out["shadow_version"]) == ("3", "1")
    shadow = lake.read_partition("monitoring", f"shadow_predictions/{MODEL}",
                                 "2024-10-09").to_pandas()
    mine = lake.read_partition("predictions", MODEL, "2024-10-09").to_pandas()
    assert len(shadow) == len(mine) == out["rows"] > 0
    assert set(shadow["model_version"]) == {"1"} and set(mine["model_version"]) == {"3"}
    assert score.review_champion(MODEL, "2024-10-09", ml)["reasons"][0].startswith(
        "0 rows")  # labels not known yet: nothing to compare

    rows["is_at_risk"] = labels
    lake.write_table(mart, pa.Table.from_pandas(rows, preserve_index=False))
    kept = score.review_champion(MODEL, "2024-10-09", ml)
    assert kept["decision"] == "kept", kept
    assert kept["realised_current"] > kept["realised_previous"]

    rows["is_at_risk"] = ~labels.astype(bool)
    lake.write_table(mart, pa.Table.from_pandas(rows, preserve_index=False))
    moved = score.review_champion(MODEL, "2024-10-09", ml, dag_run="monitor__shadow")
    assert (moved["decision"], moved["champion_before"], moved["champion_after"]) == (
        "rolled_back", "3", "1")
    c = client(ml)
    assert c.get_model_version_by_alias(MODEL, "champion").version == "1"
    last = data.read_decisions(lake, MODEL).iloc[-1]
    assert (last["action"], last["decision"], last["version"]) == (
        "rollback", "rolled_back", "3")
    # put v3 back for the next test, which starts from it
    c.set_registered_model_alias(MODEL, "champion", "3")


def test_rollback_moves_the_champion_back_when_it_does_worse(ml: Settings) -> None:
    window = "2024-10-08"
    kept = gate.rollback_if_worse(MODEL, window, 0.81, 0.78, ml)
    assert kept["decision"] == "kept"
    c = client(ml)
    assert c.get_model_version_by_alias(MODEL, "champion").version == "3"

    moved = gate.rollback_if_worse(MODEL, window, {"roc_auc": 0.70}, {"roc_auc": 0.78}, ml,
                                   dag_run="monitor__1")
    assert moved["decision"] == "rolled_back"
    assert (moved["champion_before"], moved["champion_after"]) == ("3", "1")
    assert c.get_model_version_by_alias(MODEL, "champion").version == "1"
    assert c.get_model_version(MODEL, "3").tags["rollback.decision"] == "rolled_back"
    rows = data.read_decisions(Lake.from_settings(ml), MODEL)
    last = rows[rows["window"] == window].iloc[-1]
    assert (last["action"], last["decision"], last["version"], last["champion_after"],
            last["window"]) == ("rollback", "rolled_back", "3", "1", window)
    assert "worse" in last["reasons"]


def test_behavioural_suite_runs_against_a_registered_version(ml: Settings) -> None:
    env = {**os.environ, **ml_env(ml), "LAKEOPS_MODEL": MODEL,
           "LAKEOPS_MODEL_ALIAS": "champion"}
    env.pop("LAKEOPS_LAKE_URI", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/model"],
        cwd=repo_root(), env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "passed" in done.stdout and "skipped" not in done.stdout
