"""Ingest DAGs: one per source (``ingest_education``, ``ingest_business``).

Only wiring lives here; the work is in :mod:`lakeops.ingest.stage`,
:mod:`lakeops.validate.audit` and :mod:`lakeops.validate.publish` (plain functions that the
CLI and the tests call too).
"""

from __future__ import annotations

from airflow.sdk import DAG, CronDataIntervalTimetable, task

from lakeops.airflow.defaults import DATA_PLATFORM, dag_args
from lakeops.catalog import dags, datasets
from lakeops.catalog.contracts import TABLES, get_contract
from lakeops.core.settings import get_settings
from lakeops.ingest import stage as ingest
from lakeops.validate import audit, publish
from lakeops.validate.workspace import fk_parents, parent_tables, publish_order

INTERVAL = "{{ data_interval_start | ds }}"

DOC = """
### Ingest `{source}`

Daily, for the data interval `[data_interval_start, data_interval_end)`:

1. **wait_for_delivery** waits (reschedule mode) until every table of the source has a
   delivery under `landing/{source}/<table>/<YYYY-MM-DD>/` in the landing store (beside
   the lake, `LAKEOPS_LANDING_URI`); when the timeout passes the run fails naming the
   missing tables — a missing delivery is never a silent success. A delivery that
   `purge_landing` removed under the retention rule fails it at once: deliver it again.
2. **ingest_&lt;table&gt;** reads each delivery per its contract
   (`expectations/contracts/{source}/`), casts to the contract's types, pseudonymizes PII,
   replaces `raw/{source}/<table>/dt=<interval>/`, keeps rejected rows with their rule in
   `quarantine/`, archives the delivery under `landing/_archive/` and writes a manifest.
3. **validate_&lt;table&gt;** audits the raw partition with the table's Great Expectations
   suite on DuckDB once the tables its foreign keys point at are published (a row whose
   parent was quarantined is quarantined too): rows breaking a critical row rule go to
   `quarantine/` with the expectation's name; a critical table-level failure (schema,
   volume) fails the task naming the expectations. Results land in
   `monitoring/validation_results/` and the data docs site (`reports/data_docs/`).
4. **publish_&lt;table&gt;** replaces `curated/{source}/<table>/dt=<interval>/` with the audited
   rows (write-audit-publish) and emits the asset `lakeops://curated/{source}/<table>`.
5. **record_manifest** writes the interval's ingest counts to `monitoring/ingest_runs/`.

Re-running an interval replaces its partitions; it never duplicates a row.
Tables: {tables}.
"""


def build(source: str) -> DAG:
    settings = get_settings()
    with DAG(
        dag_id=dags.ingest_dag(source),
        description=f"Land {source} deliveries into the raw zone of the lake",
        doc_md=DOC.format(source=source, tables=", ".join(TABLES[source])),
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        # one active run: a day is checked against the days published before it
        **dag_args(DATA_PLATFORM, "ingest", source),
    ) as dag:
        wait = task.sensor(
            task_id="wait_for_delivery",
            poke_interval=settings.delivery_poke_s,
            # the retry is for a sensor killed under it (a scheduler that died mid-poke).
            # The wait is bounded from the run's start by delivery_ready, which fails at
            # once (no retry) on the first poke past LAKEOPS_DELIVERY_TIMEOUT_S; Airflow's
            # own timeout, a little later, is only the backstop (Airflow 3.3 retries it)
            timeout=settings.delivery_timeout_s + 2 * settings.delivery_poke_s + 30,
            mode="reschedule",
        )(ingest.delivery_ready)(source=source, interval=INTERVAL,
                                 waiting_since="{{ dag_run.start_date }}")
        ingested = {
            table: task(task_id=f"ingest_{table}")(ingest.ingest_table)(
                source=source, table=table, interval=INTERVAL
            )
            for table in TABLES[source]
        }
        record = task(task_id="record_manifest")(ingest.record_interval)(
            source=source, interval=INTERVAL
        )
        wait >> list(ingested.values()) >> record
        published = {}
        for table in publish_order(source):  # foreign-key parents first
            audited = task(task_id=f"validate_{table}")(audit.validate_table)(
                source=source, table=table, interval=INTERVAL
            )
            published[table] = task(
                task_id=f"publish_{table}",
                outlets=[datasets.curated(source, table).asset()],
            )(publish.publish_table)(source=source, table=table, interval=INTERVAL)
            contract = get_contract(source, table)
            # cross-table rules read today's delivery of their tables; foreign keys read
            # the parent as published, so a row whose parent was quarantined is too
            [ingested[table], *(ingested[p] for p in sorted(parent_tables(contract))),
             *(published[p] for p in sorted(fk_parents(contract)))] >> audited
            audited >> published[table]
    return dag


for _source in TABLES:
    globals()[dags.ingest_dag(_source)] = build(_source)
