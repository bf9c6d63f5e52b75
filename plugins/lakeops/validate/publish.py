"""Publish: replace a table's curated partition with its audited raw rows (write-audit-publish).

``publish_table`` obeys the audit's verdict (``_audit.json``, written by
:func:`lakeops.validate.audit.validate_table`): it publishes nothing for an interval not
yet audited or whose audit failed. Otherwise it replaces
``curated/<source>/<table>/dt=<interval>/`` with the raw rows minus the quarantined ones,
atomically, and checks and records
``delivered = published + quarantined + rejected at ingest`` beside it.
:func:`validate_interval` audits and publishes every table of a source in this process
(the CLI and tests; the DAGs run a task per table).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from datetime import date
from typing import TYPE_CHECKING, Any

from lakeops.catalog.contracts import get_contract
from lakeops.core.lazy import lazy
from lakeops.core.settings import Settings, get_settings
from lakeops.landing.layout import MANIFEST, iso_day
from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path
from lakeops.validate.audit import AUDIT, VALIDATE_FILE, validate_table
from lakeops.validate.workspace import ValidationFailed, memory_limit, publish_order

if TYPE_CHECKING:
    import duckdb
else:  # imported when a task runs, not when a DAG file is parsed
    duckdb = lazy("duckdb")

log = logging.getLogger(__name__)


def publish_table(source: str, table: str, interval: str | date,
                  settings: Settings | None = None) -> dict[str, Any]:
    """Replace the curated partition with the audited raw rows (raw minus quarantined)."""
    settings = settings or get_settings()
    interval = iso_day(interval)
    contract = get_contract(source, table)
    lake = Lake.from_settings(settings)
    part = partition_dir(interval)
    raw = table_path("raw", contract.dataset, part, DATA_FILE)
    bad_path = table_path("quarantine", contract.dataset, part, VALIDATE_FILE)
    audit_path = table_path("raw", contract.dataset, part, AUDIT)
    if not lake.exists(audit_path) or not lake.exists(bad_path):
        raise ValidationFailed(f"{contract.name} {interval}: not validated yet; "
                               "run the validate task before publishing")
    audit = lake.read_json(audit_path)
    if not audit["passed"]:
        raise ValidationFailed(f"{contract.name} {interval}: the audit failed, nothing is "
                               f"published: {audit['blocking']}")
    curated = table_path("curated", contract.dataset, part, DATA_FILE)
    with contextlib.ExitStack() as stack:
        raw_local = stack.enter_context(lake.local_copy(raw))
        bad_local = stack.enter_context(lake.local_copy(bad_path))
        spill = stack.enter_context(tempfile.TemporaryDirectory(prefix="lakeops-publish-"))
        con = duckdb.connect(config={"memory_limit": memory_limit(settings),
                                     "temp_directory": spill})
        con.execute(f"CREATE VIEW bad AS SELECT DISTINCT _row FROM read_parquet('{bad_local}', "
                    "hive_partitioning=false)")
        quarantined = con.execute("SELECT count(*) FROM bad").fetchone()
        target = stack.enter_context(lake.staged_file(curated))
        if quarantined and quarantined[0]:
            con.execute(
                f"COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet('{raw_local}', "
                f"file_row_number=true, hive_partitioning=false) "
                f"WHERE file_row_number NOT IN (SELECT _row FROM bad)) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
            )
        else:  # nothing quarantined: the audited file itself, not a re-encoded copy
            shutil.copyfile(raw_local, target)
        published = con.execute(f"SELECT count(*) FROM read_parquet('{target}', "
                                "hive_partitioning=false)").fetchone()
        con.close()
    ingest_manifest = lake.read_json(table_path("raw", contract.dataset, part, MANIFEST))
    record = {
        "source": source, "table": table, "interval": interval,
        "delivered": ingest_manifest["rows_in"],
        "rejected_at_ingest": ingest_manifest["rows_rejected"],
        "quarantined_at_validation": int(quarantined[0]) if quarantined else 0,
        "published": int(published[0]) if published else 0,
        "curated_path": curated,
        "history_from": ingest_manifest.get("history_from"),
    }
    accounted = (record["published"] + record["quarantined_at_validation"]
                 + record["rejected_at_ingest"])
    if accounted != record["delivered"]:
        raise ValidationFailed(f"{contract.name} {interval}: rows do not add up: "
                               f"{record['delivered']} delivered, {accounted} accounted for")
    lake.write_json(table_path("curated", contract.dataset, part, MANIFEST), record)
    log.info("%s %s published: %s", contract.name, interval, record)
    return record


def validate_interval(source: str, interval: str, settings: Settings | None = None
                      ) -> dict[str, Any]:
    """Validate and publish every table of a source (CLI and tests; DAGs use per-table
    tasks). Parents first, so children see today's published parents."""
    out = {}
    for table in publish_order(source):
        validate_table(source, table, interval, settings)
        out[table] = publish_table(source, table, interval, settings)
    return out
