"""Superset dashboards as code: the asset bundle under ``superset/assets/`` and its
publication (:mod:`lakeops.dashboards.bundle`)."""
