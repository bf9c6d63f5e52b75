"""The promotion gate and rollback: who holds the MLflow alias ``champion``.

:func:`evaluate_gate` judges a registered version (normally the ``challenger`` that
:func:`lakeops.ml.train.train` just registered) on the **frozen holdout the current
champion was judged on** (the champion's ``version=<v>`` holdout in the lake; the very
first version uses its own). It is promoted to ``champion`` only when

a. it beats the champion's ``spec.primary_metric`` on that holdout by
   ``ml_promotion_margin`` -- or, with no champion yet, a constant baseline (the training
   prior, ``DummyClassifier(strategy="prior")``) by the same margin;
b. the behavioural checks pass: invariance to ``spec.id_column``, engagement never raising
   the predicted class's probability, recall >= ``ml_min_critical_recall`` on each
   ``spec.critical_slices`` slice (slices with too few positives are reported, not failed);
c. per ``spec.sensitive`` column, ``ml_fairness_metric`` differs by at most
   ``ml_max_fairness_gap`` across groups of at least ``ml_min_slice_rows`` rows, beyond
   sampling noise at ``ml_fairness_confidence`` (0: the raw gap).

:func:`rollback_if_worse` moves ``champion`` back to the previous champion when the current
one's realised metric on a window falls under the previous one's on the same window.

Every decision goes to the version's tags (``gate.*`` / ``rollback.*``), to a JSON artifact
of its run (``gate/decision.json``) and to the lake table ``monitoring/model_decisions``
(:func:`lakeops.ml.data.decision_path`: re-deciding the same interval and version replaces
the row).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakeops.core.settings import Settings
from lakeops.ml import data, evaluate
from lakeops.ml.specs import ModelSpec, matrix
from lakeops.ml.specs import spec as get_spec
from lakeops.ml.train import CHAMPION, mlflow_client

if TYPE_CHECKING:
    import pandas as pd

    from lakeops.storage.lake import Lake

log = logging.getLogger(__name__)

PROMOTED, REJECTED, ROLLED_BACK, KEPT = "promoted", "rejected", "rolled_back", "kept"
TAG_VALUE_MAX = 5000  # MLflow caps tag values; reasons beyond this are in the JSON artifact


# -- pure parts ---------------------------------------------------------------------------


def compare(metric: str, candidate: dict[str, float], incumbent: dict[str, float],
            margin: float, incumbent_name: str) -> dict[str, Any]:
    """Check (a): does the candidate beat the incumbent on ``metric`` by ``margin``?"""
    value, against = candidate.get(metric, math.nan), incumbent.get(metric, math.nan)
    ok = evaluate.beats(metric, value, against, margin)
    result: dict[str, Any] = {"check": "metric", "metric": metric, "value": value,
                              "incumbent": incumbent_name, "incumbent_value": against,
                              "margin": margin, "passed": ok}
    if not ok:
        result["reason"] = (f"{metric} {value:.4f} does not beat {incumbent_name} "
                            f"{against:.4f} by the margin {margin:g}")
    return result


def behavioural_checks(predict: evaluate.Predict, spec: ModelSpec, rows: pd.DataFrame,
                       settings: Settings) -> list[dict[str, Any]]:
    """Checks (b) and (c) of a model (``predict``: rows -> probability of the predicted
    class) on labelled ``rows``: invariance, direction, critical-slice recall, fairness."""
    x, y = matrix(spec, rows)
    if y is None:
        raise ValueError(f"{spec.name}: behavioural checks need labelled rows")
    rows = rows.loc[x.index]
    proba = predict(x)
    return [
        evaluate.invariance(predict, spec, rows),
        *evaluate.direction(predict, spec, rows, settings.ml_direction_tolerance),
        *evaluate.critical_recall(spec, rows, y, proba, threshold=settings.ml_threshold,
                                  min_recall=settings.ml_min_critical_recall,
                                  min_positives=settings.ml_min_slice_positives),
        *evaluate.fairness_gaps(spec, rows, y, proba, metric=settings.ml_fairness_metric,
                                threshold=settings.ml_threshold,
                                max_gap=settings.ml_max_fairness_gap,
                                min_rows=settings.ml_min_slice_rows,
                                confidence=settings.ml_fairness_confidence),
    ]


def verdict(checks: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """(promoted | rejected, the reasons of every failed check)."""
    reasons = [c.get("reason", f"{c['check']} failed") for c in checks if not c["passed"]]
    return (REJECTED if reasons else PROMOTED), reasons


def should_roll_back(metric: str, current: float, previous: float, margin: float) -> bool:
    """The current champion's realised ``metric`` is worse than the previous champion's on
    the same window by more than ``margin`` (never on a NaN)."""
    if math.isnan(current) or math.isnan(previous):
        return False
    return evaluate.improvement(metric, current, previous) < -margin


def realised_value(realised: float | Mapping[str, float], metric: str) -> float:
    """A realised number: the value itself, or ``metric`` of a dict of metrics."""
    if isinstance(realised, Mapping):
        return float(realised.get(metric, math.nan))
    return float(realised)


# -- registry and lake helpers --------------------------------------------------------------


def alias_version(client: Any, model: str, alias: str) -> str | None:
    """The version holding ``alias``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model, alias).version)
    except MlflowException:
        return None


def load_predict(settings: Settings, model: str, version: str) -> evaluate.Predict:
    """``predict`` (rows -> probability of the predicted class) of a registered version."""
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(settings.mlflow_url)
    mlflow.set_registry_uri(settings.mlflow_url)
    return evaluate.positive_proba(mlflow.sklearn.load_model(f"models:/{model}/{version}"))


def _baseline(lake: Lake, spec: ModelSpec, version: str, y_holdout: Any) -> Any:
    """The constant baseline's probabilities on the holdout: the prior of the version's
    training reference (the holdout's own prior when no reference is there)."""
    y_prior = y_holdout
    if lake.exists(data.reference_path(spec.name, version)):
        _, y_ref = matrix(spec, data.read_reference(lake, spec.name, version))
        if y_ref is not None:
            y_prior = y_ref
    return evaluate.baseline_proba(y_prior, len(y_holdout))


def _record(settings: Settings, lake: Lake, client: Any, row: dict[str, Any],
            details: dict[str, Any], prefix: str) -> None:
    """The decision to the version's tags, its run's artifacts and the decisions table."""
    model, version = row["model"], row["version"]
    tags = {f"{prefix}.decision": row["decision"],
            f"{prefix}.reasons": "; ".join(details["reasons"])[:TAG_VALUE_MAX] or "-",
            f"{prefix}.interval": row["interval"], f"{prefix}.decided_at": row["decided_at"],
            f"{prefix}.champion_before": row["champion_before"] or "",
            f"{prefix}.champion_after": row["champion_after"] or ""}
    for key in ("holdout_version", "metric", "value", "incumbent", "incumbent_value",
                "window"):
        if row.get(key) is not None:
            tags[f"{prefix}.{key}"] = (f"{row[key]:.6g}" if isinstance(row[key], float)
                                       else str(row[key]))
    for key, value in tags.items():
        client.set_model_version_tag(model, version, key, value)
    run_id = client.get_model_version(model, version).run_id
    if run_id:
        client.log_text(run_id, json.dumps(details, indent=2, default=str),
                        f"{prefix}/decision-{row['interval']}.json")
    data.write_decision(lake, row)


def decision_row(model: str, version: str, action: str, decision: str, *,
                 before: str | None, after: str | None, interval: str, dag_run: str | None,
                 reasons: list[str], **numbers: Any) -> dict[str, Any]:
    """A row of ``monitoring/model_decisions`` (:func:`lakeops.ml.data.write_decision`):
    ``action`` (``gate`` | ``rollback``) on ``version`` decided ``decision``, the champion
    ``before`` and ``after`` it, the reasons, and the decision's ``numbers`` (keys
    ``holdout_version``, ``metric``, ``value``, ``incumbent``, ``incumbent_value``,
    ``metrics``, ``window``; absent ones are null)."""
    return {"model": model, "version": str(version), "action": action, "decision": decision,
            "champion_before": before, "champion_after": after,
            "holdout_version": numbers.get("holdout_version"),
            "metric": numbers.get("metric"), "value": numbers.get("value"),
            "incumbent": numbers.get("incumbent"),
            "incumbent_value": numbers.get("incumbent_value"),
            "metrics": json.dumps(numbers.get("metrics") or {}, default=str),
            "window": numbers.get("window"), "reasons": "; ".join(reasons),
            "interval": str(interval), "dag_run": dag_run,
            "decided_at": datetime.now(UTC).isoformat(timespec="milliseconds")}


# -- the gate ---------------------------------------------------------------------------------


def evaluate_gate(model: str, version: int | str, settings: Settings, *,
                  interval: str | None = None, dag_run: str | None = None) -> dict[str, Any]:
    """Judge ``version`` of ``model``; promote it to ``champion`` when every check passes.
    Returns the decision (``promoted`` | ``rejected``; ``kept`` when it already is the
    champion) with every check's numbers and the reasons of the failed ones."""
    from lakeops.storage.lake import Lake

    spec, version = get_spec(model), str(version)
    client, lake = mlflow_client(settings), Lake.from_settings(settings)
    interval = interval or client.get_model_version(model, version).tags.get(
        "lakeops.interval", "unknown")
    champion = alias_version(client, model, CHAMPION)
    if champion == version:
        return {"model": model, "version": version, "decision": KEPT,
                "reasons": [f"version {version} already is the champion"],
                "champion_before": champion, "champion_after": champion}
    holdout_version = champion or version
    holdout = data.read_holdout(lake, model, holdout_version)
    x, y = matrix(spec, holdout)
    if y is None:
        raise ValueError(f"{model}: holdout of version {holdout_version} has no labels")
    predict = load_predict(settings, model, version)
    proba = predict(x)
    candidate = evaluate.classification_metrics(y, proba, settings.ml_threshold)
    if champion:
        incumbent_name = f"champion v{champion}"
        incumbent_proba = load_predict(settings, model, champion)(x)
    else:
        incumbent_name = "baseline (training prior)"
        incumbent_proba = _baseline(lake, spec, version, y)
    incumbent = evaluate.classification_metrics(y, incumbent_proba, settings.ml_threshold)
    checks = [compare(spec.primary_metric, candidate, incumbent,
                      settings.ml_promotion_margin, incumbent_name),
              *behavioural_checks(predict, spec, holdout, settings)]
    decision, reasons = verdict(checks)
    after = champion
    if decision == PROMOTED:
        client.set_registered_model_alias(model, CHAMPION, version)
        client.set_model_version_tag(model, version, "gate.previous_champion", champion or "")
        after = version
    row = decision_row(model, version, "gate", decision, before=champion, after=after,
                       interval=interval, dag_run=dag_run, reasons=reasons,
                       holdout_version=holdout_version, metric=spec.primary_metric,
                       value=candidate[spec.primary_metric], incumbent=incumbent_name,
                       incumbent_value=incumbent[spec.primary_metric], metrics=candidate)
    details = {**row, "reasons": reasons, "checks": checks, "challenger_metrics": candidate,
               "incumbent_metrics": incumbent}
    _record(settings, lake, client, row, details, "gate")
    log.info("%s v%s: %s%s", model, version, decision,
             f" ({'; '.join(reasons)})" if reasons else "")
    return details


# -- rollback -----------------------------------------------------------------------------


def previous_champion(client: Any, lake: Lake, model: str, champion: str) -> str | None:
    """The champion before ``champion``: its ``gate.previous_champion`` tag, else the
    decisions table's last move to it."""
    tags = client.get_model_version(model, champion).tags
    if tags.get("gate.previous_champion"):
        return str(tags["gate.previous_champion"])
    decisions = data.read_decisions(lake, model)
    if decisions.empty:
        return None
    moves = decisions[(decisions["decision"] == PROMOTED)
                      & (decisions["champion_after"].astype("string") == champion)]
    if moves.empty or not moves.iloc[-1]["champion_before"]:
        return None
    return str(moves.iloc[-1]["champion_before"])


def rollback_if_worse(model: str, window: str, realised_current: float | Mapping[str, float],
                      realised_previous: float | Mapping[str, float], settings: Settings, *,
                      interval: str | None = None, dag_run: str | None = None,
                      metric: str | None = None) -> dict[str, Any]:
    """Move ``champion`` back to the previous champion when the current champion's realised
    ``metric`` (default ``spec.primary_metric``) on ``window`` is worse than the previous
    champion's on the same window (by more than ``ml_rollback_margin``). The realised
    numbers are floats or dicts of metrics. Records a ``rolled_back`` decision (decisions
    partition ``dt=<interval or window>``); returns the decision (``kept`` when nothing
    moved, not recorded)."""
    from lakeops.storage.lake import Lake

    spec = get_spec(model)
    metric = metric or spec.primary_metric
    client, lake = mlflow_client(settings), Lake.from_settings(settings)
    current = realised_value(realised_current, metric)
    previous_value = realised_value(realised_previous, metric)
    champion = alias_version(client, model, CHAMPION)
    result: dict[str, Any] = {"model": model, "window": window, "metric": metric,
                              "realised_current": current,
                              "realised_previous": previous_value,
                              "champion_before": champion, "champion_after": champion}
    if champion is None:
        return {**result, "decision": KEPT, "reasons": ["no champion"]}
    previous = previous_champion(client, lake, model, champion)
    if previous is None:
        return {**result, "decision": KEPT, "reasons": [f"v{champion} has no predecessor"]}
    if not should_roll_back(metric, current, previous_value, settings.ml_rollback_margin):
        return {**result, "decision": KEPT, "previous": previous,
                "reasons": [f"realised {metric} {current:.4f} is not worse than the "
                            f"previous champion v{previous}'s {previous_value:.4f}"]}
    reasons = [f"realised {metric} {current:.4f} of v{champion} on {window} is worse than "
               f"{previous_value:.4f} of the previous champion v{previous}"]
    client.set_registered_model_alias(model, CHAMPION, previous)
    row = decision_row(model, champion, "rollback", ROLLED_BACK, before=champion,
                       after=previous, interval=interval or window, dag_run=dag_run,
                       reasons=reasons, metric=metric, value=current,
                       incumbent=f"previous champion v{previous}",
                       incumbent_value=previous_value, window=window)
    _record(settings, lake, client, row, {**row, "reasons": reasons}, "rollback")
    log.warning("%s: rolled champion back from v%s to v%s", model, champion, previous)
    return {**result, "decision": ROLLED_BACK, "champion_after": previous,
            "previous": previous, "reasons": reasons}
