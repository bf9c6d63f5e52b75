"""The REST client's polling helper and the catalog of DAG ids (no Airflow needed)."""

from __future__ import annotations

import pytest

from lakeops.airflow.client import StatusLine, poll
from lakeops.catalog import dags


def test_poll_returns_the_first_answer_and_names_what_timed_out() -> None:
    answers = iter([None, None, "done"])
    assert poll(lambda: next(answers), timeout=5, interval=0.01, describe=str) == "done"

    with pytest.raises(TimeoutError, match="ingest_business: running=1"):
        poll(lambda: None, timeout=0.05, interval=0.01,
             describe=lambda: "ingest_business: running=1")


def test_a_status_line_is_echoed_once_until_it_changes() -> None:
    echoed: list[str] = []
    status = StatusLine(echoed.append)
    for line in ("queued=2", "queued=2", "running=1, queued=1", "running=1, queued=1"):
        status(line)
    assert echoed == ["queued=2", "running=1, queued=1"]
    assert status.last == "running=1, queued=1"


def test_every_dag_id_is_spelled_once_in_the_catalog() -> None:
    assert len(dags.ALL) == len(set(dags.ALL)) == 13
    assert dags.ingest_dag("education") == "ingest_education"
    assert dags.monitor_dag("customer_churn") in dags.DATA_DRIVEN
    assert dags.PURGE_LANDING not in dags.DATA_DRIVEN  # daily, not started by data
    with pytest.raises(KeyError, match="no source 'shop'"):
        dags.features_dag("shop")
