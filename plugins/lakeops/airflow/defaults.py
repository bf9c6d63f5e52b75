"""What every DAG of the platform shares: its start date, owner, retries and run limits.

A DAG file passes ``**dag_args(owner, *tags)`` to its ``DAG(...)``: the same
:data:`START`, no catch-up (the demo and ``lakeops load`` backfill the intervals they
deliver), one active run at a time (an interval is checked against the ones published
before it), one retry 30 s later, and the ``lakeops`` tag beside the DAG's own.

Imported by every DAG file at parse time, so it imports nothing heavier than pendulum
(which Airflow has loaded already).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

START = pendulum.datetime(2024, 10, 1, tz="UTC")
RETRIES = 1
RETRY_DELAY = timedelta(seconds=30)
# owners, as the DAG list shows them
DATA_PLATFORM = "data-platform"
ML_PLATFORM = "ml-platform"
ANALYTICS = "analytics"


def default_args(owner: str) -> dict[str, Any]:
    """Every task's defaults: its owner, one retry :data:`RETRY_DELAY` later."""
    return {"owner": owner, "retries": RETRIES, "retry_delay": RETRY_DELAY}


def dag_args(owner: str, *tags: str) -> dict[str, Any]:
    """The ``DAG(...)`` arguments every platform DAG shares."""
    return {
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["lakeops", *tags],
        "default_args": default_args(owner),
    }
