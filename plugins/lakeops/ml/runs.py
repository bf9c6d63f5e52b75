"""Which data intervals a model stage still owes, read from the lake itself.

Scoring and monitoring run when their inputs were rebuilt (asset-scheduled), and a run
covers every interval whose input partition exists and whose output partition does not
yet: intervals published by a backfill or while the stage was paused are caught up in one
run, and re-running a stage for an interval (by hand, with conf ``{"interval": ...}``)
replaces its partition. Reading this from the lake rather than from the triggering asset
events keeps it right whatever triggered the run (dbt's runs are asset-triggered and carry
no data interval of their own)."""

from __future__ import annotations

from lakeops.catalog import datasets
from lakeops.core.settings import Settings
from lakeops.ml.specs import spec
from lakeops.storage.lake import Lake


def _days(lake: Lake, ds: datasets.Dataset) -> set[str]:
    return set(lake.partitions(ds.zone, ds.dataset))


def to_score(model: str, settings: Settings) -> list[str]:
    """Intervals with features and no predictions yet among the newest
    ``ml_score_days`` with features, oldest first. Scoring serves what is decided now: the
    weeks of days a historical load brings get features (training learns from them) but
    no predictions, unless a run names one (conf ``{"interval": ...}``)."""
    lake = Lake.from_settings(settings)
    s = spec(model)
    recent = sorted(_days(lake, datasets.FEATURES[s.source]))[-settings.ml_score_days:]
    return sorted(set(recent) - _days(lake, s.predictions))


def to_monitor(model: str, settings: Settings) -> list[str]:
    """Intervals with predictions and no drift numbers yet, oldest first."""
    lake = Lake.from_settings(settings)
    s = spec(model)
    return sorted(_days(lake, s.predictions) - _days(lake, s.drift))
