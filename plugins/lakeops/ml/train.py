"""Training: a model's training mart -> a registered MLflow model version, alias
``challenger``, with its frozen holdout and training reference in the lake.

:func:`train` is the stage function (DAG task, ``lakeops train``, tests):

1. read the training mart (``marts/<spec.training_mart>/*.parquet``);
2. split by time on ``spec.time_column``: the latest ``ml_holdout_fraction`` of the
   distinct time values is the holdout, everything earlier trains (never a random split);
3. a small hyper-parameter search (the first ``ml_search_size`` combinations of
   :data:`SEARCH_SPACE`) scored on ``spec.primary_metric`` over ``ml_cv_folds``
   time-ordered folds of the training part (each fold trains on earlier times only);
4. refit the best combination on the whole training part; holdout metrics and plots;
5. log it all to MLflow (experiment = the model's name), register the version, set alias
   ``challenger``; write the holdout and a training reference sample to the lake
   (:mod:`lakeops.ml.data` names the paths).

The estimator: a scikit-learn :class:`~sklearn.pipeline.Pipeline` of a
``ColumnTransformer`` (numeric: median impute + scale; categorical: one-hot, unknown
categories ignored) and a ``HistGradientBoostingClassifier`` with balanced class weights
and monotonic constraints making every ``spec.engagement`` feature non-increasing for the
predicted class's probability — the gate's direction test holds by construction.

Heavy libraries are imported inside functions: DAG files import this module at parse time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeops.core.settings import Settings, repo_root
from lakeops.ml import data
from lakeops.ml.evaluate import LOWER_IS_BETTER, classification_metrics, positive_proba
from lakeops.ml.specs import ModelSpec, matrix
from lakeops.ml.specs import spec as get_spec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
MODEL_ARTIFACT = "model"
# MLflow saves scikit-learn models with skops (no pickle); these types of our pipeline are
# ones we create ourselves, so loading them back is trusted
SKOPS_TRUSTED_TYPES = ["numpy.dtype",
                       "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]

# tried in this order; ml_search_size takes the first N
SEARCH_SPACE: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.1, "max_leaf_nodes": 15, "max_iter": 100, "l2_regularization": 0.0},
    {"learning_rate": 0.1, "max_leaf_nodes": 7, "max_iter": 100, "l2_regularization": 1.0},
    {"learning_rate": 0.05, "max_leaf_nodes": 15, "max_iter": 200, "l2_regularization": 1.0},
    {"learning_rate": 0.1, "max_leaf_nodes": 31, "max_iter": 150, "l2_regularization": 3.0},
    {"learning_rate": 0.2, "max_leaf_nodes": 7, "max_iter": 60, "l2_regularization": 0.0},
    {"learning_rate": 0.05, "max_leaf_nodes": 31, "max_iter": 300, "l2_regularization": 3.0},
)


# -- data -------------------------------------------------------------------------------


def labelled_rows(spec: ModelSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with a known label and time, sorted by time (stable)."""
    missing = [c for c in (spec.label, spec.time_column, *spec.features) if c not in rows]
    if missing:
        raise KeyError(f"{spec.name}: the training rows lack column(s) {', '.join(missing)}")
    known = rows[rows[spec.label].notna() & rows[spec.time_column].notna()]
    return known.sort_values(spec.time_column, kind="stable").reset_index(drop=True)


class NotEnoughData(ValueError):
    """The training mart cannot train a model yet (missing, too few days or one class)."""


def split_by_time(rows: pd.DataFrame, time_column: str, holdout_fraction: float
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training, holdout): the holdout holds the rows of the latest ``holdout_fraction``
    of the distinct time values (at least one value, never all), training every earlier
    row, so no training row is later than any holdout row."""
    times = sorted(rows[time_column].dropna().unique())
    if len(times) < 2:
        raise ValueError(f"a time split needs at least 2 distinct {time_column} values, "
                         f"got {len(times)}")
    n_hold = min(max(1, round(len(times) * holdout_fraction)), len(times) - 1)
    cutoff = times[-n_hold]
    return rows[rows[time_column] < cutoff], rows[rows[time_column] >= cutoff]


def time_folds(times: pd.Series | Any, n_splits: int
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Time-ordered CV folds as (train, validation) row positions: the distinct time values
    cut into ``n_splits + 1`` consecutive blocks; fold ``i`` trains on blocks ``< i`` and
    validates on block ``i``, so a fold never trains on a time later than it validates."""
    import numpy as np
    import pandas as pd

    values = pd.Series(times).to_numpy()
    distinct = np.array(sorted(pd.unique(values)))
    n_splits = min(n_splits, len(distinct) - 1)
    if n_splits < 1:
        raise ValueError("time-ordered folds need at least 2 distinct time values")
    blocks = np.array_split(distinct, n_splits + 1)
    folds = []
    for i in range(1, n_splits + 1):
        train_times = np.concatenate(blocks[:i])
        train = np.flatnonzero(np.isin(values, train_times))
        val = np.flatnonzero(np.isin(values, blocks[i]))
        folds.append((train, val))
    return folds


# -- the estimator ----------------------------------------------------------------------


def build_pipeline(spec: ModelSpec, params: dict[str, Any], seed: int) -> Pipeline:
    """Preprocessing + classifier for ``spec`` (input: :func:`~lakeops.ml.specs.matrix`)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([
        # keep_empty_features: a column empty in training stays (imputed), so the
        # transformed columns -- and the monotonic constraints by name -- never shift
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
    ])
    categorical = OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                min_frequency=5, dtype="float64")
    preprocess = ColumnTransformer(
        [("num", numeric, list(spec.numeric)), ("cat", categorical, list(spec.categorical))],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    # -1: the predicted class's probability is non-increasing in this feature (scaling
    # and median imputation keep the order of a feature's values)
    constraints = {col: -1 for col in spec.engagement}
    classifier = HistGradientBoostingClassifier(
        class_weight="balanced", monotonic_cst=constraints, early_stopping=False,
        random_state=seed, **params)
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def search(spec: ModelSpec, x: pd.DataFrame, y: pd.Series, times: pd.Series,
           settings: Settings) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The best of the first ``ml_search_size`` combinations of :data:`SEARCH_SPACE` by mean
    ``spec.primary_metric`` over time-ordered folds; returns (best params, every result)."""
    import numpy as np

    metric = spec.primary_metric
    folds = time_folds(times, settings.ml_cv_folds)
    results: list[dict[str, Any]] = []
    for params in SEARCH_SPACE[: settings.ml_search_size]:
        scores = []
        for train_idx, val_idx in folds:
            if y.iloc[train_idx].nunique() < 2:
                continue
            pipe = build_pipeline(spec, params, settings.ml_seed)
            pipe.fit(x.iloc[train_idx], y.iloc[train_idx])
            proba = positive_proba(pipe)(x.iloc[val_idx])
            score = classification_metrics(y.iloc[val_idx], proba,
                                           settings.ml_threshold)[metric]
            if not np.isnan(score):
                scores.append(score)
        mean = float(np.mean(scores)) if scores else float("nan")
        results.append({"params": params, "folds": len(scores), metric: mean})
    scored = [r for r in results if not np.isnan(r[metric])] or results[:1]
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    best = max(scored, key=lambda r: sign * r[metric] if not np.isnan(r[metric]) else 0.0)
    return dict(best["params"]), results


# -- MLflow helpers ---------------------------------------------------------------------


def git_commit(root: Path | None = None) -> str | None:
    """The checkout's commit, read from ``.git`` (no git process); None if unknown."""
    git = (root or repo_root()) / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        common = git / "commondir"
        bases = [git] + ([(git / common.read_text().strip()).resolve()]
                         if common.exists() else [])
        for base in bases:
            if (base / ref).exists():
                return (base / ref).read_text().strip()
            packed = base / "packed-refs"
            if packed.exists():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
    except (OSError, IndexError):
        return None
    return None


def mlflow_client(settings: Settings) -> Any:
    """An ``MlflowClient`` on the platform's server (tracking and registry)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_url, registry_uri=settings.mlflow_url)


def _requirements() -> list[str]:
    """The model's pip requirements, pinned to what trained it (stated, so MLflow need
    not load the model in a subprocess to infer them)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for dist in ("scikit-learn", "skops", "numpy", "pandas", "scipy", "mlflow"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return pins


def _log_plots(y: Any, proba: Any, threshold: float) -> None:
    import mlflow
    from matplotlib.figure import Figure
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        PrecisionRecallDisplay,
        RocCurveDisplay,
    )

    if len(set(y)) < 2:
        log.warning("holdout has one class only: no ROC/PR/calibration plots")
        return
    pred = (proba >= threshold).astype(int)
    plots = {
        "roc": lambda ax: RocCurveDisplay.from_predictions(y, proba, ax=ax),
        "precision_recall": lambda ax: PrecisionRecallDisplay.from_predictions(y, proba, ax=ax),
        "calibration": lambda ax: CalibrationDisplay.from_predictions(y, proba, n_bins=10,
                                                                      ax=ax),
        "confusion_matrix": lambda ax: ConfusionMatrixDisplay.from_predictions(y, pred, ax=ax),
    }
    for name, draw in plots.items():
        fig = Figure(figsize=(5, 4))  # no pyplot: no GUI backend, no global state
        ax = fig.subplots()
        draw(ax)
        ax.set_title(f"{name.replace('_', ' ')} (holdout)")
        fig.tight_layout()
        mlflow.log_figure(fig, f"plots/{name}.png")


def _log_dataset(frame: pd.DataFrame, spec: ModelSpec, *, uri: str, name: str,
                 context: str, sha256: str | None) -> None:
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    # MLflow's schema inference reads plain dtypes: dates and the like become strings
    logged = frame.copy()
    for col in logged.columns:
        if logged[col].dtype == object and not logged[col].map(
                lambda v: v is None or isinstance(v, str)).all():
            logged[col] = logged[col].astype("string")
    dataset = from_pandas(logged, source=uri, name=name, targets=spec.label)
    tags = {"lake_uri": uri, **({"sha256": sha256} if sha256 else {})}
    mlflow.log_input(dataset, context=context, tags=tags)


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed).sort_index()


# -- the stage --------------------------------------------------------------------------


def train(model: str, interval: str, settings: Settings, *, dag_run: str | None = None
          ) -> dict[str, Any]:
    """Train ``model`` on its training mart, log and register the version, set alias
    ``challenger``, write its holdout and reference; returns what was done (version,
    run id, holdout metrics, lake paths)."""
    from threadpoolctl import threadpool_limits

    from lakeops.storage.lake import Lake

    spec = get_spec(model)
    lake = Lake.from_settings(settings)
    try:
        rows = labelled_rows(spec, data.read_mart(lake, spec.training_mart))
    except FileNotFoundError as exc:
        raise NotEnoughData(f"{model}: nothing to train on yet ({exc})") from None
    days = rows[spec.time_column].nunique()
    if days < 2 or rows[spec.label].nunique() < 2:
        raise NotEnoughData(
            f"{model}: {spec.training_mart} holds {len(rows)} labelled rows over {days} "
            f"{spec.time_column} value(s) and {rows[spec.label].nunique()} class(es); "
            "training needs two of each (labels arrive as outcomes become known)")
    train_rows, holdout_rows = split_by_time(rows, spec.time_column,
                                             settings.ml_holdout_fraction)
    x_train, y_train = matrix(spec, train_rows)
    x_hold, y_hold = matrix(spec, holdout_rows)
    assert y_train is not None and y_hold is not None  # labelled_rows kept labelled rows
    if y_train.nunique() < 2:
        raise ValueError(f"{model}: the training part has one class only")
    # one OpenMP thread: the boosting's threads busy-wait, so on a small machine shared
    # with other tasks (2 cores, Airflow running up to 4) more threads fit slower
    with threadpool_limits(limits=1, user_api="openmp"):
        best, tried = search(spec, x_train, y_train, train_rows[spec.time_column], settings)
        pipeline = build_pipeline(spec, best, settings.ml_seed).fit(x_train, y_train)
        proba = positive_proba(pipeline)(x_hold)
    metrics = classification_metrics(y_hold, proba, settings.ml_threshold)
    log.info("%s: holdout %s", model, metrics)
    return _log_and_register(
        spec, settings, lake, interval=interval, dag_run=dag_run, pipeline=pipeline,
        frames={"training": train_rows, "holdout": holdout_rows},
        x_train=x_train, best=best, tried=tried, metrics=metrics, proba=proba,
        y_hold=y_hold)


def _run_params(spec: ModelSpec, settings: Settings, interval: str,
                frames: dict[str, pd.DataFrame], best: dict[str, Any]) -> dict[str, Any]:
    train_rows, holdout_rows = frames["training"], frames["holdout"]
    return {
        "model": spec.name, "interval": interval, "estimator": "HistGradientBoostingClassifier",
        "class_weight": "balanced", "monotonic_decreasing": ",".join(spec.engagement),
        "rows_training": len(train_rows), "rows_holdout": len(holdout_rows),
        "positives_training": int(matrix(spec, train_rows)[1].sum()),  # type: ignore[union-attr]
        "time_column": spec.time_column,
        "training_time_max": str(train_rows[spec.time_column].max()),
        "holdout_time_min": str(holdout_rows[spec.time_column].min()),
        "holdout_time_max": str(holdout_rows[spec.time_column].max()),
        "holdout_fraction": settings.ml_holdout_fraction, "cv_folds": settings.ml_cv_folds,
        "search_size": settings.ml_search_size, "seed": settings.ml_seed,
        "threshold": settings.ml_threshold, "primary_metric": spec.primary_metric,
        **{f"best_{k}": v for k, v in best.items()},
    }


def _log_and_register(spec: ModelSpec, settings: Settings, lake: Any, *, interval: str,
                      dag_run: str | None, pipeline: Pipeline,
                      frames: dict[str, pd.DataFrame], x_train: pd.DataFrame,
                      best: dict[str, Any], tried: list[dict[str, Any]],
                      metrics: dict[str, float], proba: Any, y_hold: pd.Series
                      ) -> dict[str, Any]:
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(settings.mlflow_url)
    mlflow.set_registry_uri(settings.mlflow_url)
    mlflow.set_experiment(spec.name)
    commit = git_commit()
    tags = {"lakeops.model": spec.name, "lakeops.interval": interval,
            "lakeops.dag_run": dag_run or "", "git_commit": commit or "unknown",
            **({"mlflow.source.git.commit": commit} if commit else {})}
    example = x_train.head(5)
    signature = infer_signature(example, pipeline.predict_proba(example))
    with mlflow.start_run(run_name=f"{spec.name} {interval}", tags=tags) as run:
        mlflow.log_params(_run_params(spec, settings, interval, frames, best))
        mlflow.log_dict({"search": tried, "chosen": best}, "search.json")
        info = mlflow.sklearn.log_model(
            pipeline, name=MODEL_ARTIFACT, registered_model_name=spec.name,
            signature=signature, input_example=example, pyfunc_predict_fn="predict_proba",
            await_registration_for=120, skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=_requirements())
        version = str(info.registered_model_version)
        mlflow.log_metrics({k: v for k, v in metrics.items()}, model_id=info.model_id)
        _log_plots(y_hold.to_numpy(), proba, settings.ml_threshold)
        paths = _write_frozen(spec, settings, lake, version, frames, pipeline)
        mart_file = data.mart_path(spec.training_mart)
        _log_dataset(frames["training"], spec, uri=lake.uri(mart_file),
                     name=f"{spec.training_mart}-training", context="training", sha256=None)
        _log_dataset(frames["holdout"], spec, uri=lake.uri(paths["holdout_path"]),
                     name=f"{spec.name}-holdout-v{version}", context="holdout",
                     sha256=lake.sha256(paths["holdout_path"]))
        run_id = run.info.run_id
    client = mlflow_client(settings)
    client.set_registered_model_alias(spec.name, CHALLENGER, version)
    # "threshold": where lakeops.ml.score turns the probability into the predicted class
    version_tags = {**tags, "run_id": run_id, "threshold": settings.ml_threshold, **paths,
                    **{f"holdout.{k}": f"{v:.6g}" for k, v in metrics.items()}}
    for key, value in version_tags.items():
        client.set_model_version_tag(spec.name, version, key, str(value))
    log.info("%s: registered version %s (run %s) as %s", spec.name, version, run_id,
             CHALLENGER)
    return {"model": spec.name, "version": version, "run_id": run_id,
            "model_uri": f"models:/{spec.name}/{version}", "interval": interval,
            "dag_run": dag_run, "metrics": metrics, "params": best,
            "rows_training": len(frames["training"]), "rows_holdout": len(frames["holdout"]),
            **paths}


def _write_frozen(spec: ModelSpec, settings: Settings, lake: Any, version: str,
                  frames: dict[str, pd.DataFrame], pipeline: Pipeline) -> dict[str, str]:
    """The version's holdout rows and training reference sample, in the lake."""
    keep = list(dict.fromkeys([*spec.keys, spec.time_column, *spec.features, spec.label]))
    holdout = frames["holdout"][[c for c in keep if c in frames["holdout"]]]
    reference = _sample(frames["training"], settings.ml_reference_rows, settings.ml_seed)
    reference = reference[[c for c in keep if c in reference]].copy()
    x_ref, _ = matrix(spec, reference)
    reference[data.PREDICTION_SCORE] = positive_proba(pipeline)(x_ref)
    return {
        "holdout_path": data.write_frame(lake, data.holdout_path(spec.name, version), holdout),
        "reference_path": data.write_frame(lake, data.reference_path(spec.name, version),
                                           reference),
    }

