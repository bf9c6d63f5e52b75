"""Where the model stages read and write their rows in the lake.

* training and scoring rows: the dbt marts, ``marts/<mart>/*.parquet`` (:func:`read_mart`,
  or :func:`read_mart_batches` for a selection too large to hold at once);
* the frozen **holdout** a version was judged on and its **training reference** sample
  (what drift is measured against), one folder per registered version::

      monitoring/model_holdouts/<model>/version=<v>/part-0.parquet     holdout_path()
      monitoring/model_references/<model>/version=<v>/part-0.parquet   reference_path()

  Both hold the mart's own columns for those rows (keys, time column, features, label), so
  :func:`lakeops.ml.specs.matrix` rebuilds the model's input from them; the reference also
  carries ``prediction_score``, the version's probability of the predicted class for
  each row (the reference for prediction drift);
* every promotion-gate and rollback decision (:mod:`lakeops.ml.gate`)::

      monitoring/model_decisions/dt=<interval>/<model>.v<version>.<action>.parquet

  one row per file, ``action`` being ``gate`` or ``rollback``: deciding again for the same
  interval, version and action replaces the file, so re-runs never duplicate a decision;
  :func:`read_decisions` (and the SQL endpoint, which reads ``dt=*/*.parquet``) sees them all.

Paths are relative to the lake root (``Lake.uri(path)`` gives an address for DuckDB or a
person). Nothing heavy is imported until a function runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lakeops.catalog import datasets
from lakeops.storage.lake import DATA_FILE, partition_dir

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from lakeops.storage.lake import Lake

PREDICTION_SCORE = "prediction_score"  # the reference's column of the version's scores


def mart_path(mart: str) -> str:
    """``marts/<mart>``: the folder of a mart's Parquet file(s)."""
    return datasets.mart(mart).path


def holdout_path(model: str, version: int | str) -> str:
    """The frozen holdout rows of one registered version of ``model``."""
    return f"{datasets.HOLDOUTS[model].path}/version={version}/{DATA_FILE}"


def reference_path(model: str, version: int | str) -> str:
    """The training reference sample (at most ``ml_reference_rows``) of one version."""
    return f"{datasets.REFERENCES[model].path}/version={version}/{DATA_FILE}"


def decision_path(model: str, version: int | str, action: str, interval: str) -> str:
    """One decision's file (``action``: ``gate`` | ``rollback``)."""
    safe = str(interval).replace("/", "_")
    return (f"{datasets.MODEL_DECISIONS.path}/{partition_dir(safe)}/"
            f"{model}.v{version}.{action}.parquet")


def _mart_scanner(lake: Lake, mart: str, columns: list[str] | None, where: Any,
                  batch_size: int | None = None) -> Any:
    """The one Parquet scan both :func:`read_mart` and :func:`read_mart_batches` consume,
    so reading a mart whole or in batches selects the same rows and columns: the
    ``columns`` (those present) of the rows matching ``where``, pushed down to the scan."""
    import pyarrow.dataset as pads

    files = [lake.full(f.path) for f in lake.ls(mart_path(mart)) if f.path.endswith(".parquet")]
    if not files:
        raise FileNotFoundError(f"mart {mart} has no Parquet file in "
                                f"{lake.uri(mart_path(mart))}: has dbt built it?")
    scan = pads.dataset(files, filesystem=lake.fs, format="parquet")
    present = [c for c in columns if c in scan.schema.names] if columns else None
    options: dict[str, Any] = {} if batch_size is None else {
        # one row group decoded at a time: a threaded scan decodes several ahead (row
        # groups of 1M rows: +1 GB at 10M rows) and barely gains time, since the consumer
        # (predict_proba) keeps the cores busy anyway
        "batch_size": batch_size, "use_threads": False, "batch_readahead": 0,
        "fragment_readahead": 1}
    return scan.scanner(columns=present, filter=where, **options)


def read_mart(lake: Lake, mart: str, *, columns: list[str] | None = None,
              where: Any = None) -> pd.DataFrame:
    """Rows of a dbt mart as a DataFrame: all, or the ``columns`` (those present) of the
    rows matching the pyarrow expression ``where``, pushed down to the Parquet scan so an
    interval's rows are read without the rest of the mart."""
    return _mart_scanner(lake, mart, columns, where).to_table().to_pandas()


def read_mart_batches(lake: Lake, mart: str, *, batch_size: int,
                      columns: list[str] | None = None, where: Any = None
                      ) -> Iterator[pd.DataFrame]:
    """:func:`read_mart`'s rows, in order, as DataFrames of ``batch_size`` rows (the last
    one shorter), so a consumer holds one batch at a time instead of the whole selection.

    The scan's own batches end at row-group boundaries and shrink under a selective
    ``where``; they are regrouped to ``batch_size`` so per-batch work (a model's
    ``predict_proba``) keeps its size. When no row matches, one empty frame is yielded:
    the consumer still sees the columns and their types."""
    import pyarrow as pa

    scanner = _mart_scanner(lake, mart, columns, where, batch_size)
    schema = scanner.projected_schema
    pending: list[pa.RecordBatch] = []
    count = yielded = 0
    for batch in scanner.to_batches():
        if not batch.num_rows:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= batch_size:
            table = pa.Table.from_batches(pending, schema)
            yield table.slice(0, batch_size).to_pandas()
            yielded += 1
            rest = table.slice(batch_size)
            pending, count = rest.to_batches(), rest.num_rows
    if count or not yielded:
        yield pa.Table.from_batches(pending, schema).to_pandas()


def write_frame(lake: Lake, path: str, frame: pd.DataFrame) -> str:
    """Write ``frame`` as one Parquet file atomically (replacing it); returns its path."""
    import pyarrow as pa

    lake.write_table(path, pa.Table.from_pandas(frame, preserve_index=False))
    return path


def read_frame(lake: Lake, path: str) -> pd.DataFrame:
    return lake.read_parquet(path).to_pandas()


def read_holdout(lake: Lake, model: str, version: int | str) -> pd.DataFrame:
    return read_frame(lake, holdout_path(model, version))


def read_reference(lake: Lake, model: str, version: int | str) -> pd.DataFrame:
    return read_frame(lake, reference_path(model, version))


DECISION_TYPES = {"holdout_version": "string", "value": "float64",
                  "incumbent_value": "float64", "incumbent": "string", "window": "string"}


def decision_schema(row: dict[str, Any]) -> pa.Schema:
    """One schema for every decision file: a column that is null in this decision (no
    champion before the first) still has the type the others give it, so the files of
    ``monitoring/model_decisions`` read as one table (a null-typed column breaks a
    multi-file scan)."""
    import pyarrow as pa

    types = {"float64": pa.float64(), "string": pa.string()}
    return pa.schema([(k, types[DECISION_TYPES.get(k, "string")]) for k in row])


def write_decision(lake: Lake, row: dict[str, Any]) -> str:
    """Write one decision row (keys ``model``, ``version``, ``action``, ``interval``...)."""
    import pyarrow as pa

    path = decision_path(row["model"], row["version"], row["action"], row["interval"])
    schema = decision_schema(row)
    values = {k: (None if v is None else float(v) if schema.field(k).type == pa.float64()
                  else str(v)) for k, v in row.items()}
    lake.write_table(path, pa.Table.from_pylist([values], schema=schema))
    return path


def read_decisions(lake: Lake, model: str | None = None) -> pd.DataFrame:
    """Every recorded decision (of one model when given), oldest first; empty when none."""
    import pandas as pd
    import pyarrow as pa

    files = [f.path for f in lake.ls(datasets.MODEL_DECISIONS.path, recursive=True)
             if f.path.endswith(".parquet") and "/_" not in f.path
             and (model is None or f.path.rsplit("/", 1)[-1].startswith(f"{model}.v"))]
    if not files:
        return pd.DataFrame()
    table = pa.concat_tables([lake.read_parquet(p) for p in files],
                             promote_options="permissive")
    frame = table.to_pandas()
    if model is not None:
        frame = frame[frame["model"] == model]
    return frame.sort_values("decided_at", kind="stable").reset_index(drop=True)
