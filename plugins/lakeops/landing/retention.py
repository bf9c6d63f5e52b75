"""Retention of PII-bearing deliveries in the landing archive (DAG ``purge_landing``).

Deliveries are archived by ingest as delivered, PII in clear, under
``landing/_archive/<source>/<table>/<YYYY-MM-DD>/`` in the landing store (beside the lake,
see :meth:`Lake.landing`). For a daily data interval ``D``, :func:`purge_landing` removes
the archived files of every delivery that *arrived* before ``D - landing_retention_days``
(00:00 UTC), for the tables whose contract carries PII (``contract.pii_columns``);
deliveries of tables without PII are kept as they are. A delivery arrived when its newest
file was last written in the landing store (moving it into the archive keeps that time on
a folder; on S3 the archive copy's time counts): the window runs from arrival, not from
the day the data is about, so a historical load delivered today, holding years-old days,
stays available for re-processing for the whole window.

Before a delivery's files are removed its manifest is kept, forever, as a tombstone
``landing/_archive/<source>/<table>/<day>/_purged.json``: the files' names, sizes and
sha256 checksums, the row counts of the ingest manifest
(``raw/<source>/<table>/dt=<day>/_manifest.json``, read through the lake; checksums are
computed from the files when the manifest lacks them), the purge interval, the retention
and the reason. What an interval purged is recorded in the lake table
``monitoring/landing_purges/dt=<D>/part-0.parquet`` (one row per removed file).

Idempotent: the table's rows are derived from the tombstones whose purge interval is
``D``, so re-running an interval removes nothing new and writes the same partition. A
delivery re-sent after its purge is archived beside the tombstone and purged again by a
later interval; the tombstone then keeps the earlier purges under ``earlier_purges``.

Deliveries still in the inbox (``landing/<source>/<table>/<day>/``), never ingested, are
not touched: only the archive is purged. Ingesting an interval whose delivery was purged
raises :class:`lakeops.ingest.errors.DeliveryPurged`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from lakeops.catalog import datasets
from lakeops.catalog.contracts import TABLES, Contract, get_contract
from lakeops.core.lazy import lazy
from lakeops.core.settings import Settings, get_settings
from lakeops.landing.layout import (
    ARCHIVE,
    MANIFEST,
    PURGED,
    is_delivered_file,
    iso_day,
    tombstone_path,
)
from lakeops.storage.lake import Lake, partition_dir, table_path

if TYPE_CHECKING:
    import pyarrow as pa
else:  # imported when the task runs, not when the DAG file is parsed
    pa = lazy("pyarrow")

log = logging.getLogger(__name__)

PURGES = datasets.LANDING_PURGES
REASON = ("PII-bearing delivery older than the landing retention (landing_retention_days); "
          "its rows live on pseudonymized in raw/")


@cache
def purges_schema() -> pa.Schema:
    return pa.schema([
        ("source", pa.string()),
        ("table", pa.string()),
        ("delivery_day", pa.string()),
        ("arrived_at", pa.string()),  # when the delivery reached the landing store (UTC)
        ("file", pa.string()),  # path in the landing store, as it was archived
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
        ("rows_in", pa.int64()),  # rows of the ingested delivery the file belonged to
        ("purged_on", pa.string()),  # the purge's data interval
        ("retention_days", pa.int32()),
    ])


def _day(name: str) -> str | None:
    try:
        return date.fromisoformat(name).isoformat()
    except ValueError:
        return None


def _archived(landing: Lake, contract: Contract
              ) -> tuple[dict[str, list[tuple[str, int]]], dict[str, datetime]]:
    """Files under the table's archive by delivery day (one listing), tombstones included,
    and when each file was last written."""
    base = f"{ARCHIVE}/{contract.source}/{contract.table}"
    by_day: dict[str, list[tuple[str, int]]] = defaultdict(list)
    written: dict[str, datetime] = {}
    for f in landing.ls(base, recursive=True):
        parts = f.path[len(base) + 1:].split("/")
        day = _day(parts[0])
        if len(parts) == 2 and day is not None:
            by_day[day].append((f.path, f.size))
            if f.mtime is not None:
                written[f.path] = f.mtime
    return dict(by_day), written


def _file_records(lake: Lake, landing: Lake, contract: Contract, day: str,
                  files: list[tuple[str, int]]) -> tuple[list[dict[str, Any]], Any, str]:
    """What the tombstone keeps of each file, plus the ingest manifest and its path."""
    manifest_path = table_path("raw", contract.dataset, partition_dir(day), MANIFEST)
    manifest = lake.read_json(manifest_path) if lake.exists(manifest_path) else None
    known = {m.get("archived_to") or m.get("path"): m for m in (manifest or {}).get("files", [])}
    records = []
    for path, size in files:
        entry = known.get(path)
        ingested = entry is not None and int(entry.get("bytes", -1)) == size
        sha = entry.get("sha256") if ingested and entry else None
        records.append({
            "name": path.rsplit("/", 1)[-1], "path": path, "bytes": size,
            "sha256": sha or landing.sha256(path),
            "rows_in": manifest["rows_in"] if ingested and manifest else None,
        })
    return records, manifest, lake.uri(manifest_path)


def _purge_delivery(lake: Lake, landing: Lake, contract: Contract, day: str,
                    files: list[tuple[str, int]], arrived: datetime, interval: str,
                    retention_days: int) -> int:
    """Write the tombstone, then remove the files; returns how many were removed."""
    tombstone = tombstone_path(contract, day)
    records, manifest, manifest_uri = _file_records(lake, landing, contract, day, files)
    earlier: list[dict[str, Any]] = []
    if landing.exists(tombstone):
        previous = landing.read_json(tombstone)
        earlier = previous.pop("earlier_purges", [])
        if previous.get("purged_on") == interval:  # an interrupted run of this interval
            done = {r["path"] for r in records}
            records = [r for r in previous["files"] if r["path"] not in done] + records
        else:  # a delivery re-sent after an earlier purge
            earlier.append(previous)
    landing.write_json(tombstone, {
        "source": contract.source, "table": contract.table, "delivery_day": day,
        "arrived_at": arrived.isoformat(), "purged_on": interval,
        "retention_days": retention_days, "reason": REASON,
        "pii_columns": [c.name for c in contract.pii_columns],
        "files": sorted(records, key=lambda r: r["path"]),
        "rows_in": manifest.get("rows_in") if manifest else None,
        "rows_written": manifest.get("rows_written") if manifest else None,
        "rows_rejected": manifest.get("rows_rejected") if manifest else None,
        "ingest_manifest": manifest, "ingest_manifest_path": manifest_uri,
        "earlier_purges": earlier,
    })
    for path, _ in files:
        landing.delete(path)
    log.info("%s %s: purged %d file(s); manifest kept at %s", contract.name, day, len(files),
             landing.uri(tombstone))
    return len(files)


def _rows(landing: Lake, contract: Contract, archived: dict[str, list[tuple[str, int]]],
          interval: str) -> list[dict[str, Any]]:
    """Rows of the purges table for ``interval``, from the table's tombstones."""
    rows = []
    for day, files in sorted(archived.items()):
        if not any(p.endswith(f"/{PURGED}") for p, _ in files):
            continue
        tomb = landing.read_json(tombstone_path(contract, day))
        for purge in [tomb, *tomb.get("earlier_purges", [])]:
            if purge.get("purged_on") != interval:
                continue
            rows += [{"source": contract.source, "table": contract.table, "delivery_day": day,
                      "arrived_at": purge.get("arrived_at"),
                      "file": f["path"], "bytes": f["bytes"], "sha256": f["sha256"],
                      "rows_in": f["rows_in"], "purged_on": interval,
                      "retention_days": purge["retention_days"]} for f in purge["files"]]
    return rows


def _purge_table(lake: Lake, landing: Lake, contract: Contract, interval: str,
                 cutoff: datetime, retention: int) -> tuple[int, list[dict[str, Any]]]:
    """Purge one table's deliveries that arrived before ``cutoff`` (PII-bearing tables
    only); returns the files removed now and the table's rows of the purges table for
    ``interval``."""
    archived, written = _archived(landing, contract)
    removed = 0
    for day, files in sorted(archived.items()):
        delivered = [(p, s) for p, s in files if is_delivered_file(p.rsplit("/", 1)[-1])]
        arrived = max((written[p] for p, _ in delivered if p in written), default=None)
        if contract.pii_columns and delivered and arrived is not None and arrived < cutoff:
            removed += _purge_delivery(lake, landing, contract, day, delivered, arrived,
                                       interval, retention)
            archived[day] = [f for f in files if f not in delivered]
            archived[day].append((tombstone_path(contract, day), 0))
    return removed, _rows(landing, contract, archived, interval)


def purge_landing(interval: str | date, settings: Settings | None = None) -> dict[str, Any]:
    """Purge, for the daily data interval ``interval``, the archived deliveries of
    PII-bearing tables older than ``settings.landing_retention_days`` (see the module
    docstring); record them in ``monitoring/landing_purges/dt=<interval>/``.

    Only the archive is purged: deliveries waiting in the inbox, never ingested, are not
    touched. Returns the counts (files removed by this run, rows of the partition)."""
    settings = settings or get_settings()
    interval = iso_day(interval)
    retention = settings.landing_retention_days
    cutoff = datetime.combine(date.fromisoformat(interval) - timedelta(days=retention),
                              time(0), UTC)
    lake, landing = Lake.from_settings(settings), Lake.landing(settings)
    removed = 0
    rows: list[dict[str, Any]] = []
    for source, tables in TABLES.items():
        for table in tables:
            n, table_rows = _purge_table(lake, landing, get_contract(source, table), interval,
                                         cutoff, retention)
            removed += n
            rows += table_rows
    path = lake.write_partition(PURGES.zone, PURGES.dataset, interval,
                                pa.Table.from_pylist(rows, schema=purges_schema()))
    log.info("landing purge %s (retention %d days, deliveries arrived before %s): %d "
             "file(s) removed now, %d recorded in %s", interval, retention, cutoff, removed,
             len(rows), lake.uri(path))
    return {"interval": interval, "cutoff": cutoff.date().isoformat(),
            "retention_days": retention,
            "files_removed": removed, "files_recorded": len(rows),
            "bytes_recorded": sum(r["bytes"] for r in rows), "path": path}
