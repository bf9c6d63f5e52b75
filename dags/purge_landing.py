"""Retention DAG ``purge_landing``: purges PII-bearing deliveries from the landing archive.

Only wiring lives here; the work is in :mod:`lakeops.landing.retention` (a plain function the tests
call too).
"""

from __future__ import annotations

from airflow.sdk import DAG, CronDataIntervalTimetable, task

from lakeops.airflow.defaults import DATA_PLATFORM, dag_args
from lakeops.catalog import dags, datasets
from lakeops.core.settings import get_settings
from lakeops.landing import retention

INTERVAL = "{{ data_interval_start | ds }}"

DOC = """
### Purge PII-bearing deliveries from the landing archive

Deliveries land, and are archived by the ingest DAGs, *as delivered*, personal data in
clear, in the landing store beside the lake (`LAKEOPS_LANDING_URI`, never reachable from
the SQL endpoint or Dremio). Their rows live on in `raw/` pseudonymized.

Daily, for the data interval `D`, **purge_landing** removes the archived files under
`landing/_archive/<source>/<table>/<day>/` whose day is before `D - {days}` days
(`LAKEOPS_LANDING_RETENTION_DAYS`), for the tables whose contract tags PII columns only;
deliveries without PII are kept. Before removing a delivery it keeps its manifest forever
as `_purged.json` in the same folder (files, sizes, sha256, row counts from the ingest
manifest, purge interval, retention, reason), and it records every removed file in
`monitoring/landing_purges/dt=<D>/` (emits `{uri}`).

Deliveries still in the inbox, never ingested, are not touched. Re-running an interval
removes nothing new and writes the same partition. An ingest run for a purged day fails at
once saying so: deliver the file again to re-process it.
"""


def build() -> DAG:
    settings = get_settings()
    with DAG(
        dag_id=dags.PURGE_LANDING,
        description="Purge PII-bearing deliveries older than the landing retention",
        doc_md=DOC.format(days=settings.landing_retention_days,
                          uri=datasets.LANDING_PURGES.uri),
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        **dag_args(DATA_PLATFORM, "retention", "privacy"),
    ) as dag:
        task(task_id="purge_landing", outlets=[datasets.LANDING_PURGES.asset()])(
            retention.purge_landing
        )(interval=INTERVAL)
    return dag


purge_landing = build()
