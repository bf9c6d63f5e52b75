"""What each model is: the rows it learns from and scores, its label, its features and the
slices its promotion gate checks. One entry per model; training, the gate, scoring and
monitoring all read it, so the matrix a model is trained on and the one it scores are
built by the same code (:func:`matrix`).

Rows come from dbt marts in the lake (``marts/<name>/*.parquet``): ``features_mart`` holds
every scoring row (one per entity and as-of day, label null until it is known),
``training_mart`` the rows whose label is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakeops.catalog import datasets

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the registered model's name in MLflow
    source: str  # education | business
    features_mart: str  # every row to score: one per entity and as-of day
    training_mart: str  # the rows whose label is known
    id_column: str  # pseudonymous entity id: the invariance test changes it
    time_column: str  # as-of day of a row: splits are by time, never random
    keys: tuple[str, ...]  # identity of a row (entity, as-of day)
    label: str  # the mart's label column
    positive: bool  # the label value that is the predicted class (at risk, churned)
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # more of these never raises the predicted probability, all else equal (direction test)
    engagement: tuple[str, ...]
    sensitive: tuple[str, ...]  # fairness slices: the metric gap across each stays bounded
    critical_slices: tuple[tuple[str, str], ...]  # (column, value): minimum recall there
    primary_metric: str = "roc_auc"

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    @property
    def predictions(self) -> datasets.Dataset:
        return datasets.PREDICTIONS[self.name]

    @property
    def drift(self) -> datasets.Dataset:
        return datasets.DRIFT[self.name]


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name=datasets.MODELS["education"], source="education",
            features_mart="ml_education_features", training_mart="ml_education_training",
            id_column="student_id", time_column="prediction_day",
            keys=("code_module", "code_presentation", "student_id", "prediction_day"),
            label="is_at_risk", positive=True,
            numeric=("feature_week", "feature_age_days", "clicks_week", "clicks_total",
                     "clicks_resource", "clicks_oucontent", "clicks_url", "clicks_subpage",
                     "clicks_forumng", "clicks_quiz", "clicks_homepage", "clicks_other",
                     "active_days_week", "active_days_total", "days_since_last_activity",
                     "assessments_submitted", "mean_lateness_days", "late_submissions",
                     "mean_score", "previous_attempts", "studied_credits"),
            categorical=("code_module", "gender", "region", "highest_education", "imd_band",
                         "age_band", "disability"),
            engagement=("clicks_week", "clicks_total", "active_days_week",
                        "active_days_total"),
            sensitive=("gender", "age_band", "imd_band", "disability"),
            critical_slices=(("disability", "Y"), ("imd_band", "0-10%")),
        ),
        ModelSpec(
            name=datasets.MODELS["business"], source="business",
            features_mart="ml_business_features", training_mart="ml_business_training",
            id_column="customer_id", time_column="as_of_date",
            keys=("customer_id", "as_of_date"),
            label="reordered_within_30d", positive=False,  # churn: no order in 30 days
            numeric=("recency_days", "frequency", "monetary", "orders_today",
                     "avg_order_value", "avg_items_per_order", "distinct_categories",
                     "tenure_days"),
            categorical=("segment", "country", "city"),
            engagement=("frequency", "orders_today"),
            sensitive=("city",),  # the customer's region
            critical_slices=(("segment", "enterprise"),),
        ),
    )
}


def spec(name: str) -> ModelSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"no model {name!r}; models are {', '.join(SPECS)}") from None


def matrix(spec: ModelSpec, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None]:
    """The model's input (its feature columns, in order, with the dtypes the pipeline
    expects) and, when the rows carry a known label, the target (1 = the predicted
    class). The same function builds training and scoring matrices."""
    import pandas as pd

    missing = [c for c in spec.features if c not in rows.columns]
    if missing:
        raise KeyError(f"{spec.name}: rows lack feature column(s) {', '.join(missing)}")
    x = pd.DataFrame(index=rows.index)
    for col in spec.numeric:
        x[col] = pd.to_numeric(rows[col], errors="coerce").astype("float64")
    for col in spec.categorical:
        x[col] = rows[col].astype("string").fillna("unknown").astype(object)
    if spec.label not in rows.columns or rows[spec.label].isna().all():
        return x, None
    y = target(spec, rows)
    known = y.notna()
    return x.loc[known], y[known].astype("int64")


def target(spec: ModelSpec, rows: pd.DataFrame) -> pd.Series:
    """The label as the models predict it: 1.0 for the predicted class (at risk,
    churned), 0.0 otherwise, NaN while the label is not known."""
    import numpy as np
    import pandas as pd

    label = rows[spec.label]
    known = label.notna()
    out = pd.Series(np.nan, index=rows.index, dtype="float64")
    out[known] = (label[known].astype(bool) == spec.positive).astype("float64")
    return out
