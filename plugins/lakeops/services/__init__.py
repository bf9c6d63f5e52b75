"""The embedded default's services: ``lakeops up`` / ``lakeops down`` / ``lakeops status``.

* :mod:`~lakeops.services.specs` -- one declarative entry per service (command,
  environment, port and its ``LAKEOPS_*_PORT`` variable, health check, links);
* :mod:`~lakeops.services.supervisor` -- runs them under supervisord (restarts with
  back-off, restart counts, no orphans at ``down``);
* :mod:`~lakeops.services.supervisord` -- supervisord's configuration, files and control
  socket; why supervisord: see there;
* :mod:`~lakeops.services.processes` -- the services' process trees (memory, the sweep at
  ``down``);
* :mod:`~lakeops.services.launch` -- the exec wrapper every program starts through;
* :mod:`~lakeops.services.health` -- the probes;
* :mod:`~lakeops.services.airflow` -- the Airflow environment, secrets, ``db migrate``;
"""

from __future__ import annotations

from lakeops.core.settings import lakeops_env
from lakeops.services.airflow import (
    airflow_admin_password,
    airflow_env,
    prepare_dbt,
    write_passwords_file,
)
from lakeops.services.errors import PortInUseError, ServiceError, ServiceStartError
from lakeops.services.specs import SERVICES, Link, Service, service_names
from lakeops.services.supervisor import ServiceStatus, down, memory, status, up

__all__ = [
    "SERVICES",
    "Link",
    "PortInUseError",
    "Service",
    "ServiceError",
    "ServiceStartError",
    "ServiceStatus",
    "airflow_admin_password",
    "airflow_env",
    "down",
    "memory",
    "lakeops_env",
    "prepare_dbt",
    "service_names",
    "status",
    "up",
    "write_passwords_file",
]
