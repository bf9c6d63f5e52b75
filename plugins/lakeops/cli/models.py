"""``lakeops train | score | monitor``: one model's stages for one interval (train and
gate, score with the champion, drift against the training reference), in this process
against the running MLflow server."""

from __future__ import annotations

import logging

import typer

from lakeops.cli.options import Model, ModelInterval
from lakeops.core.settings import get_settings

app = typer.Typer()


@app.command()
def train(model: Model, interval: ModelInterval) -> None:
    """Train a model on its training mart, register it as `challenger`, then run the
    promotion gate (needs the MLflow server: `lakeops up`); prints the decision."""
    from lakeops.ml.gate import evaluate_gate
    from lakeops.ml.train import train as train_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    trained = train_model(model, interval, settings)
    typer.echo(f"{model} v{trained['version']} (run {trained['run_id']}): holdout "
               + ", ".join(f"{k} {v:.4f}" for k, v in trained["metrics"].items()))
    decision = evaluate_gate(model, trained["version"], settings, interval=interval)
    typer.echo(f"gate: {decision['decision']} (champion {decision['champion_before']} -> "
               f"{decision['champion_after']})")
    for reason in decision["reasons"]:
        typer.echo(f"  - {reason}")


@app.command()
def score(model: Model, interval: ModelInterval) -> None:
    """Score the interval's feature rows with the model's champion (needs the MLflow
    server: `lakeops up`) into predictions/<model>/dt=<interval>, then record the realised
    quality of the earlier predictions whose labels are known by now."""
    from lakeops.ml.score import NoChampionError, realised
    from lakeops.ml.score import score as score_interval

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    try:
        scored = score_interval(model, interval, settings)
    except (NoChampionError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"{model} {interval}: {scored['rows']} rows scored by v{scored['version']} "
               f"(threshold {scored['threshold']}), {scored['predicted_positive']} "
               f"predicted positive -> {scored['path']}")
    quality = realised(model, interval, settings)
    for version, m in quality["versions"].items():
        typer.echo(f"  realised v{version}: " + ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items()))


@app.command()
def monitor(model: Model, interval: ModelInterval) -> None:
    """Drift of the interval's scored rows against the training reference (Evidently):
    report under reports/drift/, a run in the Evidently workspace, the drift tables;
    exits 3 when drift crossed the retraining threshold."""
    from lakeops.ml.monitor import monitor as monitor_interval

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    try:
        result = monitor_interval(model, interval, settings)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"{model} {interval} vs v{result['reference_version']} reference: "
               f"{result['drifted_features']}/{result['features']} features drifted "
               f"(share {result['drift_share']:.2f}, PSI > {result['psi_threshold']}: "
               f"{result['psi_drifted_features']}), prediction drift score "
               f"{result['prediction_drift_score']:.4f} ({result['prediction_stattest']})")
    if result["drifted"]:
        typer.echo("  drifted: " + ", ".join(result["drifted"]))
    typer.echo(f"  report: {settings.docs_url}/drift/{model}/{interval}.html")
    if result["alert"]:
        typer.echo(f"  ALERT: drift share reached {result['drift_share_threshold']}: retrain")
        raise typer.Exit(3)
