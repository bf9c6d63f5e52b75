"""The model stages at scale: training, scoring 10M rows and drift, each against a floor.

The data (``student_at_risk``; laid down straight from :mod:`lakeops.ml.synthetic`, no
Airflow, no dbt, kept between runs under ``--work``): OULAD's size is ~32.6k students x
38 weekly prediction days = 1,238,534 feature rows.

* the training mart (``marts/ml_education_training``): a documented subset,
  ``TRAIN_STUDENTS`` = 1/8 of OULAD's students x 38 weeks (154,812 rows; 122,220 train
  after the time split). One fit of the pipeline on the full 1.24M rows took ~200 s on
  this 2-core machine (one OpenMP thread, as the task runs it; a probe with another test
  run beside it), and the task fits 4 combinations x 3 time folds + a refit (~9x one
  fit), i.e. 15-30 minutes per contender at full size: too long for ``make bench``; the
  ratios are what the benchmark is for;
* the features mart (``marts/ml_education_features``): 10M rows on one prediction day,
  and the education feature partition of ``INTERVAL`` naming that day, so
  :func:`lakeops.ml.score.scoring_rows` picks all 10M for the interval;
* the drift current frame: the full-scale feature table (32,593 students x 38 weeks,
  1,238,534 rows, another seed, ``clicks_week`` shifted by +30 % so some drift is found),
  scored once by the trained version (not timed). The reference is that version's
  training reference (at most ``ml_reference_rows`` = 50k rows) as training wrote it.

Contenders, each in a fresh process (:func:`benchmarks.harness.measure`; peak RSS from
``wait4``); an MLflow server (``lakeops up`` with only ``mlflow``) runs on a free port:

1. training, rows = training-part rows:

   * ``fit, in-process`` - the floor: ``train.build_pipeline`` with the params the task
     chose, one ``fit`` on the same training matrix (one OpenMP thread, as the task);
   * ``search + refit, in-process`` - ``train.search`` (the ``ml_search_size`` x
     ``ml_cv_folds`` time-fold fits) and the refit, no I/O, no MLflow: the task's
     computation, a second reference;
   * ``train.train (the task)`` - end to end: read the mart, split, search, refit,
     holdout metrics, MLflow run (params, model with skops, plots, datasets),
     registration, alias ``challenger``, holdout and reference written to the lake.

   Target: task <= 1.3x the floor. The search makes that impossible by design (it fits
   12 models on 1/4..3/4 of the rows, then the refit): also reported are the floor x the
   number of fits, and the task against the measured search + refit (the true overhead).

2. scoring ``SCORE_ROWS`` = 10M rows (the trained version gets alias ``champion``):

   * ``predict_proba, in-memory`` - the floor: the registered model loaded and the matrix
     built beforehand (only the mart's feature columns read), then ``predict_proba``;
   * ``score.score (the task)`` - registry lookup, model load, then the interval's rows
     streamed from the mart in batches of ``score.SCORE_BATCH`` (read, pick the
     interval's rows, :func:`~lakeops.ml.specs.matrix`, ``predict_proba``, append to the
     staged ``predictions/<model>/dt=<interval>`` file, published at the end).

   Target: the task >= 1M rows/s. Rows/s and peak MB of both.

3. drift on the full-scale feature table (1.24M current rows vs the 50k reference):

   * ``numpy/scipy, full`` - the floor: per column the test Evidently's defaults choose
     for a reference over 1000 rows (numbers with > 5 distinct values: Wasserstein
     distance normed by the reference's std; categories and few-valued numbers:
     Jensen-Shannon distance over value shares, or over a Sturges histogram of both sides
     for numbers with > 20 distinct reference values), the same for the prediction, and PSI
     per feature and of the prediction (:func:`lakeops.ml.drift.psi`'s definition);
   * ``Evidently (monitor.compare), full`` - the computation :func:`lakeops.ml.monitor.monitor`
     runs on the two frames: the Evidently ``Report`` (``DataDriftPreset`` + ``ValueDrift``
     of the prediction + ``DataSummaryPreset``), PSI, the headline and per-feature rows;
   * both again on a seeded uniform sample of ``DRIFT_SAMPLE`` rows per side (Evidently's
     advice for large data; the 50k reference is smaller, so it is kept whole).

   Target: peak memory < 4 GB. Both paths must find the same drift scores.

Another engineer's test run may share the 2 cores: the figures say whether one did.
``python -m benchmarks.ml_bench run <work> <results> [train] [score] [drift]`` runs some
parts only (scoring and drift reuse the version an earlier run in ``<work>`` trained), their
results saved in the folder ``<results>``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import Measurement, measure, report, timed
from lakeops.services.ports import free_port

MODEL = "student_at_risk"
INTERVAL = "2024-10-01"  # the interval scored (its feature partition names SCORE_DAY)
OULAD_STUDENTS = 32_593
WEEKS = 38  # weekly prediction days of a presentation
TRAIN_STUDENTS = OULAD_STUDENTS // 8  # see the docstring: one full-size fit takes ~200 s
SCORE_ROWS = 10_000_000
SCORE_DAY = 259  # the prediction day of every scoring row (the last weekly day)
DRIFT_SAMPLE = 100_000
SHIFTED = "clicks_week"  # drifted in the current frame: x 1.3
SEED = 7
MARKER = "prepared.json"
MOD = "benchmarks.ml_bench"


def _settings(work: Path | str, port: int | str = 5000):  # type: ignore[no-untyped-def]
    from lakeops.core.settings import Settings

    return Settings(home=Path(work), mlflow_port=int(port))


def _spec():  # type: ignore[no-untyped-def]
    from lakeops.ml.specs import spec

    return spec(MODEL)


# -- the data ----------------------------------------------------------------------------


def _write(path: Path, frame: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   compression="zstd")


def _feature_rows(students: int, weeks: int, seed: int) -> Any:
    """Feature-mart rows: synthetic training rows with the label unknown."""
    from lakeops.ml import synthetic

    spec = _spec()
    rows = synthetic.training_rows(spec, entities=students, times=weeks, seed=seed)
    rows[spec.label] = None
    return rows.astype({spec.label: "boolean"})


SIZES = {"training": TRAIN_STUDENTS * WEEKS, "scoring": SCORE_ROWS,
         "drift_current": OULAD_STUDENTS * WEEKS}


def _in_child(kind: str, *args: str) -> None:
    """Untimed set-up in its own process: the benchmark's process stays small, so the
    contenders it spawns start small too (a child's ``ru_maxrss`` counts the memory of the
    process it was spawned from: Python spawns with ``vfork``)."""
    subprocess.run([sys.executable, "-m", MOD, kind, *args], check=True)


def prepare(work: Path) -> None:
    """Training mart, 10M-row features mart (+ feature partition), drift current frame."""
    import pandas as pd

    from lakeops.catalog.datasets import FEATURES
    from lakeops.ml import data, synthetic
    from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path

    marker = work / MARKER
    wanted = {**SIZES, "seed": SEED, "score_day": SCORE_DAY}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    spec = _spec()
    lake = Lake.from_settings(_settings(work))
    training = synthetic.training_rows(spec, entities=TRAIN_STUDENTS, times=WEEKS, seed=SEED)
    _write(lake.local_path(f"{data.mart_path(spec.training_mart)}/part-0.parquet"), training)
    del training
    scoring = _feature_rows(SCORE_ROWS, 1, SEED + 1)
    scoring[spec.time_column] = SCORE_DAY
    _write(lake.local_path(f"{data.mart_path(spec.features_mart)}/part-0.parquet"), scoring)
    days = scoring[["code_module", "code_presentation"]].drop_duplicates() \
        .assign(as_of_day=SCORE_DAY)
    del scoring
    ds = FEATURES["education"]
    _write(lake.local_path(table_path(ds.zone, ds.dataset, partition_dir(INTERVAL),
                                      DATA_FILE)), pd.DataFrame(days))
    current = _feature_rows(OULAD_STUDENTS, WEEKS, SEED + 2)
    current[SHIFTED] = (current[SHIFTED] * 1.3).round(1)
    _write(work / "drift-current-rows.parquet", current)
    marker.write_text(json.dumps(wanted))


# -- training (child side) ---------------------------------------------------------------


def _training_matrix(work: str) -> tuple[Any, Any, Any]:
    """(x_train, y_train, time values) exactly as train.train builds them."""
    from lakeops.ml import data, train
    from lakeops.ml.specs import matrix
    from lakeops.storage.lake import Lake

    spec, settings = _spec(), _settings(work)
    rows = train.labelled_rows(spec, data.read_mart(Lake.from_settings(settings),
                                                    spec.training_mart))
    train_rows, _ = train.split_by_time(rows, spec.time_column, settings.ml_holdout_fraction)
    x, y = matrix(spec, train_rows)
    return x, y, train_rows[spec.time_column]


def _train_floor(work: str, params: str) -> None:
    from threadpoolctl import threadpool_limits

    from lakeops.ml import train

    x, y, _ = _training_matrix(work)
    settings = _settings(work)

    def fit() -> int:
        with threadpool_limits(limits=1, user_api="openmp"):
            train.build_pipeline(_spec(), json.loads(params), settings.ml_seed).fit(x, y)
        return len(x)

    timed(fit)


def _train_search(work: str) -> None:
    from threadpoolctl import threadpool_limits

    from lakeops.ml import train

    x, y, times = _training_matrix(work)
    settings = _settings(work)

    def search_and_refit() -> int:
        with threadpool_limits(limits=1, user_api="openmp"):
            best, _ = train.search(_spec(), x, y, times, settings)
            train.build_pipeline(_spec(), best, settings.ml_seed).fit(x, y)
        return len(x)

    timed(search_and_refit)


def _train_task(work: str, port: str) -> None:
    import mlflow  # noqa: F401  (imports are not the work measured)
    import mlflow.sklearn  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    from lakeops.ml import train

    def run() -> int:
        result = train.train(MODEL, INTERVAL, _settings(work, port), dag_run="bench")
        (Path(work) / "train-result.json").write_text(json.dumps(result, default=str))
        return int(result["rows_training"])

    timed(run)


# -- scoring (child side) ----------------------------------------------------------------


def _score_floor(work: str, port: str) -> None:
    import pyarrow.parquet as pq

    from lakeops.ml import data, score
    from lakeops.ml.specs import matrix
    from lakeops.storage.lake import Lake

    spec, settings = _spec(), _settings(work, port)
    model = score.load_model(score.champion(MODEL, settings), settings)
    path = Lake.from_settings(settings).local_path(
        f"{data.mart_path(spec.features_mart)}/part-0.parquet")
    x, _ = matrix(spec, pq.read_table(path, columns=list(spec.features)).to_pandas())

    def predict() -> int:
        return len(score.predict_proba(model, x))

    timed(predict)


def _score_task(work: str, port: str) -> None:
    import mlflow.sklearn  # noqa: F401  (imports are not the work measured)
    import pandas  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    from lakeops.ml import score

    timed(lambda: score.score(MODEL, INTERVAL, _settings(work, port))["rows"])


# -- drift -------------------------------------------------------------------------------


def score_drift_current(work: Path, port: int | str) -> None:
    """The current frame's probabilities by the trained version (not timed; once a run)."""
    import pandas as pd

    from lakeops.ml import score
    from lakeops.ml.specs import matrix

    spec, settings = _spec(), _settings(work, port)
    version = score.champion(MODEL, settings)
    model = score.load_model(version, settings)
    rows = pd.read_parquet(work / "drift-current-rows.parquet")
    x, _ = matrix(spec, rows.drop(columns=[spec.label]))
    rows[score.PROBABILITY] = score.predict_proba(model, x)
    rows["model_version"] = version.version
    rows["threshold"] = version.threshold
    _write(work / "drift-current.parquet", rows)


def _drift_frames(work: str, sample: int) -> tuple[Any, Any, str, float]:
    """(reference, current) as monitor builds them; sampled when ``sample`` > 0."""
    import pandas as pd

    from lakeops.ml import monitor, reports, score

    spec, settings = _spec(), _settings(work)
    rows = pd.read_parquet(Path(work) / "drift-current.parquet")
    version, threshold = str(rows["model_version"].iloc[0]), float(rows["threshold"].iloc[0])
    reference_rows = monitor.reference_frame(MODEL, version, settings)
    if sample:
        rows = rows if len(rows) <= sample else rows.sample(n=sample, random_state=SEED)
        reference_rows = reference_rows if len(reference_rows) <= sample \
            else reference_rows.sample(n=sample, random_state=SEED)
    reference = reports.evidently_frame(spec, reference_rows,
                                        reference_rows[reports.PREDICTION].to_numpy(),
                                        threshold)
    current = reports.evidently_frame(spec, rows, rows[score.PROBABILITY].to_numpy(),
                                      threshold)
    return reference, current, version, threshold


def _drift_scores_path(work: str, kind: str, sample: int) -> Path:
    return Path(work) / f"drift-scores-{kind}-{sample}.json"


def _drift_evidently(work: str, sample: str) -> None:
    import evidently.presets  # noqa: F401  (imports are not the work measured)

    from lakeops.ml import monitor

    reference, current, version, threshold = _drift_frames(work, int(sample))
    scores: dict[str, Any] = {}

    def run() -> int:
        result = monitor.compare(_spec(), reference, current, _settings(work),
                                 interval=INTERVAL, reference_version=version,
                                 model_version=version, threshold=threshold)
        scores.update({r["feature"]: [r["stattest"], r["drift_score"], r["psi"]]
                       for r in result.features})
        return len(current)

    timed(run)
    _drift_scores_path(work, "evidently", int(sample)).write_text(json.dumps(scores))


def drift_statistics(reference: Any, current: Any, numeric: list[str],
                     categorical: list[str]) -> dict[str, list[Any]]:
    """The floor: per column (stattest, score, PSI) with numpy/scipy, the tests chosen as
    Evidently's defaults choose them for a reference of more than 1000 rows."""
    import numpy as np
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    from lakeops.ml.drift import PSI_BINS, PSI_EPS

    def shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cats, codes = np.unique(np.concatenate([ref, cur]), return_inverse=True)
        r = np.bincount(codes[: len(ref)], minlength=len(cats)) / len(ref)
        c = np.bincount(codes[len(ref):], minlength=len(cats)) / len(cur)
        return r, c

    def psi_of(r: np.ndarray, c: np.ndarray) -> float:
        r, c = np.clip(r, PSI_EPS, None), np.clip(c, PSI_EPS, None)
        return float(np.sum((c - r) * np.log(c / r)))

    out: dict[str, list[Any]] = {}
    for col in numeric:
        ref = reference[col].to_numpy(dtype="float64")
        cur = current[col].to_numpy(dtype="float64")
        ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
        distinct = len(np.unique(np.concatenate([ref, cur])))
        if distinct > 5:
            test = "wasserstein"
            value = wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001)
        else:
            test = "jensenshannon"
            r, c = shares(ref, cur)
            value = float(jensenshannon(r, c))
        inner = np.unique(np.quantile(ref, np.linspace(0, 1, PSI_BINS + 1)))[1:-1]
        pr = np.bincount(np.searchsorted(inner, ref, side="right"),
                         minlength=len(inner) + 1) / len(ref)
        pc = np.bincount(np.searchsorted(inner, cur, side="right"),
                         minlength=len(inner) + 1) / len(cur)
        out[col] = [test, float(value), psi_of(pr, pc)]
    for col in categorical:
        ref = reference[col].to_numpy(dtype=str)
        cur = current[col].to_numpy(dtype=str)
        r, c = shares(ref, cur)
        out[col] = ["jensenshannon", float(jensenshannon(r, c)), psi_of(r, c)]
    return out


def _drift_floor(work: str, sample: str) -> None:
    import scipy.stats  # noqa: F401  (imports are not the work measured)

    from lakeops.ml import reports

    reference, current, _, _ = _drift_frames(work, int(sample))
    spec = _spec()
    scores: dict[str, Any] = {}

    def run() -> int:
        scores.update(drift_statistics(reference, current,
                                       [*spec.numeric, reports.PREDICTION],
                                       list(spec.categorical)))
        return len(current)

    timed(run)
    _drift_scores_path(work, "floor", int(sample)).write_text(json.dumps(scores))


def _same_scores(work: Path, sample: int) -> str:
    """How far the floor's drift scores and PSI are from Evidently's (and monitor's)."""
    ours = json.loads(_drift_scores_path(str(work), "floor", sample).read_text())
    theirs = json.loads(_drift_scores_path(str(work), "evidently", sample).read_text())
    diff_score = max(abs(ours[c][1] - theirs[c][1]) for c in ours)
    diff_psi = max(abs(ours[c][2] - theirs[c][2]) for c in ours)
    tests = sorted({f"{theirs[c][0]} ~ {ours[c][0]}" for c in ours})
    return (f"max |score diff| {diff_score:.2g}, max |PSI diff| {diff_psi:.2g}; "
            f"tests (Evidently ~ floor): {'; '.join(tests)}")


# -- the run -----------------------------------------------------------------------------


def child(kind: str, work: str, *rest: str) -> None:
    if kind == "run":  # the benchmark itself, some parts only: run <work> <results> [part ...]
        main(Path(work).absolute(), rest[1:] or PARTS, results_dir=Path(rest[0]).absolute())
        return None
    if kind == "prepare":
        return prepare(Path(work))
    if kind == "drift-prepare":
        return score_drift_current(Path(work), rest[0])
    import numpy  # noqa: F401  (imports are not the work measured)
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.pipeline  # noqa: F401

    fns: dict[str, Callable[..., None]] = {
        "train-floor": _train_floor, "train-search": _train_search, "train-task": _train_task,
        "score-floor": _score_floor, "score-task": _score_task,
        "drift-floor": _drift_floor, "drift-evidently": _drift_evidently}
    fns[kind](work, *rest)


def _others_running() -> set[str]:
    """The test files of pytest runs on the machine now (another engineer's tests)."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True,
                         check=False).stdout
    return {word for line in out.splitlines() if "-m pytest" in line
            and not line.startswith("timeout") for word in line.split()
            if word.startswith("tests")} or {"no pytest seen"}


PARTS = ("train", "score", "drift")


def _trained(work: Path) -> dict[str, Any]:
    """The version the training part registered (this run's or an earlier one's)."""
    path = work / "train-result.json"
    if not path.exists():
        raise SystemExit(f"no trained version in {work}: run the train part first")
    return dict(json.loads(path.read_text()))


def main(work: Path, parts: tuple[str, ...] | list[str] = PARTS, *,
         results_dir: Path) -> list[dict]:
    """Run the ``parts`` (all by default). Scoring and drift use the version the training
    part registered in ``work``, so after one full run either can be measured again alone
    (``python -m benchmarks.ml_bench run <work> <results> score``), e.g. after a change to
    scoring, without the long training part."""
    from lakeops import services

    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(sorted(unknown))}; parts are "
                         f"{', '.join(PARTS)}")
    work.mkdir(parents=True, exist_ok=True)
    _in_child("prepare", str(work))
    port = free_port()
    settings = _settings(work, port)
    busy = _others_running()
    results: list[dict] = []
    services.up(settings, services=["mlflow"], timeout=120)
    try:
        w, p = str(work), str(port)
        if "train" in parts:
            results.append(_bench_train(work, w, p, settings, busy, results_dir))
        if "score" in parts:
            results.append(_bench_score(work, w, p, settings, busy, results_dir))
        if "drift" in parts:
            _in_child("drift-prepare", w, p)
    finally:
        services.down(settings)
    if "drift" in parts:
        results.append(_bench_drift(work, w, busy, results_dir))
    return results


def _others(busy: set[str]) -> str:
    return ", ".join(sorted(busy)) + " (seen at the start and between the parts)"


def _bench_train(work: Path, w: str, p: str, settings: Any, busy: set[str],
                 results_dir: Path) -> dict:
    from lakeops.ml import train

    task = measure("train.train (the task)", MOD, "train-task", w, p)
    done = _trained(work)
    floor = measure("fit, in-process (floor)", MOD, "train-floor", w,
                    json.dumps(done["params"]))
    searched = measure("search + refit, in-process", MOD, "train-search", w)
    busy |= _others_running()
    fits = train.SEARCH_SPACE[: settings.ml_search_size]
    n_fits = len(fits) * settings.ml_cv_folds + 1
    return report(
        f"ml_train {MODEL}, {task.rows:,} training rows ({TRAIN_STUDENTS:,} students x "
        f"{WEEKS} weeks, 1/8 of OULAD)", [floor, searched, task], floor.name,
        {"task / one fit (target <= 1.3)": f"{task.seconds / floor.seconds:.2f}",
         f"task / (one fit x {n_fits} fits = {floor.seconds * n_fits:.0f} s)":
             f"{task.seconds / (floor.seconds * n_fits):.2f} (the fold fits use 1/4..3/4 "
             f"of the rows and other params, so fit x fits overstates the search)",
         "task / search + refit in-process (the overhead: I/O, MLflow, plots, registry)":
             f"{task.seconds / searched.seconds:.2f}",
         "chosen params": json.dumps(done["params"]),
         "holdout roc_auc": f"{done['metrics']['roc_auc']:.4f}",
         "other test runs on the machine": _others(busy)}, results_dir)


def _bench_score(work: Path, w: str, p: str, settings: Any, busy: set[str],
                 results_dir: Path) -> dict:
    from lakeops.ml import train

    train.mlflow_client(settings).set_registered_model_alias(MODEL, "champion",
                                                             _trained(work)["version"])
    s_floor = measure("predict_proba (floor)", MOD, "score-floor", w, p)
    s_task = measure("score.score (the task)", MOD, "score-task", w, p)
    busy |= _others_running()
    return report(
        f"ml_score {MODEL}, {s_task.rows:,} rows, one interval", [s_floor, s_task],
        s_floor.name,
        {"score.score rows/s (target >= 1M)": f"{s_task.rows_per_s:,.0f}",
         "predict_proba alone rows/s": f"{s_floor.rows_per_s:,.0f}",
         "score.score / predict_proba time": f"{s_task.seconds / s_floor.seconds:.2f}",
         "peak MB score.score / predict_proba":
             f"{s_task.peak_rss_mb:,.0f} / {s_floor.peak_rss_mb:,.0f}",
         "same rows": str(s_task.rows == s_floor.rows == SIZES["scoring"]),
         "other test runs on the machine": _others(busy)}, results_dir)


def _bench_drift(work: Path, w: str, busy: set[str], results_dir: Path) -> dict:
    drift: list[Measurement] = []
    for sample in (0, DRIFT_SAMPLE):
        label = "full" if not sample else f"{sample // 1000}k sample"
        drift.append(measure(f"numpy/scipy, {label}", MOD, "drift-floor", w, str(sample)))
        drift.append(measure(f"Evidently compare, {label}", MOD, "drift-evidently", w,
                             str(sample)))
    busy |= _others_running()
    full_floor, full_ev, smp_floor, smp_ev = drift
    return report(
        f"ml_drift {MODEL}, {full_ev.rows:,} current rows vs the training reference",
        drift, full_floor.name,
        {"Evidently / numpy-scipy time, full": f"{full_ev.seconds / full_floor.seconds:.1f}",
         f"Evidently / numpy-scipy time, {DRIFT_SAMPLE:,}-row sample":
             f"{smp_ev.seconds / smp_floor.seconds:.1f}",
         "Evidently peak MB, full / sample (limit 4096)":
             f"{full_ev.peak_rss_mb:,.0f} / {smp_ev.peak_rss_mb:,.0f}",
         "same statistics, full": _same_scores(work, 0),
         "same statistics, sample": _same_scores(work, DRIFT_SAMPLE),
         "other test runs on the machine": _others(busy)}, results_dir)


if __name__ == "__main__":
    child(*sys.argv[1:])
