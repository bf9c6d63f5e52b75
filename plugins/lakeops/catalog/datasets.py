"""The registry of every dataset the platform writes: zone, lake path, Airflow asset, owner.

DAGs, the CLI, the demo, the benchmarks and the stages take dataset names from here, so a
dataset is spelled once. Each :class:`Dataset` knows

* its lake location: ``<zone>/<source>/<table>`` (``marts/<model>`` for dbt marts), with
  one ``dt=<YYYY-MM-DD>`` partition per data interval below it;
* its Airflow asset: name ``<zone>.<source>.<table>``, URI ``lakeops://<path>``;
* the stage that writes it (``validate``, ``features``, ``dbt``, ``train``, ``infer``,
  ``drift``, ``retention``) and, for derived datasets, the datasets it is computed from.

Importing this module reads nothing but :mod:`lakeops.catalog.contracts` (the source tables) and
imports no Airflow: :meth:`Dataset.asset` builds the ``airflow.sdk.Asset`` when a DAG asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakeops.catalog.contracts import TABLES

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "lakeops"


@dataclass(frozen=True)
class Dataset:
    """One table the platform writes into the lake."""

    zone: str
    table: str
    source: str | None = None
    owner: str = ""
    inputs: tuple[Dataset, ...] = field(default=(), compare=False, repr=False)
    description: str = ""

    @property
    def path(self) -> str:
        """Lake path of the table (its partitions are ``dt=<day>`` folders below)."""
        return "/".join(p for p in (self.zone, self.source, self.table) if p)

    @property
    def dataset(self) -> str:
        """``<source>/<table>``: the path below the zone (what ``Lake.partitions`` takes)."""
        return "/".join(p for p in (self.source, self.table) if p)

    @property
    def name(self) -> str:
        """Asset name and the dotted name SQL uses below ``lakehouse.``."""
        return ".".join(p for p in (self.zone, self.source, self.table) if p)

    @property
    def uri(self) -> str:
        return f"{SCHEME}://{self.path}"

    def asset(self) -> Asset:
        """The Airflow asset a publication of this dataset emits."""
        from airflow.sdk import Asset

        return Asset(name=self.name, uri=self.uri, group=self.zone)


def _source_tables(zone: str, owner: str) -> dict[tuple[str, str], Dataset]:
    return {(source, table): Dataset(zone, table, source, owner)
            for source, tables in TABLES.items() for table in tables}


RAW = _source_tables("raw", "ingest")
QUARANTINE = _source_tables("quarantine", "ingest")
CURATED = _source_tables("curated", "validate")


def raw(source: str, table: str) -> Dataset:
    return _lookup(RAW, source, table)


def curated(source: str, table: str) -> Dataset:
    return _lookup(CURATED, source, table)


def _lookup(registry: dict[tuple[str, str], Dataset], source: str, table: str) -> Dataset:
    try:
        return registry[(source, table)]
    except KeyError:
        known = ", ".join(f"{s}.{t}" for s, t in registry)
        raise KeyError(f"no dataset {source}.{table}; known: {known}") from None


@dataclass(frozen=True)
class FeatureJob:
    """A Spark feature job: ``spark_jobs/<job>.py`` writes ``output`` from ``inputs``."""

    job: str
    output: Dataset

    @property
    def source(self) -> str:
        assert self.output.source is not None
        return self.output.source

    @property
    def inputs(self) -> tuple[Dataset, ...]:
        return self.output.inputs


def _features(source: str, table: str, job: str, reads: tuple[str, ...]) -> FeatureJob:
    inputs = tuple(curated(source, t) for t in reads)
    return FeatureJob(job, Dataset("features", table, source, "features", inputs))


FEATURE_JOBS: dict[str, FeatureJob] = {
    job.source: job
    for job in (
        _features("education", "student_week", "education_features",
                  ("studentVle", "studentAssessment", "vle", "assessments")),
        _features("business", "customer_day", "business_features",
                  ("orders", "order_items", "products")),
    )
}
FEATURES = {job.source: job.output for job in FEATURE_JOBS.values()}


def feature_job(name: str) -> FeatureJob:
    """A feature job by its job name (``education_features``) or its source."""
    for job in FEATURE_JOBS.values():
        if name in (job.job, job.source):
            return job
    raise KeyError(f"no feature job {name!r}; known: "
                   + ", ".join(j.job for j in FEATURE_JOBS.values()))


# dbt's marts (dbt/models/marts/*.sql; a test keeps the two lists equal)
DBT_SOURCES = (*CURATED.values(), *FEATURES.values())
MART_NAMES = (
    "business_kpis_daily",
    "business_revenue_by_category",
    "education_assessment_performance",
    "education_engagement_trend",
    "education_kpis_weekly",
    "ml_business_features",
    "ml_business_training",
    "ml_education_features",
    "ml_education_training",
)
MARTS = {name: Dataset("marts", name, None, "dbt", DBT_SOURCES) for name in MART_NAMES}


def mart(name: str) -> Dataset:
    try:
        return MARTS[name]
    except KeyError:
        raise KeyError(f"no mart {name!r}; known: {', '.join(MARTS)}") from None


# what the model stages write (training, batch scoring, drift monitoring)
MODELS = {"education": "student_at_risk", "business": "customer_churn"}


def _per_model(zone: str, group: str | None, owner: str, description: str
               ) -> dict[str, Dataset]:
    return {m: Dataset(zone, m, group, owner, description=description) for m in MODELS.values()}


PREDICTIONS = _per_model("predictions", None, "infer",
                         "scores of the champion for each interval's feature rows")
# headline drift numbers per interval (share of drifted features, prediction drift)
DRIFT = _per_model("monitoring", "drift", "drift", "drift of features and predictions")
DRIFT_FEATURES = _per_model("monitoring", "drift_features", "drift",
                            "per-feature drift score and PSI against the training reference")
# emitted (no table) when drift crosses the threshold: schedules retraining
DRIFT_ALERTS = _per_model("monitoring", "drift_alerts", "drift",
                          "drift over the threshold: retrain")
# emitted (no table) when the champion alias moves (a promotion, a rollback): rescore
CHAMPIONS = _per_model("monitoring", "champions", "train",
                       "the champion alias moved: score with the new champion")
PERFORMANCE = _per_model("monitoring", "model_performance", "drift",
                         "realised quality of the predictions whose labels arrived")
# the previous champion scores the same rows in the shadow, so that realised quality can
# compare the two on the same window (rollback)
SHADOW_PREDICTIONS = _per_model("monitoring", "shadow_predictions", "infer",
                                "scores of the previous champion on the same rows")
# the frozen holdout a champion was judged on, and the training reference drift is
# measured against; one partition per model version
HOLDOUTS = _per_model("monitoring", "model_holdouts", "train",
                      "frozen holdout rows of each model version")
REFERENCES = _per_model("monitoring", "model_references", "train",
                        "training reference rows of each model version")
# every gate and rollback decision: who was champion when
MODEL_DECISIONS = Dataset("monitoring", "model_decisions", None, "train",
                          description="promotion gate and rollback decisions")

# what the retention of PII-bearing deliveries removed from the landing archive
# (lakeops.landing.retention, DAG purge_landing): one row per purged file, one partition
# per interval
LANDING_PURGES = Dataset("monitoring", "landing_purges", None, "retention",
                         description="files purged from the landing archive by retention")


def all_datasets() -> list[Dataset]:
    """Every dataset the platform writes, in pipeline order."""
    return [*RAW.values(), *QUARANTINE.values(), *CURATED.values(), *FEATURES.values(),
            *MARTS.values(), *PREDICTIONS.values(), *DRIFT.values(), *DRIFT_FEATURES.values(),
            *DRIFT_ALERTS.values(), *CHAMPIONS.values(), *PERFORMANCE.values(),
            *SHADOW_PREDICTIONS.values(), *HOLDOUTS.values(), *REFERENCES.values(),
            MODEL_DECISIONS, LANDING_PURGES]


def by_name(name: str) -> Dataset:
    """A dataset by its asset name (``curated.business.orders``) or URI."""
    for ds in all_datasets():
        if name in (ds.name, ds.uri):
            return ds
    raise KeyError(f"no dataset named {name!r}")
