"""``publish_dashboards``: after dbt refreshes the marts the dashboards read, import the
bundle in ``superset/assets/`` into Superset when it changed (``lakeops dashboards
publish``) and warm every chart's cache, so the first user after a refresh does not wait
for the queries.

Only wiring lives here; the work is in :mod:`lakeops.dashboards.bundle`.
"""

from __future__ import annotations

import functools
import logging
import operator
from typing import Any

from airflow.sdk import DAG, task

from lakeops.airflow.defaults import ANALYTICS, dag_args
from lakeops.catalog import dags, datasets
from lakeops.core.settings import get_settings

log = logging.getLogger(__name__)
# the marts the dashboards chart: once dbt rebuilt all of them (one run per build)
DASHBOARD_MARTS = ("business_kpis_daily", "business_revenue_by_category",
                   "education_kpis_weekly", "education_engagement_trend",
                   "education_assessment_performance")

with DAG(
    dag_id=dags.PUBLISH_DASHBOARDS,
    description="Publish the Superset dashboards as code and warm their caches",
    doc_md=__doc__,
    schedule=functools.reduce(operator.and_, [datasets.mart(m).asset()
                                             for m in DASHBOARD_MARTS]),
    **dag_args(ANALYTICS, "dashboards", "superset"),
) as publish_dashboards:

    @task(task_id="publish")
    def publish() -> dict[str, Any]:
        from lakeops.dashboards import bundle as dashboards

        return dashboards.publish(get_settings())

    @task(task_id="warm_caches")
    def warm(_: dict[str, Any]) -> dict[str, Any]:
        from lakeops.dashboards import bundle as dashboards

        result = dashboards.warm(get_settings(), strict=False)
        for failure in result["failed"]:  # a table the models write may not exist yet
            log.warning("chart not warmed: %s", failure)
        return result

    warm(publish())
