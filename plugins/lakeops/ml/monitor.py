"""Drift monitoring with Evidently: the interval's scored rows against the training
reference of the version that scored them.

:func:`monitor` (one model, one data interval):

* **current** — the interval's feature-mart rows (:func:`lakeops.ml.score.scoring_rows`)
  joined to their predictions (``predictions/<model>/dt=<interval>``) on the spec's keys
  (:func:`current_rows`);
* **reference** — the training reference sample of the version that scored them (the
  champion when scoring ran; ``monitoring/model_references/<model>/version=<v>/*.parquet``,
  :func:`reference_frame`), its ``prediction_score`` column being that version's
  probability of the predicted class (scored here with the version when absent).

:func:`compare` runs Evidently's drift report on both (and, when labels of the current
rows are known already, the classification quality report: :mod:`lakeops.ml.reports`),
and computes the drift tables' rows with PSI beside Evidently's tests
(:mod:`lakeops.ml.drift`).

Outputs:

* ``reports/drift/<model>/<interval>.html`` (and ``<interval>-quality.html`` when labels
  are known) in the lake — the docs site serves ``reports/``;
* the runs in the Evidently workspace, one project per model with its dashboard
  (:mod:`lakeops.ml.workspace`); running an interval again replaces its runs;
* ``monitoring/drift/<model>/dt=<interval>`` — one row
  (:data:`lakeops.ml.drift.DRIFT_COLUMNS`) and
  ``monitoring/drift_features/<model>/dt=<interval>`` — one row per feature and one for
  the prediction (:data:`lakeops.ml.drift.DRIFT_FEATURE_COLUMNS`).

The retraining alert (:func:`lakeops.ml.drift.crossed`, :func:`drift_alert`) is raised
when the share of drifted features — by Evidently's per-column tests, or by PSI above
``settings.ml_psi_threshold`` — reaches ``settings.ml_drift_share_threshold``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeops.catalog import datasets
from lakeops.core.settings import Settings
from lakeops.ml import drift, reports
from lakeops.ml.score import (
    PREDICTED,
    PROBABILITY,
    Champion,
    load_model,
    predict_proba,
    read_predictions,
    scoring_rows,
)
from lakeops.ml.specs import ModelSpec, matrix, spec
from lakeops.ml.workspace import add_to_workspace
from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` finds: the Evidently runs (no quality run while no current row
    is labelled), the interval's headline row and one row per feature and the prediction."""

    drift_run: Any
    quality_run: Any | None
    row: drift.IntervalDrift
    features: list[drift.FeatureDrift]


class MonitorResult(drift.DriftRow):
    """What :func:`monitor` returns: the ``monitoring/drift`` row, the workspace's new
    snapshot ids and the features that drifted by either measure."""

    snapshots: list[str]
    drifted: list[str]


def report_path(model: str, interval: str, suffix: str = "") -> str:
    """``reports/drift/<model>/<interval><suffix>.html`` in the lake."""
    return table_path("reports", "drift", model, f"{interval}{suffix}.html")


def reference_frame(model: str, version: int | str, settings: Settings) -> pd.DataFrame:
    """The training reference rows of one version of ``model``
    (``<REFERENCES path>/version=<v>/*.parquet``)."""
    import pyarrow as pa

    lake = Lake.from_settings(settings)
    folder = f"{datasets.REFERENCES[model].path}/version={version}"
    files = [f.path for f in lake.ls(folder) if f.path.endswith(".parquet")]
    if not files:
        raise FileNotFoundError(f"no training reference of {model} version {version} in "
                                f"{lake.uri(folder)}")
    return pa.concat_tables([lake.read_parquet(p) for p in files],
                            promote_options="default").to_pandas()


def current_rows(model_spec: ModelSpec, interval: str, lake: Lake) -> pd.DataFrame:
    """The interval's feature rows with their predictions (inner join on the keys)."""
    rows = scoring_rows(model_spec, interval, lake)
    predictions = read_predictions(lake, model_spec.name, interval)
    keys = list(model_spec.keys)
    for key in keys:
        predictions[key] = predictions[key].astype(rows[key].dtype)
    keep = [*keys, PROBABILITY, PREDICTED, "threshold", "model_version", "run_id"]
    return rows.merge(predictions[keep], on=keys, how="inner").reset_index(drop=True)


def compare(model_spec: ModelSpec, reference: pd.DataFrame, current: pd.DataFrame,
            settings: Settings, *, interval: str, reference_version: str,
            model_version: str, threshold: float) -> Comparison:
    """Run the drift (and, with labels, quality) reports on two
    :func:`lakeops.ml.reports.evidently_frame` frames; returns the runs, the headline row
    and the per-feature rows."""
    numeric, categorical = reports.tested_columns(model_spec, reference, current)
    drift_run = reports.drift_report(
        model_spec, reference, current, numeric=numeric, categorical=categorical,
        drift_share=settings.ml_drift_share_threshold, interval=interval,
        reference_version=reference_version, model_version=model_version)
    tests = reports.drift_tests(drift_run)
    features = drift.feature_rows(model_spec, reference, current, tests.columns,
                                  settings.ml_psi_threshold, interval=interval,
                                  reference_version=reference_version)

    labelled = reports.labelled(current)
    quality_run = reports.quality_report(
        model_spec, reference, labelled, numeric=numeric, categorical=categorical,
        interval=interval, model_version=model_version) if len(labelled) else None
    quality = reports.quality_metrics(quality_run) if quality_run is not None else {}

    summary = drift.drift_summary(features, tests, settings)
    row: drift.IntervalDrift = {
        "model": model_spec.name, "interval": interval,
        "reference_version": reference_version, "model_version": model_version,
        "rows": len(current), "reference_rows": len(reference),
        **summary,
        **drift.prediction_summary(features, reference[reports.PREDICTION],
                                   current[reports.PREDICTION], threshold),
        **drift.quality_summary(len(labelled), quality),
        "alert": drift.crossed(summary, settings),
    }
    return Comparison(drift_run, quality_run, row, features)


def scored_reference(model_spec: ModelSpec, rows: pd.DataFrame, version: str,
                     threshold: float, settings: Settings, *,
                     tracking_uri: str | None = None) -> pd.DataFrame:
    """The :func:`lakeops.ml.reports.evidently_frame` of the training reference of
    ``version``, the version that scored ``rows``: its probabilities are the reference's
    ``prediction_score``, or, for an older reference without them, scored now by the
    version."""
    model = model_spec.name
    reference_rows = reference_frame(model, version, settings)
    if reports.PREDICTION in reference_rows.columns:
        ref_proba = reference_rows[reports.PREDICTION].to_numpy()
    else:
        loaded = load_model(Champion(model, version, str(rows["run_id"].iloc[0]), threshold),
                            settings, tracking_uri=tracking_uri)
        x, _ = matrix(model_spec, reference_rows.drop(columns=[model_spec.label],
                                                      errors="ignore"))
        ref_proba = predict_proba(loaded, x)
    return reports.evidently_frame(model_spec, reference_rows, ref_proba, threshold)


def write_reports(lake: Lake, model: str, interval: str, comparison: Comparison) -> str:
    """The reports' HTML in the lake (the quality report's only while labels are known,
    an earlier one removed otherwise); returns the drift report's path."""
    html = report_path(model, interval)
    lake.write_bytes(html, comparison.drift_run.get_html_str(as_iframe=False).encode())
    quality_html = report_path(model, interval, "-quality")
    if comparison.quality_run is not None:
        lake.write_bytes(quality_html,
                         comparison.quality_run.get_html_str(as_iframe=False).encode())
    elif lake.exists(quality_html):  # labels were known on an earlier run, not now
        lake.delete(quality_html)
    return html


def _write_rows(lake: Lake, ds: datasets.Dataset, interval: str,
                rows: Sequence[Mapping[str, Any]],
                columns: tuple[str, ...]) -> str:
    import pandas as pd
    import pyarrow as pa

    frame = pd.DataFrame(rows, columns=list(columns))
    return lake.write_partition(ds.zone, ds.dataset, interval,
                                pa.Table.from_pandas(frame, preserve_index=False))


def monitor(model: str, interval: str, settings: Settings, *,
            tracking_uri: str | None = None) -> MonitorResult:
    """Drift and quality of the interval's scored rows against the training reference of
    the version that scored them; writes the report(s), the workspace runs and the two
    drift tables, and returns the headline row with ``alert`` (see
    :func:`lakeops.ml.drift.crossed`). ``tracking_uri`` (default ``settings.mlflow_url``) is
    only used when the reference lacks ``prediction_score`` and the version must score it."""
    model_spec = spec(model)
    lake = Lake.from_settings(settings)
    rows = current_rows(model_spec, interval, lake)
    if rows.empty:
        raise ValueError(f"{model} {interval}: no scored rows to monitor")
    versions = sorted(rows["model_version"].astype(str).unique())
    if len(versions) != 1:
        raise ValueError(f"{model} {interval}: predictions of several versions {versions}")
    version, threshold = versions[0], float(rows["threshold"].iloc[0])
    reference = scored_reference(model_spec, rows, version, threshold, settings,
                                 tracking_uri=tracking_uri)
    current = reports.evidently_frame(model_spec, rows, rows[PROBABILITY].to_numpy(), threshold)

    result = compare(model_spec, reference, current, settings, interval=interval,
                     reference_version=version, model_version=version, threshold=threshold)
    html = write_reports(lake, model, interval, result)
    runs = [run for run in (result.drift_run, result.quality_run) if run is not None]
    snapshots = add_to_workspace(settings, model, runs)

    row: drift.DriftRow = {**result.row, "report_path": html}
    _write_rows(lake, datasets.DRIFT[model], interval, [row], drift.DRIFT_COLUMNS)
    _write_rows(lake, datasets.DRIFT_FEATURES[model], interval, result.features,
                drift.DRIFT_FEATURE_COLUMNS)
    return {**row, "snapshots": snapshots,
            "drifted": sorted(r["feature"] for r in result.features
                              if r["kind"] != "prediction" and (r["drifted"] or r["psi_drifted"]))}


def drift_alert(model: str, interval: str, settings: Settings) -> bool:
    """Whether the interval's recorded drift (``monitoring/drift/<model>/dt=<interval>``,
    written by :func:`monitor`) crossed the thresholds (:func:`crossed`, as configured
    when it was recorded): schedule retraining."""
    lake = Lake.from_settings(settings)
    ds = datasets.DRIFT[model]
    path = table_path(ds.zone, ds.dataset, partition_dir(interval), DATA_FILE)
    if not lake.exists(path):
        raise FileNotFoundError(f"no drift recorded for {model} {interval} at "
                                f"{lake.uri(path)}: run monitor first")
    return bool(lake.read_parquet(path).column("alert")[0].as_py())
