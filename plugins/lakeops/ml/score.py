"""Batch scoring with the champion, and the realised quality of earlier scores.

* :func:`score` — the registered model's ``champion`` version scores the feature-mart rows
  of one data interval and replaces ``predictions/<model>/dt=<interval>/part-0.parquet``;
* :func:`realised` — once labels arrive in the features mart, the predictions made up to an
  interval are joined to them and their realised metrics, per model version, replace
  ``monitoring/model_performance/<model>/dt=<interval>/part-0.parquet``.

Which rows an interval scores (:func:`scoring_rows`), read from the features mart
(``marts/<spec.features_mart>/part-0.parquet``, one row per entity and as-of day):

* business (``customer_churn``): the rows with ``as_of_date`` = the interval (the
  ``customer_day`` feature job computes features as of the end of the interval's day);
* education (``student_at_risk``): OULAD days are presentation days, not dates. The feature
  job for interval D writes ``features/education/student_week/dt=D`` with the interval's
  newest clickstream day as ``as_of_day`` (:mod:`lakeops.transform.features`); the mart
  turns every such as-of day of a presentation into a ``prediction_day``. So interval D
  scores the mart rows whose ``(code_module, code_presentation, prediction_day)`` are the
  ``(code_module, code_presentation, as_of_day)`` of that partition — every student
  enrolled in the presentation and not withdrawn by that day, with their newest features.

Every prediction row holds the row's keys, ``probability`` (of the predicted class: at
risk, churned), ``predicted_label`` (1 when ``probability >= threshold``), ``threshold``
(0.5, or the version's ``threshold`` tag), ``model_version``, ``run_id`` and ``interval``.
Scoring the interval again replaces the partition, so re-runs never duplicate rows. The
rows stream from the mart's Parquet files in batches of :data:`SCORE_BATCH` and the
partition is written batch by batch to a staged file published in one step, so an
interval of any size scores in the memory of one batch.
Nothing heavy (pandas, MLflow, scikit-learn) is imported until a function runs.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from lakeops.catalog import datasets
from lakeops.core.settings import Settings
from lakeops.ml.data import read_mart, read_mart_batches
from lakeops.ml.specs import ModelSpec, matrix, spec, target
from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path

if TYPE_CHECKING:
    import pandas as pd

ALIAS = "champion"
DEFAULT_THRESHOLD = 0.5
PROBABILITY = "probability"
PREDICTED = "predicted_label"
SCORE_BATCH = 250_000  # rows per predict_proba call


class NoChampionError(LookupError):
    """The registered model has no version with the ``champion`` alias (yet)."""


class NothingToScore(LookupError):
    """The features mart holds no row of the interval (yet): its feature partition was
    written after dbt's last build. Nothing is written; the next build's run scores it."""


@dataclass(frozen=True)
class Champion:
    """The version behind ``models:/<name>@champion``."""

    model: str
    version: str
    run_id: str
    threshold: float

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"


# -- the registry ---------------------------------------------------------------------------


def _tracking_uri(settings: Settings, tracking_uri: str | None) -> str:
    return tracking_uri or settings.mlflow_url


def champion(model: str, settings: Settings, *, tracking_uri: str | None = None) -> Champion:
    """The champion version of ``model`` (raises :class:`NoChampionError` when none)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = _tracking_uri(settings, tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        mv = client.get_model_version_by_alias(model, ALIAS)
    except MlflowException as exc:
        raise NoChampionError(
            f"{model} has no '{ALIAS}' version in the MLflow registry at {uri} yet: train "
            f"the model and let the promotion gate promote a version first ({exc.message})"
        ) from None
    tag = (mv.tags or {}).get("threshold")
    threshold = float(tag) if tag else DEFAULT_THRESHOLD
    return Champion(model, str(mv.version), str(mv.run_id or ""), threshold)


def load_model(version: Champion, settings: Settings, *, tracking_uri: str | None = None
               ) -> Any:
    """The version's model with ``predict_proba`` (the sklearn flavour when logged so,
    else the pyfunc model, whose ``predict`` must return the probability)."""
    import mlflow

    uri = _tracking_uri(settings, tracking_uri)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        flavors = mlflow.models.get_model_info(version.uri).flavors
        if "sklearn" in flavors:
            return mlflow.sklearn.load_model(version.uri)
        return mlflow.pyfunc.load_model(version.uri)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def predict_proba(model: Any, x: pd.DataFrame) -> Any:
    """Probability of class 1 (the spec's predicted class) for each row of ``x``."""
    import numpy as np

    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(x))[:, 1].astype("float64")
    out = np.asarray(model.predict(x), dtype="float64")
    return out[:, -1] if out.ndim == 2 else out


# -- the rows of an interval -----------------------------------------------------------------


def _education_prediction_days(lake: Lake, interval: str) -> pd.DataFrame:
    """(code_module, code_presentation, prediction_day) the feature job wrote for ``interval``."""
    ds = datasets.FEATURES["education"]
    path = table_path(ds.zone, ds.dataset, partition_dir(interval), DATA_FILE)
    if not lake.exists(path):
        raise FileNotFoundError(f"no education features for {interval}: "
                                f"{lake.uri(path)} is missing (run the feature job first)")
    days = lake.read_parquet(path).select(
        ["code_module", "code_presentation", "as_of_day"]).to_pandas().drop_duplicates()
    return days.rename(columns={"as_of_day": "prediction_day"})


def scoring_rows(model_spec: ModelSpec, interval: str, lake: Lake) -> pd.DataFrame:
    """The features-mart rows the interval scores (see the module docstring): only their
    keys, features and label are read, and only the rows of the interval's as-of days.
    Whole, for consumers that need them at once (drift); scoring streams them
    (:func:`scoring_batches`), and both select rows by the same code."""
    import pandas as pd

    return pd.concat(scoring_batches(model_spec, interval, lake), ignore_index=True)


def scoring_batches(model_spec: ModelSpec, interval: str, lake: Lake, *,
                    batch_size: int | None = None) -> Iterator[pd.DataFrame]:
    """:func:`scoring_rows` in order, at most ``batch_size`` rows at a time, so scoring
    holds one batch in memory and not the whole interval. Always at
    least one frame (an empty one when nothing matches). The interval's as-of days are
    looked up now, so a missing feature partition fails before any model is loaded.
    ``batch_size`` defaults to :data:`SCORE_BATCH` as it is when called."""
    import pyarrow as pa
    import pyarrow.compute as pc

    batch_size = batch_size or SCORE_BATCH
    columns = list(dict.fromkeys([*model_spec.keys, *model_spec.features, model_spec.label]))
    if model_spec.source == "business":
        day = pa.scalar(date.fromisoformat(interval), pa.date32())
        return read_mart_batches(lake, model_spec.features_mart, batch_size=batch_size,
                                 columns=columns,
                                 where=pc.field(model_spec.time_column) == day)
    days = _education_prediction_days(lake, interval)
    wanted = pa.array(sorted({int(d) for d in days["prediction_day"]}), pa.int64())
    batches = read_mart_batches(lake, model_spec.features_mart, batch_size=batch_size,
                                columns=columns,
                                where=pc.field("prediction_day").cast(pa.int64()).isin(wanted))
    return _of_presentation_days(batches, days)


def _of_presentation_days(batches: Iterator[pd.DataFrame], days: pd.DataFrame
                          ) -> Iterator[pd.DataFrame]:
    """The rows of each batch whose (presentation, prediction day) the feature partition
    names. An inner merge keeps the left order, so batch by batch equals the whole frame
    merged at once; batches left empty are skipped (an empty first frame would give the
    writer null-typed columns), except that one empty frame comes when nothing matches."""
    keys = ["code_module", "code_presentation", "prediction_day"]
    empty: pd.DataFrame | None = None
    yielded = False
    for rows in batches:
        for key in keys:
            days[key] = days[key].astype(rows[key].dtype)
        kept = rows.merge(days, on=keys, how="inner").reset_index(drop=True)
        if len(kept):
            yielded = True
            yield kept
        elif empty is None:
            empty = kept
    if not yielded and empty is not None:
        yield empty


# -- scoring ---------------------------------------------------------------------------------


def score_frame(model_spec: ModelSpec, rows: pd.DataFrame, model: Any, version: Champion,
                interval: str) -> pd.DataFrame:
    """The prediction rows of ``rows`` (one each, in order)."""
    import numpy as np

    # the label is dropped so that matrix() keeps every row (it drops unlabelled ones
    # when some labels are known); batches bound the memory of the matrix
    unlabelled = rows.drop(columns=[model_spec.label], errors="ignore")
    parts = [predict_proba(model, matrix(model_spec, unlabelled.iloc[i:i + SCORE_BATCH])[0])
             for i in range(0, len(unlabelled), SCORE_BATCH)]
    out = rows[list(model_spec.keys)].copy()
    proba = np.concatenate(parts) if parts else np.zeros(0)
    out[PROBABILITY] = proba
    out[PREDICTED] = (proba >= version.threshold).astype("int64")
    out["threshold"] = float(version.threshold)
    out["model"] = model_spec.name
    out["model_version"] = version.version
    out["run_id"] = version.run_id
    out["interval"] = interval
    return out.reset_index(drop=True)


class _StreamedPartition:
    """One partition file written batch by batch: a Parquet writer on a staged local file
    (:meth:`Lake.staged_file`) that appears at ``<zone>/<dataset>/dt=<interval>/part-0.parquet``
    in one step when the enclosing stack closes without error, replacing the previous file
    as :meth:`Lake.write_partition` does; on error nothing is published."""

    def __init__(self, lake: Lake, ds: datasets.Dataset, interval: str,
                 stack: contextlib.ExitStack) -> None:
        self.path = table_path(ds.zone, ds.dataset, partition_dir(interval), DATA_FILE)
        self._local = stack.enter_context(lake.staged_file(self.path))
        self._stack = stack
        self._writer: Any = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            # the first batch's types are the file's, as a whole frame's would have been
            self._writer = pq.ParquetWriter(str(self._local), table.schema)
            self._stack.callback(self._writer.close)  # closed before the file is published
        elif not table.schema.equals(self._writer.schema, check_metadata=False):
            # a batch whose pandas types differ (a column null throughout it)
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows


def score(model: str, interval: str, settings: Settings, *,
          tracking_uri: str | None = None) -> dict[str, Any]:
    """Score the interval's feature rows with ``models:/<model>@champion`` and replace
    ``predictions/<model>/dt=<interval>/part-0.parquet``. ``tracking_uri`` defaults to
    ``settings.mlflow_url``.

    The rows stream through in batches of :data:`SCORE_BATCH` (read, matrix, predict,
    append to the staged file), so memory stays that of a batch whatever the interval's
    size; the previous champion, if any, shadow-scores the same batches in the same pass
    (:data:`datasets.SHADOW_PREDICTIONS`), so the mart is read once."""
    model_spec = spec(model)
    lake = Lake.from_settings(settings)
    version = champion(model, settings, tracking_uri=tracking_uri)
    batches = iter(scoring_batches(model_spec, interval, lake))
    first = next(batches)  # an empty first frame: the interval has no row at all
    if first.empty:
        raise NothingToScore(
            f"{model} {interval}: {model_spec.features_mart} has no row of this interval "
            "yet (its features were written after dbt's last build); nothing is written")
    batches = itertools.chain([first], batches)
    loaded = load_model(version, settings, tracking_uri=tracking_uri)
    previous = previous_version(model, version, settings, tracking_uri=tracking_uri)
    shadow_model = (load_model(previous, settings, tracking_uri=tracking_uri)
                    if previous is not None else None)
    positives = 0
    with contextlib.ExitStack() as stack:
        # entered first, published last: the champion's file is replaced before its shadow
        shadow = (_StreamedPartition(lake, datasets.SHADOW_PREDICTIONS[model], interval, stack)
                  if previous is not None else None)
        out = _StreamedPartition(lake, datasets.PREDICTIONS[model], interval, stack)
        for rows in batches:
            predictions = score_frame(model_spec, rows, loaded, version, interval)
            positives += int(predictions[PREDICTED].sum())
            out.write(predictions)
            if shadow is not None and previous is not None:
                shadow.write(score_frame(model_spec, rows, shadow_model, previous, interval))
    if previous is None:  # no predecessor: no shadow scores for this interval
        ds = datasets.SHADOW_PREDICTIONS[model]
        for f in lake.ls(table_path(ds.zone, ds.dataset, partition_dir(interval))):
            lake.delete(f.path)
    return {"model": model, "interval": interval, "version": version.version,
            "run_id": version.run_id, "threshold": version.threshold,
            "rows": out.rows, "predicted_positive": positives, "path": out.path,
            "shadow_version": previous.version if previous is not None else None}


def previous_version(model: str, current: Champion, settings: Settings, *,
                     tracking_uri: str | None = None) -> Champion | None:
    """The champion before ``current`` (its ``gate.previous_champion`` tag), if any."""
    from mlflow import MlflowClient

    uri = _tracking_uri(settings, tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    tags = client.get_model_version(model, current.version).tags or {}
    previous = tags.get("gate.previous_champion")
    if not previous:
        return None
    mv = client.get_model_version(model, previous)
    tag = (mv.tags or {}).get("threshold")
    return Champion(model, str(mv.version), str(mv.run_id or ""),
                    float(tag) if tag else DEFAULT_THRESHOLD)


def review_champion(model: str, interval: str, settings: Settings, *,
                    tracking_uri: str | None = None, dag_run: str | None = None
                    ) -> dict[str, Any]:
    """Roll the champion back when its realised quality falls under its predecessor's on
    the same rows: the rows both scored (the champion's predictions and the predecessor's
    shadow scores) whose labels are known now, up to ``interval``. Returns the gate's
    rollback decision, or ``kept`` with the reason nothing could be compared."""
    from lakeops.ml import gate

    model_spec = spec(model)
    lake = Lake.from_settings(settings)
    current = champion(model, settings, tracking_uri=tracking_uri)
    previous = previous_version(model, current, settings, tracking_uri=tracking_uri)
    kept = {"model": model, "decision": "kept", "champion": current.version}
    if previous is None:
        return {**kept, "reasons": [f"v{current.version} has no predecessor"]}
    keys = list(model_spec.keys)
    scored = _all_predictions(lake, model, interval)
    if not len(scored):
        return {**kept, "reasons": ["no predictions yet"]}
    mine = scored[scored["model_version"] == current.version]
    theirs = scored[scored["model_version"] == previous.version]
    both = _with_labels(model_spec, lake, mine.merge(theirs, on=keys, suffixes=("", "_prev")))
    if both["_y"].nunique() < 2:
        return {**kept, "reasons": [f"{len(both)} rows scored by both v{current.version} "
                                    f"and v{previous.version} have known labels, not yet of "
                                    "both classes: nothing to compare"]}
    now = realised_metrics(both["_y"], both[PROBABILITY], both[PREDICTED])
    before = realised_metrics(both["_y"], both[f"{PROBABILITY}_prev"],
                              both[f"{PREDICTED}_prev"])
    window = f"{both['interval'].min()}..{both['interval'].max()} ({len(both)} rows)"
    return gate.rollback_if_worse(model, window, now, before, settings, interval=interval,
                                  dag_run=dag_run)


def _with_labels(model_spec: ModelSpec, lake: Lake, predictions: pd.DataFrame
                 ) -> pd.DataFrame:
    """``predictions`` joined to the labels the features mart knows now (column ``_y``)."""
    mart = read_mart(lake, model_spec.features_mart)
    labels = mart[list(model_spec.keys)].assign(_y=target(model_spec, mart))
    labels = labels[labels["_y"].notna()]
    keys = list(model_spec.keys)
    predictions = predictions.copy()
    for key in keys:  # Parquet round trips keep types; align them to the mart's anyway
        predictions[key] = predictions[key].astype(labels[key].dtype)
    return predictions.merge(labels, on=keys, how="inner")


def read_predictions(lake: Lake, model: str, interval: str) -> pd.DataFrame:
    ds = datasets.PREDICTIONS[model]
    path = table_path(ds.zone, ds.dataset, partition_dir(interval), DATA_FILE)
    if not lake.exists(path):
        raise FileNotFoundError(f"no predictions of {model} for {interval} at "
                                f"{lake.uri(path)}: score the interval first")
    return lake.read_parquet(path).to_pandas()


# -- realised quality ------------------------------------------------------------------------

PERFORMANCE_COLUMNS = (
    ("model", "string"), ("model_version", "string"), ("run_id", "string"),
    ("interval", "string"), ("first_prediction_interval", "string"),
    ("last_prediction_interval", "string"), ("rows", "int64"), ("positives", "int64"),
    ("predicted_positives", "int64"), ("roc_auc", "float64"), ("precision", "float64"),
    ("recall", "float64"), ("f1", "float64"), ("accuracy", "float64"),
)


def realised_metrics(y: Any, proba: Any, predicted: Any) -> dict[str, float]:
    """roc_auc (NaN unless both classes occur), precision, recall, f1, accuracy."""
    import numpy as np
    from sklearn import metrics as m

    y_arr = np.asarray(y, dtype="int64")
    pred = np.asarray(predicted, dtype="int64")
    both = len(np.unique(y_arr)) == 2
    return {
        "roc_auc": float(m.roc_auc_score(y_arr, np.asarray(proba, dtype="float64")))
        if both else float("nan"),
        "precision": float(m.precision_score(y_arr, pred, zero_division=0)),
        "recall": float(m.recall_score(y_arr, pred, zero_division=0)),
        "f1": float(m.f1_score(y_arr, pred, zero_division=0)),
        "accuracy": float(m.accuracy_score(y_arr, pred)) if len(y_arr) else float("nan"),
    }


def _all_predictions(lake: Lake, model: str, upto: str) -> pd.DataFrame:
    """The champion's predictions up to ``upto`` and its predecessor's shadow scores of the
    same rows (``model_version`` tells them apart)."""
    import pandas as pd

    frames = []
    for ds in (datasets.PREDICTIONS[model], datasets.SHADOW_PREDICTIONS[model]):
        for key in lake.partitions(ds.zone, ds.dataset):
            if key <= upto:
                path = table_path(ds.zone, ds.dataset, partition_dir(key), DATA_FILE)
                frames.append(lake.read_parquet(path).to_pandas())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def realised(model: str, interval: str, settings: Settings) -> dict[str, Any]:
    """Realised quality of the predictions made up to ``interval`` whose labels are known
    now (from the features mart), one row per model version, replacing
    ``monitoring/model_performance/<model>/dt=<interval>/part-0.parquet``."""
    import pandas as pd
    import pyarrow as pa

    model_spec = spec(model)
    lake = Lake.from_settings(settings)
    predictions = _all_predictions(lake, model, interval)
    rows: list[dict[str, Any]] = []
    if len(predictions):
        joined = _with_labels(model_spec, lake, predictions)
        for version, group in joined.groupby("model_version", sort=True):
            rows.append({
                "model": model, "model_version": str(version),
                "run_id": str(group["run_id"].iloc[0]), "interval": interval,
                "first_prediction_interval": str(group["interval"].min()),
                "last_prediction_interval": str(group["interval"].max()),
                "rows": len(group), "positives": int(group["_y"].sum()),
                "predicted_positives": int(group[PREDICTED].sum()),
                **realised_metrics(group["_y"], group[PROBABILITY], group[PREDICTED]),
            })
    schema = pa.schema([(name, pa.string() if kind == "string" else pa.from_numpy_dtype(kind))
                        for name, kind in PERFORMANCE_COLUMNS])
    frame = pd.DataFrame(rows, columns=[name for name, _ in PERFORMANCE_COLUMNS])
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    ds = datasets.PERFORMANCE[model]
    path = lake.write_partition(ds.zone, ds.dataset, interval, table)
    return {"model": model, "interval": interval, "path": path,
            "versions": {r["model_version"]: {k: r[k] for k in
                                              ("rows", "roc_auc", "precision", "recall",
                                               "f1", "accuracy")} for r in rows},
            "rows": int(sum(r["rows"] for r in rows))}
