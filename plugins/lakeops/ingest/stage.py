"""Ingest: landing/ deliveries -> raw/ partitions, per source table and data interval.

Deliveries live in the landing store (:meth:`Lake.landing`: beside the lake, never inside
it, with its own keys); what ingest writes goes to the lake (:meth:`Lake.from_settings`).
For one table and one interval this

1. finds the delivery in ``landing/<source>/<table>/<YYYY-MM-DD>/`` (or, on a re-run, in
   the archive it was moved to; files whose name starts with ``.`` or ``_`` are not part
   of a delivery) — :mod:`lakeops.ingest.delivery`, in the layout of
   :mod:`lakeops.landing.layout`;
2. reads every file per the contract's delivery format (:mod:`lakeops.ingest.readers`) and
   enforces the schema (:mod:`lakeops.ingest.rules`): values are cast to the contract's
   types and a row that cannot be cast, has a null where the contract forbids one, or is
   not a well-formed line is *rejected*, never dropped;
3. pseudonymizes PII with a keyed hash (HMAC-SHA256, :mod:`lakeops.ingest.pii`),
   generalizes or drops it as the contract says;
4. replaces ``raw/<source>/<table>/dt=<interval>/part-0.parquet`` (atomic) and
   ``quarantine/<source>/<table>/dt=<interval>/ingest.parquet`` (rejected rows with the
   rule they broke);
5. writes a manifest (files with checksums, rows in / written / rejected, the first day
   of a historical load) beside the partition, and archives the delivery under
   ``landing/_archive/``; ingest never deletes it (:mod:`lakeops.landing.retention` purges
   PII-bearing deliveries after ``landing_retention_days``, leaving a ``_purged.json``
   tombstone with their manifest).

Re-running an interval gives the same partition, the same quarantine and the same
manifest: nothing is appended, everything is replaced. Re-running an interval whose
delivery was purged fails at once with :class:`DeliveryPurged`.

The good rows stream from the delivery into the partition in one DuckDB pass (memory
bounded by ``task_memory_mb`` whatever the delivery's size), while a thread checksums the
files and scans their text; a second pass for the rows breaking a type or null rule runs
only when the lines do not add up to the rows written and the lines rejected.

The functions a DAG wires (:func:`delivery_ready`, :func:`ingest_table`,
:func:`record_interval`) are plain functions the CLI and the tests call too.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from lakeops.catalog.contracts import TABLES, Contract, Format, get_contract
from lakeops.core import sqltext
from lakeops.core.keys import pii_key
from lakeops.core.lazy import lazy
from lakeops.core.settings import Settings, get_settings
from lakeops.ingest.delivery import (
    DeliveredFile,
    archive_delivery,
    find_delivery,
    history_from,
    missing_deliveries,
)
from lakeops.ingest.errors import DeliveryMissing, DeliveryPurged, fail_fast
from lakeops.ingest.pii import register_pseudonym, withhold_pii
from lakeops.ingest.readers import (
    csv_rejects,
    delivered_rows,
    refuse_undecodable,
    scan_text,
    sha256_file,
    unpacked,
)
from lakeops.ingest.rules import (
    checked_rows,
    lake_select,
    normalized_counts,
    normalized_rows,
    quarantine_schema,
    rule_rejects,
)
from lakeops.landing.layout import MANIFEST, inbox_dir, iso_day
from lakeops.storage.lake import Lake, partition_dir, table_path

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
else:  # imported when a task runs, not when a DAG file is parsed
    duckdb, pa = lazy("duckdb"), lazy("pyarrow")

log = logging.getLogger(__name__)

QUARANTINE_FILE = "ingest.parquet"


@dataclass
class Manifest:
    """What ingest read and wrote for one table and interval: :func:`ingest_table` returns
    it and writes it beside the raw partition (``_manifest.json``)."""

    source: str
    table: str
    interval: str
    files: list[DeliveredFile]
    rows_in: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rejected_by_rule: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    raw_path: str = ""
    quarantine_path: str = ""
    history_from: str | None = None  # a historical load: its rows start this day
    # values the contract's ``normalize`` maps rewrote: column -> "from -> to" -> rows
    normalized: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def delivery_ready(source: str, interval: str, settings: Settings | None = None,
                   waiting_since: str | datetime | None = None) -> bool:
    """Sensor condition: every table of the source has its delivery for the interval.

    A purged delivery will not arrive by waiting: :class:`DeliveryPurged` is raised (as an
    ``AirflowFailException`` too under Airflow), failing the sensor at once. So is
    :class:`DeliveryMissing` once ``settings.delivery_timeout_s`` have passed since
    ``waiting_since`` (the run's start): the wait is bounded per run, not per attempt, so a
    retry of a sensor killed under it (a scheduler that died) does not start it again."""
    settings = settings or get_settings()
    try:
        missing = missing_deliveries(source, interval, settings)
    except DeliveryPurged as exc:
        raise fail_fast(exc) from None
    if missing:
        where = f"{Lake.landing(settings).uri(f'landing/{source}')}/<table>/{iso_day(interval)}/"
        try:  # a template of a run without a start renders "None": no bound then
            since = datetime.fromisoformat(str(waiting_since)) if waiting_since else None
        except ValueError:
            since = None
        # every poke names what is missing, the last one too: a retry that starts past
        # the bound fails at its first poke, and its log must still say what it waited for
        log.info("waiting for %s deliveries of %s: %s (expected under %s)",
                 source, iso_day(interval), ", ".join(missing), where)
        if since is not None and (datetime.now(UTC) - since).total_seconds() \
                > settings.delivery_timeout_s:
            error = DeliveryMissing(
                f"{source} deliveries of {iso_day(interval)} did not arrive within "
                f"{settings.delivery_timeout_s} s (LAKEOPS_DELIVERY_TIMEOUT_S) of the run's "
                f"start: {', '.join(missing)} (expected under {where}); deliver them and "
                "clear the run")
            log.error("%s", error)  # in the attempt's log, whatever renders the exception
            raise fail_fast(error)
    return not missing


@contextmanager
def _connection(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with tempfile.TemporaryDirectory(prefix="lakeops-duckdb-") as spill:
        # the passes over the delivery stream; what an operator holds past task_memory_mb
        # (the order-preserving COPY's buffers, a sort of rejects) spills to disk
        con = duckdb.connect(config={"temp_directory": spill, "preserve_insertion_order": True,
                                     "memory_limit": f"{settings.task_memory_mb}MB"})
        try:
            register_pseudonym(con, pii_key(settings))
            yield con
        finally:
            con.close()


def _write_raw(con: duckdb.DuckDBPyConnection, contract: Contract, lake: Lake,
               interval: str, checked: str, before_publish: Callable[[], None]
               ) -> tuple[str, int]:
    """Stream the good rows into the raw partition (one pass: memory does not grow with
    the delivery); ``before_publish`` runs after the scan, before the file is in place
    (raising there leaves nothing written)."""
    path = table_path("raw", contract.dataset, partition_dir(interval), "part-0.parquet")
    with lake.staged_file(path) as target:
        written = con.execute(
            f"COPY (SELECT {lake_select(contract)} FROM ({checked}) WHERE _reason IS NULL) "
            f"TO {sqltext.literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
        before_publish()
    return path, int(written[0]) if written else 0


def ingest_table(
    source: str, table: str, interval: str | date, settings: Settings | None = None
) -> dict[str, Any]:
    """Ingest one table's delivery for one daily data interval; returns the manifest.

    Raises :class:`DeliveryMissing` when nothing was delivered, :class:`DeliveryPurged`
    when retention purged the delivery, and :class:`SchemaMismatch` when a file cannot be
    taken as a whole (a missing column, an unreadable file); in all cases nothing is
    written and the delivery stays where it is. File paths in the manifest are relative to
    the landing store's root.
    """
    settings = settings or get_settings()
    interval = iso_day(interval)
    contract = get_contract(source, table)
    lake, landing = Lake.from_settings(settings), Lake.landing(settings)
    try:
        files = find_delivery(landing, contract, interval)
    except DeliveryPurged as exc:
        raise fail_fast(exc) from None
    if not files:
        raise DeliveryMissing(
            f"{contract.name}: no delivery for {interval} in "
            f"{landing.uri(inbox_dir(contract, interval))}"
        )
    manifest = Manifest(source, table, interval, files,
                        history_from=history_from(landing, contract, interval))
    with contextlib.ExitStack() as stack, _connection(settings) as con:
        locals_ = [stack.enter_context(landing.local_copy(f.path)) for f in files]
        with ThreadPoolExecutor(max_workers=1) as pool:  # checksums while DuckDB reads
            digests = [pool.submit(sha256_file, p) for p in locals_]
            readable, names = unpacked(stack, locals_, [f.name for f in files],
                                        manifest.warnings)
            union, rejects = delivered_rows(con, contract, names, readable, manifest.warnings)
            union = normalized_rows(con, contract, union)
            csv_delivery = contract.delivery.format is Format.CSV
            scanning = {name: pool.submit(scan_text, p, contract.delivery.encoding)
                        for name, p in zip(names, readable, strict=True)} if csv_delivery else {}
            checked = checked_rows(con, contract, union)
            manifest.raw_path, manifest.rows_written = _write_raw(
                con, contract, lake, interval, checked, lambda: refuse_undecodable(
                    contract, {name: f.result() for name, f in scanning.items()}))
            rejects.extend(csv_rejects(con, dict(zip(map(str, readable), names, strict=True))))
            withhold_pii(contract, rejects)
            counted = [f.result().lines for f in scanning.values()]
            if not csv_delivery or None in counted or sum(counted) != (  # type: ignore[arg-type]
                    manifest.rows_written + len(rejects)):
                rejects.extend(rule_rejects(con, contract, checked))
            manifest.normalized = normalized_counts(con, contract, checked)
            for f, digest in zip(files, digests, strict=True):
                f.sha256 = digest.result()
    quarantine = pa.Table.from_pylist(rejects, schema=quarantine_schema())
    manifest.quarantine_path = lake.write_partition(
        "quarantine", contract.dataset, interval, quarantine, name=QUARANTINE_FILE
    )
    manifest.rows_rejected = quarantine.num_rows
    manifest.rows_in = manifest.rows_written + manifest.rows_rejected
    manifest.rejected_by_rule = dict(Counter(r["_rule"] for r in rejects))
    archive_delivery(landing, contract, interval, files)
    lake.write_json(
        table_path("raw", contract.dataset, partition_dir(interval), MANIFEST), manifest.to_dict()
    )
    log.info(
        "%s %s: %d rows in, %d written to %s, %d rejected to %s",
        contract.name, interval, manifest.rows_in, manifest.rows_written, manifest.raw_path,
        manifest.rows_rejected, manifest.quarantine_path,
    )
    return manifest.to_dict()


@cache
def ingest_runs_schema() -> pa.Schema:
    return pa.schema([
        ("source", pa.string()),
        ("table", pa.string()),
        ("interval", pa.string()),
        ("files", pa.int32()),
        ("bytes", pa.int64()),
        ("rows_in", pa.int64()),
        ("rows_written", pa.int64()),
        ("rows_rejected", pa.int64()),
        ("warnings", pa.string()),
    ])


def record_interval(
    source: str, interval: str | date, settings: Settings | None = None
) -> dict[str, Any]:
    """Collect the table manifests of one interval into ``monitoring/ingest_runs`` (one row
    per table, replaced on re-run) and return the totals."""
    settings = settings or get_settings()
    interval = iso_day(interval)
    lake = Lake.from_settings(settings)
    rows = []
    for table in TABLES[source]:
        path = table_path("raw", source, table, partition_dir(interval), MANIFEST)
        m = lake.read_json(path)
        rows.append({
            "source": source, "table": table, "interval": interval,
            "files": len(m["files"]), "bytes": sum(f["bytes"] for f in m["files"]),
            "rows_in": m["rows_in"], "rows_written": m["rows_written"],
            "rows_rejected": m["rows_rejected"], "warnings": "; ".join(m["warnings"]),
        })
    lake.write_partition("monitoring", f"ingest_runs/{source}", interval,
                         pa.Table.from_pylist(rows, schema=ingest_runs_schema()))
    totals = {k: sum(r[k] for r in rows) for k in ("rows_in", "rows_written", "rows_rejected")}
    log.info("%s %s: %s", source, interval, totals)
    return {"source": source, "interval": interval, **totals}
