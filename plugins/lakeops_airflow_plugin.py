"""Airflow UI links to the other services of the platform (MLflow, the reports/docs site).

Airflow 3 ``external_views`` with destination ``nav``: plain links (no ``url_route``, so no
iframe) in the Browse menu. The URLs come from :class:`lakeops.settings.Settings`, which
only reads ``LAKEOPS_*`` variables: importing this module does no I/O.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from lakeops.settings import get_settings

_settings = get_settings()


class LakeopsPlugin(AirflowPlugin):
    name = "lakeops"
    external_views = [
        {
            "name": "MLflow",
            "href": f"{_settings.mlflow_url}/",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Validation data docs",
            "href": f"{_settings.docs_url}/data_docs/index.html",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "dbt docs",
            "href": f"{_settings.docs_url}/dbt_docs/index.html",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Reports",
            "href": f"{_settings.docs_url}/",
            "destination": "nav",
            "category": "browse",
        },
    ]
