"""What :mod:`lakeops.services` raises."""

from __future__ import annotations


class ServiceError(RuntimeError):
    """A service could not be started or checked."""


class PortInUseError(ServiceError):
    """A port a service needs is held by a process that is not that running service."""


class ServiceStartError(ServiceError):
    """A started service exited, or did not turn healthy in time."""
