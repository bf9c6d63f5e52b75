"""Airflow UI links to the other services of the platform (MLflow, the reports/docs site).

Airflow 3 ``external_views`` with destination ``nav``: plain links (no ``url_route``, so no
iframe) in the Browse menu. They are the ``links`` of the service entries in
:mod:`lakeops.services.specs` (a new service's entry brings its own menu links), at the
URLs of :class:`lakeops.core.settings.Settings`, which only reads ``LAKEOPS_*`` variables:
importing this module does no I/O. Airflow finds the class through
``plugins/lakeops_airflow_plugin.py``, a file of its plugins folder.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from lakeops.core.settings import get_settings
from lakeops.services.specs import menu_views


class LakeopsPlugin(AirflowPlugin):
    name = "lakeops"
    external_views = menu_views(get_settings())
