"""The lakeops Airflow plugin, where Airflow looks for it: its plugins manager loads each
file of the plugins folder (``plugins/``; the ``lakeops`` package itself is ignored, see
``plugins/.airflowignore``) and registers the ``AirflowPlugin`` classes in its namespace.
The plugin is :class:`lakeops.airflow.ui.LakeopsPlugin`.
"""

from __future__ import annotations

from lakeops.airflow.ui import LakeopsPlugin

__all__ = ["LakeopsPlugin"]
