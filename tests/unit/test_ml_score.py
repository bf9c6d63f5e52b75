"""Batch scoring's reading side, without a registry: the rows of an interval that are
scored, read whole and in batches (scoring with a real MLflow registry:
tests/data/test_ml_score.py)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from lakeops.core.settings import Settings
from lakeops.ml import score as sc
from lakeops.ml.specs import spec
from lakeops.storage.lake import Lake

INTERVAL = "2024-10-03"


def test_education_scores_the_prediction_days_of_the_intervals_feature_partition(
        settings: Settings) -> None:
    """The features partition of an interval names its as-of day per presentation; the
    mart's rows of those prediction days are the ones scored."""
    lake = Lake.from_settings(settings)
    features = pa.table({"code_module": ["AAA", "AAA", "BBB"],
                         "code_presentation": ["2024J"] * 3,
                         "id_student": pa.array([1, 2, 3], pa.int64()),
                         "as_of_day": pa.array([12, 12, 5], pa.int32())})
    lake.write_partition("features", "education/student_week", INTERVAL, features)
    mart = pd.DataFrame({
        "code_module": ["AAA", "AAA", "AAA", "BBB", "BBB", "CCC"],
        "code_presentation": ["2024J"] * 6,
        "student_id": pd.array([1, 2, 1, 3, 3, 9], dtype="int64"),
        "prediction_day": pd.array([12, 12, 11, 5, 12, 12], dtype="int32"),
    })
    lake.write_table("marts/ml_education_features/part-0.parquet",
                     pa.Table.from_pandas(mart, preserve_index=False))

    rows = sc.scoring_rows(spec("student_at_risk"), INTERVAL, lake)
    # one row at a time (most batches lose their row to the presentation filter): the same
    batches = list(sc.scoring_batches(spec("student_at_risk"), INTERVAL, lake, batch_size=1))
    assert [len(b) for b in batches] == [1, 1, 1]
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), rows)

    assert sorted(zip(rows["code_module"], rows["student_id"], rows["prediction_day"],
                      strict=True)) == [("AAA", 1, 12), ("AAA", 2, 12), ("BBB", 3, 5)]
    with pytest.raises(FileNotFoundError, match="no education features for 2024-10-04"):
        sc.scoring_rows(spec("student_at_risk"), "2024-10-04", lake)


