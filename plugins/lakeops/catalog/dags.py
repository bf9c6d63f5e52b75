"""The id of every DAG the platform has, spelled once.

The DAG files name their DAGs from here, and whatever drives them through Airflow's REST
API (the demo, ``lakeops load oulad``, the benchmarks, the tests) finds them here too:

* per source (:data:`SOURCES`): ``ingest_<source>``, then ``features_<source>`` on its
  published tables;
* ``dbt_build`` on every curated and feature table;
* per model (:data:`MODELS`): ``train_<model>``, ``score_<model>``, ``monitor_<model>``;
* ``publish_dashboards`` on the marts the dashboards chart; ``purge_landing`` daily.

Importing this module reads only the source list of :mod:`lakeops.catalog.contracts` and
the model names of :mod:`lakeops.catalog.datasets`: a DAG file may import it at parse time.
"""

from __future__ import annotations

from lakeops.catalog.contracts import SOURCES
from lakeops.catalog.datasets import MODELS as MODEL_OF_SOURCE

MODELS = tuple(MODEL_OF_SOURCE.values())
DBT_BUILD = "dbt_build"
PUBLISH_DASHBOARDS = "publish_dashboards"
PURGE_LANDING = "purge_landing"


def _known(value: str, known: tuple[str, ...], what: str) -> str:
    if value not in known:
        raise KeyError(f"no {what} {value!r}; known: {', '.join(known)}")
    return value


def ingest_dag(source: str) -> str:
    """``ingest_<source>``: lands, validates and publishes the source's daily delivery."""
    return f"ingest_{_known(source, SOURCES, 'source')}"


def features_dag(source: str) -> str:
    """``features_<source>``: the Spark feature job over the source's curated tables."""
    return f"features_{_known(source, SOURCES, 'source')}"


def train_dag(model: str) -> str:
    """``train_<model>``: trains a candidate and runs the promotion gate."""
    return f"train_{_known(model, MODELS, 'model')}"


def score_dag(model: str) -> str:
    """``score_<model>``: batch scoring with the model's champion."""
    return f"score_{_known(model, MODELS, 'model')}"


def monitor_dag(model: str) -> str:
    """``monitor_<model>``: drift and realised quality of the model's predictions."""
    return f"monitor_{_known(model, MODELS, 'model')}"


INGEST = tuple(ingest_dag(s) for s in SOURCES)
FEATURES = tuple(features_dag(s) for s in SOURCES)
MODEL_DAGS = tuple(dag(m) for m in MODELS for dag in (train_dag, score_dag, monitor_dag))
# the DAGs a publication starts (asset-scheduled): features, dbt, the models, dashboards
DATA_DRIVEN = (*FEATURES, DBT_BUILD, *MODEL_DAGS, PUBLISH_DASHBOARDS)
ALL = (*INGEST, *DATA_DRIVEN, PURGE_LANDING)
