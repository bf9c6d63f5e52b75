"""Ingest: landing/ deliveries -> raw/ partitions, per source table and data interval.

Deliveries live in the landing store (:meth:`Lake.landing`: beside the lake, never inside
it, with its own keys); what ingest writes goes to the lake (:meth:`Lake.from_settings`).
For one table and one interval this

1. finds the delivery in ``landing/<source>/<table>/<YYYY-MM-DD>/`` (or, on a re-run, in
   the archive it was moved to; files whose name starts with ``.`` or ``_`` are not part
   of a delivery);
2. reads every file per the contract's delivery format and enforces the schema: values
   are cast to the contract's types and a row that cannot be cast, has a null where the
   contract forbids one, or is not a well-formed line is *rejected*, never dropped;
3. pseudonymizes PII with a keyed hash (HMAC-SHA256), generalizes or drops it as the
   contract says;
4. replaces ``raw/<source>/<table>/dt=<interval>/part-0.parquet`` (atomic) and
   ``quarantine/<source>/<table>/dt=<interval>/ingest.parquet`` (rejected rows with the
   rule they broke);
5. writes a manifest (files with checksums, rows in / written / rejected) beside the
   partition, and archives the delivery under ``landing/_archive/``; ingest never deletes
   it (:mod:`lakeops.landing.retention` purges PII-bearing deliveries after
   ``landing_retention_days``, leaving a ``_purged.json`` tombstone with their manifest).

A historical load (a source's onboarding: months of rows in one interval's delivery) is a
delivery whose folder also holds ``_load.json``, ``{"kind": "history", "from": "YYYY-MM-DD"}``,
written by whoever delivers it: its rows may carry event dates from ``from`` up to the
interval. Ingest copies the marker into the manifest (``history_from``) and archives it
with the files, so validation checks event dates against that range instead of the one
day, the volume band counts the load per day it covers, and the feature jobs compute
one partition per day of the range. The interval (and so every partition key) stays the
delivery's day: re-running it gives the same result.

Re-running an interval gives the same partition, the same quarantine and the same
manifest: nothing is appended, everything is replaced. Re-running an interval whose
delivery was purged fails at once with :class:`DeliveryPurged`.

Reading and casting run in DuckDB (``read_csv`` with ``store_rejects`` for CSV), so the
hot path is as fast as a plain DuckDB CSV->Parquet copy: the good rows stream from the
delivery into the partition in one pass (memory bounded by ``task_memory_mb`` whatever the
delivery's size), while a thread checksums the files, decodes them as the contract's
encoding and counts their lines; a second pass for the rows breaking a type or null rule
runs only when the lines do not add up to the rows written and the lines rejected.

What the contract says a delivery writes is applied on the way in: the missing markers of
the source and of each column, the columns' ``normalize`` maps (rows rewritten per mapping
in the manifest's ``normalized``), optional columns a file lacks (null, with a manifest
warning), compressed files (``.csv.gz``, a ``.zip`` of CSVs) and the encoding (a file that
does not decode is refused whole, naming file, line and encoding).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import hashlib
import hmac
import io
import json
import logging
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from lakeops.catalog.contracts import TABLES, Column, Contract, Format, PiiAction, get_contract
from lakeops.core import sqltext
from lakeops.core.keys import pii_key
from lakeops.core.lazy import lazy
from lakeops.core.settings import Settings, get_settings
from lakeops.storage.lake import Lake, partition_dir, table_path

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
else:  # imported when a task runs, not when a DAG file is parsed
    duckdb, pa, pq = lazy("duckdb"), lazy("pyarrow"), lazy("pyarrow.parquet")

log = logging.getLogger(__name__)

ARCHIVE = "landing/_archive"
# left in an archived delivery's folder when retention purged its files
PURGED = "_purged.json"
QUARANTINE_FILE = "ingest.parquet"
MANIFEST = "_manifest.json"
# beside a delivery's files: it is a historical load covering days before its interval
LOAD_MARKER = "_load.json"

# Rules a row can break at ingest; the validation stage adds its own expectations.
RULE_MALFORMED = "ingest.well_formed_record"
RULE_CAST = "ingest.column_type"
RULE_NOT_NULL = "ingest.column_not_null"

@cache
def quarantine_schema() -> pa.Schema:
    return pa.schema(
        [
            ("_source_file", pa.string()),
            ("_line", pa.int64()),
            ("_rule", pa.string()),
            ("_reason", pa.string()),
            ("_record", pa.string()),
        ]
    )


class IngestError(Exception):
    """A delivery the pipeline cannot take as a whole (the files are kept as delivered)."""


class DeliveryMissing(IngestError):
    """Nothing was delivered for the interval (at ingest), or not within
    ``LAKEOPS_DELIVERY_TIMEOUT_S`` of the run's start (the sensor)."""


class SchemaMismatch(IngestError):
    pass


class UndecodableDelivery(SchemaMismatch):
    """A CSV file holds bytes its contract's encoding cannot decode: the file is refused
    whole (a line of it is not the text the delivery claims to be), nothing is written."""


class DeliveryPurged(IngestError):
    """The interval's delivery was purged by the retention rule; only its manifest is left.
    Waiting or retrying cannot help: the file has to be delivered again."""


_FAILING_AT_ONCE: dict[type[IngestError], type[IngestError]] = {}


def _fail_fast(exc: IngestError) -> IngestError:
    """``exc`` as an instance of its class that is also Airflow's ``AirflowFailException``
    when Airflow is installed, so a task or sensor raising it fails at once, without retry
    or further waiting (Airflow is imported here, when raised, so this module stays
    importable without it)."""
    cls = type(exc)
    if cls not in _FAILING_AT_ONCE:
        try:
            from airflow.sdk.exceptions import AirflowFailException
        except ImportError:  # the CLI or a test without Airflow
            return exc
        _FAILING_AT_ONCE[cls] = type(cls.__name__, (cls, AirflowFailException),
                                     {"__module__": cls.__module__})
    return _FAILING_AT_ONCE[cls](*exc.args)


@dataclass
class DeliveredFile:
    path: str  # where it is now (inbox or archive)
    name: str
    bytes: int
    sha256: str = ""
    archived_to: str = ""


@dataclass
class Manifest:
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


def _iso(interval: date | str) -> str:
    return interval.isoformat() if isinstance(interval, date) else str(interval)[:10]


def inbox_dir(contract: Contract, interval: date | str) -> str:
    return table_path("landing", contract.source, contract.table, _iso(interval))


def archive_dir(contract: Contract, interval: date | str) -> str:
    return f"{ARCHIVE}/{contract.source}/{contract.table}/{_iso(interval)}"


def tombstone_path(contract: Contract, interval: date | str) -> str:
    """Where retention leaves a purged delivery's manifest (kept forever)."""
    return f"{archive_dir(contract, interval)}/{PURGED}"


def is_delivered_file(name: str) -> bool:
    """A file of a delivery, not a marker (``.``-hidden files, ``_purged.json``)."""
    return not name.startswith((".", "_"))


def find_delivery(landing: Lake, contract: Contract, interval: date | str
                  ) -> list[DeliveredFile]:
    """The files of an interval's delivery in the landing store: the inbox if anything is
    there (a new or corrected delivery), else what an earlier run archived. Empty when
    nothing arrived; :class:`DeliveryPurged` when retention purged it."""
    for folder in (inbox_dir(contract, interval), archive_dir(contract, interval)):
        files = [f for f in landing.ls(folder) if is_delivered_file(f.path.rsplit("/", 1)[-1])]
        if files:
            return [DeliveredFile(f.path, f.path.rsplit("/", 1)[-1], f.size) for f in files]
    tombstone = tombstone_path(contract, interval)
    if landing.exists(tombstone):
        purge = landing.read_json(tombstone)
        raise DeliveryPurged(
            f"the delivery of {contract.name} for {_iso(interval)} was purged on "
            f"{purge['purged_on']} under the {purge['retention_days']}-day retention rule for "
            f"PII-bearing deliveries; its manifest is kept at {landing.uri(tombstone)}; "
            f"deliver the file again to re-process"
        )
    return []


def history_from(landing: Lake, contract: Contract, interval: date | str) -> str | None:
    """The first day a historical load delivered for ``interval`` covers (its
    ``_load.json`` marker, in the inbox or the archive); None for a daily delivery. A
    marker that is not a well-formed history declaration is a :class:`SchemaMismatch`."""
    for folder in (inbox_dir(contract, interval), archive_dir(contract, interval)):
        path = f"{folder}/{LOAD_MARKER}"
        if not landing.exists(path):
            continue
        marker = landing.read_json(path)
        try:
            first = date.fromisoformat(str(marker["from"]))
            ok = marker.get("kind") == "history" and first <= date.fromisoformat(_iso(interval))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise SchemaMismatch(
                f"{contract.name}: {landing.uri(path)} is not a historical-load marker: "
                f'expected {{"kind": "history", "from": "YYYY-MM-DD"}} with "from" on or '
                f"before {_iso(interval)}, got {json.dumps(marker)}")
        return first.isoformat()
    return None


def missing_deliveries(
    source: str, interval: date | str, settings: Settings | None = None
) -> list[str]:
    """Tables of ``source`` whose delivery for ``interval`` has not arrived (raises
    :class:`DeliveryPurged` when one was purged)."""
    settings = settings or get_settings()
    landing = Lake.landing(settings)
    return [
        table
        for table in TABLES[source]
        if not find_delivery(landing, get_contract(source, table), interval)
    ]


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
        raise _fail_fast(exc) from None
    if missing:
        where = f"{Lake.landing(settings).uri(f'landing/{source}')}/<table>/{_iso(interval)}/"
        try:  # a template of a run without a start renders "None": no bound then
            since = datetime.fromisoformat(str(waiting_since)) if waiting_since else None
        except ValueError:
            since = None
        # every poke names what is missing, the last one too: a retry that starts past
        # the bound fails at its first poke, and its log must still say what it waited for
        log.info("waiting for %s deliveries of %s: %s (expected under %s)",
                 source, _iso(interval), ", ".join(missing), where)
        if since is not None and (datetime.now(UTC) - since).total_seconds() \
                > settings.delivery_timeout_s:
            error = DeliveryMissing(
                f"{source} deliveries of {_iso(interval)} did not arrive within "
                f"{settings.delivery_timeout_s} s (LAKEOPS_DELIVERY_TIMEOUT_S) of the run's "
                f"start: {', '.join(missing)} (expected under {where}); deliver them and "
                "clear the run")
            log.error("%s", error)  # in the attempt's log, whatever renders the exception
            raise _fail_fast(error)
    return not missing


# -- reading ------------------------------------------------------------------------------




def _open_delivered(path: Path) -> BinaryIO:
    """A delivered file's bytes, a gzip-compressed one (``*.gz``) decompressed."""
    return cast(BinaryIO, gzip.open(path, "rb")) if path.name.endswith(".gz") \
        else path.open("rb")


# a contract's delivery encoding as Python names it (a UTF-8 file may start with a BOM)
PY_ENCODINGS = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1"}


def _csv_header(path: Path, name: str, encoding: str = "utf-8") -> list[str]:
    """The column names of a CSV file's first line (quoted or not, after a byte-order
    mark), decoded as the contract's ``encoding``."""
    try:
        if encoding == "utf-16":  # a line break is two bytes: read it as text
            with io.TextIOWrapper(_open_delivered(path), encoding="utf-16", newline="") as fh:
                first = fh.readline()
        else:  # the header's own bytes only: a bad byte further on is the reader's to report
            with _open_delivered(path) as raw:
                first = raw.readline().decode(PY_ENCODINGS[encoding])
    except UnicodeDecodeError as exc:
        raise UndecodableDelivery(
            f"{name}: line 1 (the header) is not {encoding} text ({exc.reason} at byte "
            f"{exc.start}); the contract's delivery encoding is {encoding}") from exc
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise SchemaMismatch(f"{name}: cannot read the file ({exc})") from exc
    if not first.strip():
        raise SchemaMismatch(f"{name}: empty file, no CSV header")
    return header_fields(first)


def header_fields(line: str) -> list[str]:
    """The column names of a CSV header line (quoted or not, its line break dropped)."""
    return [h.strip() for h in next(csv.reader([line.rstrip("\r\n")]), [])]


def _check_columns(contract: Contract, name: str, present: list[str],
                   warnings: list[str]) -> list[str]:
    """Refuse a file lacking a required column; returns the optional columns it lacks
    (read as null, with a warning)."""
    absent = [c for c in contract.columns if c.name not in present]
    missing = [c.name for c in absent if not c.optional]
    if missing:
        raise SchemaMismatch(
            f"{contract.name}: delivery file {name} lacks column(s) {', '.join(missing)} "
            f"required by the contract (found: {', '.join(present)})"
        )
    if absent:
        warnings.append(f"{name}: optional column(s) absent, read as null: "
                        f"{', '.join(c.name for c in absent)}")
    extra = [c for c in present if c not in contract.column_names]
    if extra:
        warnings.append(f"{name}: column(s) not in the contract ignored: {', '.join(extra)}")
    return [c.name for c in absent]


def _csv_relations(contract: Contract, locals_: list[Path], names: list[str],
                   warnings: list[str]) -> list[str]:
    """Typed ``read_csv`` relations, one per distinct header (files that share a header are
    read in one parallel scan). Lines DuckDB cannot read go to ``reject_errors`` when a
    relation is scanned (see :func:`_csv_rejects`)."""
    groups: dict[tuple[str, ...], list[Path]] = {}
    encoding = contract.delivery.encoding
    for local, name in zip(locals_, names, strict=True):
        header = _csv_header(local, name, encoding)
        _check_columns(contract, name, header, warnings)
        groups.setdefault(tuple(header), []).append(local)
    relations = []
    # each row names the file as delivered (a zip's member as <zip>/<member>)
    source_file = "CASE filename " + " ".join(
        f"WHEN {sqltext.literal(str(p))} THEN {sqltext.literal(n)}"
        for p, n in zip(locals_, names, strict=True)) + " END"
    nulls = _sql_list(contract.delivery.missing_values)
    for columns_of_file, paths in groups.items():
        types = {h: _csv_read_type(contract, h) for h in columns_of_file}
        columns = "{" + ", ".join(f"{sqltext.literal(k)}: {sqltext.literal(v)}"
                                  for k, v in types.items()) + "}"
        listing = _sql_list([str(p) for p in paths])
        # a column with its own missing markers is read as text, the delivery's markers
        # not applied to it; _staged applies its own
        own = [c.name for c in contract.columns
               if c.missing_values is not None and c.name in columns_of_file]
        keep_text = f"force_not_null=[{', '.join(map(sqltext.literal, own))}], " if own else ""
        cols = ", ".join(
            sqltext.ident(c.name) if c.name in columns_of_file
            else f"CAST(NULL AS {_csv_read_type(contract, c.name)}) AS {sqltext.ident(c.name)}"
            for c in contract.columns)
        relations.append(
            f"SELECT {cols}, {source_file} AS _source_file FROM read_csv({listing}, "
            f"header=true, auto_detect=false, delim=',', quote='\"', escape='\"', "
            f"nullstr={nulls}, {keep_text}encoding={sqltext.literal(encoding)}, "
            f"columns={columns}, store_rejects=true, filename=true, "
            f"timestampformat='%Y-%m-%d %H:%M:%S', dateformat='%Y-%m-%d')"
        )
    return relations


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(sqltext.literal(v) for v in values) + "]::VARCHAR[]"


def _csv_read_type(contract: Contract, header: str) -> str:
    """How the CSV reader parses a column: the contract's type, but integers as DOUBLE so a
    fractional value can be rejected rather than rounded (see :func:`_castable`)."""
    if header not in contract.column_names:
        return "VARCHAR"
    col = contract.column(header)
    if col.missing_values is not None:  # its own markers are compared as text
        return "VARCHAR"
    return "DOUBLE" if col.type in INTEGER_TYPES else col.duckdb_type


def _has_rejects(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a CSV scan ran (its ``reject_errors`` table exists)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'reject_errors'").fetchone()
    return bool(found and found[0])


def _csv_rejects(con: duckdb.DuckDBPyConnection, names: dict[str, str]) -> list[dict[str, Any]]:
    """Lines the CSV reader rejected, one row per line with every error on it."""
    if not _has_rejects(con):
        return []
    rows = con.execute(
        "SELECT s.file_path, e.line, "
        "string_agg(e.error_type || ': ' || e.error_message, '; ' ORDER BY e.column_idx), "
        "any_value(e.csv_line), bool_or(e.error_type <> 'CAST') "
        "FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id) "
        "GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    return [
        {"_source_file": names.get(path, Path(path).name), "_line": int(line),
         "_rule": RULE_MALFORMED if malformed else RULE_CAST, "_reason": reason,
         "_record": _as_delivered(raw)}
        for path, line, reason, raw, malformed in rows
    ]


def _as_delivered(line: str | None) -> str | None:
    """A rejected CSV line as the file holds it, without its line break. DuckDB's copy of a
    CRLF file's line starts after the previous line's ``\r``, so with a stray ``\n``: no
    delivered line starts with one (that would be an empty line)."""
    if line is None:
        return None
    return line.removeprefix("\n").removesuffix("\n").removesuffix("\r")


def _register(con: duckdb.DuckDBPyConnection, table: pa.Table, name: str) -> str:
    """An in-memory delivered file as a relation with its ``_source_file``."""
    table = table.append_column("_source_file", pa.array([name] * table.num_rows, pa.string()))
    view = f"delivered_{len(con.execute('SHOW TABLES').fetchall())}_{id(table)}"
    con.register(view, table)
    return f"SELECT * FROM {view}"


def _load_jsonl(con: duckdb.DuckDBPyConnection, contract: Contract, local: Path, name: str,
                warnings: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """JSON lines parsed line by line: a broken line is a reject, not a failed file."""
    records: dict[str, list[str | None]] = {c: [] for c in contract.column_names}
    rejects: list[dict[str, Any]] = []
    seen: set[str] = set()
    with local.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict):
                    raise ValueError("a JSON line must hold an object")
            except (ValueError, UnicodeDecodeError) as exc:
                rejects.append({"_source_file": name, "_line": number, "_rule": RULE_MALFORMED,
                                "_reason": f"invalid JSON line: {exc}",
                                "_record": raw.decode("utf-8", "replace").rstrip("\n")})
                continue
            seen.update(obj)
            for col, values in records.items():
                value = obj.get(col)
                values.append(None if value is None else
                              value if isinstance(value, str) else json.dumps(value))
    if seen:
        _check_columns(contract, name, sorted(seen), warnings)
    table = pa.table({c: pa.array(v, pa.string()) for c, v in records.items()})
    return _register(con, table, name), rejects


def _load_parquet(con: duckdb.DuckDBPyConnection, contract: Contract, local: Path, name: str,
                  warnings: list[str]) -> tuple[str, list[dict[str, Any]]]:
    try:
        table = pq.read_table(local)
    except (pa.ArrowException, OSError) as exc:
        raise SchemaMismatch(f"{contract.name}: cannot read Parquet file {name}: {exc}") from exc
    for absent in _check_columns(contract, name, table.column_names, warnings):
        table = table.append_column(absent, pa.nulls(table.num_rows,
                                                     contract.column(absent).arrow_type))
    return _register(con, table.select(contract.column_names), name), []


OTHER_LOADERS = {Format.JSONL: _load_jsonl, Format.PARQUET: _load_parquet}


# -- typing, pseudonymization -------------------------------------------------------------


INTEGER_TYPES = ("int32", "int64")


def _typed(col: Column) -> str:
    return f"TRY_CAST({sqltext.ident(col.name)} AS {col.duckdb_type})"


def _castable(col: Column, source_type: str) -> str:
    """SQL that is true when a non-null delivered value is a valid ``col.type``.

    DuckDB rounds ``'4.5'`` to 5 when casting to an integer; a contract says integer, so a
    fractional value is rejected instead of silently changed."""
    name, typed = sqltext.ident(col.name), _typed(col)
    if col.type in INTEGER_TYPES and source_type == "DOUBLE":
        return f"({typed} IS NOT NULL AND {name} = trunc({name}))"
    if col.type in INTEGER_TYPES and source_type == "VARCHAR":
        return f"({typed} IS NOT NULL AND regexp_full_match(trim({name}), '[+-]?[0-9]+'))"
    return f"{typed} IS NOT NULL"


def _reason_sql(contract: Contract, source_types: dict[str, str]) -> str:
    """A ``_reason`` expression: NULL for a good row, else every broken rule."""
    parts = []
    for col in contract.columns:
        name = sqltext.ident(col.name)
        if source_types[col.name] != col.duckdb_type:
            parts.append(
                f"CASE WHEN {name} IS NOT NULL AND NOT {_castable(col, source_types[col.name])} "
                f"THEN '{RULE_CAST}: {col.name}: cannot read ' || {name}::VARCHAR || "
                f"' as {col.type}' END"
            )
        if not col.nullable:
            parts.append(
                f"CASE WHEN {name} IS NULL THEN "
                f"'{RULE_NOT_NULL}: {col.name}: null in a non-nullable column' END"
            )
    return f"NULLIF(concat_ws('; ', {', '.join(parts)}), '')" if parts else "NULL::VARCHAR"


def _lake_select(contract: Contract) -> str:
    """Contract columns as they enter the lake: typed, PII hashed/generalized/dropped."""
    out = []
    for col in contract.columns:
        typed = _typed(col)
        if col.pii_action is PiiAction.DROP:
            continue
        if col.pii_action is PiiAction.HASH:
            typed = f"lakeops_pseudonym({typed}::VARCHAR)"
        elif col.pii_action is PiiAction.YEAR:
            typed = f"year({typed})::INTEGER"
        out.append(f"{typed} AS {sqltext.ident(col.lake_name)}")
    return ", ".join(out)


def _register_pseudonym(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    def pseudonym(values: pa.Array) -> pa.Array:
        out = [None if v is None else pseudonymize(v, key) for v in values.to_pylist()]
        return pa.array(out, pa.string())

    con.create_function(
        "lakeops_pseudonym", pseudonym, ["VARCHAR"], "VARCHAR",  # type: ignore[call-overload]
        type="arrow", null_handling="special",
    )


def pseudonymize(value: str, key: bytes) -> str:
    """The keyed hash the lake stores for a PII value (normalized: trimmed, lowercase)."""
    return hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()


# -- the task -----------------------------------------------------------------------------


@contextmanager
def _connection(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with tempfile.TemporaryDirectory(prefix="lakeops-duckdb-") as spill:
        # the passes over the delivery stream; what an operator holds past task_memory_mb
        # (the order-preserving COPY's buffers, a sort of rejects) spills to disk
        con = duckdb.connect(config={"temp_directory": spill, "preserve_insertion_order": True,
                                     "memory_limit": f"{settings.task_memory_mb}MB"})
        try:
            _register_pseudonym(con, pii_key(settings))
            yield con
        finally:
            con.close()


def _sha256_local(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _unpacked(stack: contextlib.ExitStack, locals_: list[Path], names: list[str],
              warnings: list[str]) -> tuple[list[Path], list[str]]:
    """The files the readers take: a delivered ``.zip`` is its members (extracted into a
    temporary folder, named ``<zip>/<member>``), every other file itself. A member whose
    name is not a delivery (``__MACOSX/``, hidden files, folders) is skipped with a
    warning; a zip that cannot be opened is a :class:`SchemaMismatch` naming it."""
    out_paths, out_names = [], []
    for local, name in zip(locals_, names, strict=True):
        if not name.lower().endswith(".zip"):
            out_paths.append(local)
            out_names.append(name)
            continue
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lakeops-zip-")))
        try:
            with zipfile.ZipFile(local) as zf:
                for i, member in enumerate(zf.infolist()):
                    base = Path(member.filename).name
                    if member.is_dir() or "__MACOSX/" in member.filename \
                            or not is_delivered_file(base):
                        warnings.append(f"{name}: member {member.filename} skipped")
                        continue
                    target = folder / f"{i}-{base}"  # DuckDB reads the extension
                    with zf.open(member) as src, target.open("wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                    out_paths.append(target)
                    out_names.append(f"{name}/{member.filename}")
        except (zipfile.BadZipFile, OSError) as exc:
            raise SchemaMismatch(f"{name}: cannot read the zip archive ({exc})") from exc
    if not out_paths:
        raise SchemaMismatch(f"no delivered file in {', '.join(names)}")
    return out_paths, out_names


def _stage(con: duckdb.DuckDBPyConnection, contract: Contract,
           names: list[str], locals_: list[Path], warnings: list[str]
           ) -> tuple[str, list[dict[str, Any]]]:
    """All delivered rows as one relation (contract columns + ``_source_file``), plus the
    records a JSON reader already rejected."""
    if contract.delivery.format is Format.CSV:
        relations = _csv_relations(contract, locals_, names, warnings)
        return _staged(con, contract, " UNION ALL ".join(relations)), []
    relations, rejects = [], []
    for name, local in zip(names, locals_, strict=True):
        relation, bad = OTHER_LOADERS[contract.delivery.format](
            con, contract, local, name, warnings
        )
        relations.append(relation)
        rejects.extend(bad)
    return _staged(con, contract, " UNION ALL ".join(relations)), rejects


def _norm_column(index: int) -> str:
    return f"_normalized_{index}"


def _staged(con: duckdb.DuckDBPyConnection, contract: Contract, union: str) -> str:
    """The delivered rows with the contract's own missing markers of a column read as null
    and its ``normalize`` maps applied (text columns), plus, per normalized column, which
    mapping rewrote the row's value (1-based; NULL for none) for the manifest's counts."""
    types = {row[0]: str(row[1]) for row in
             con.execute(f"DESCRIBE SELECT * FROM ({union})").fetchall()}
    exprs, marks = [], []
    for i, col in enumerate(contract.columns):
        name = sqltext.ident(col.name)
        value = name
        if types[col.name] != "VARCHAR" or (col.missing_values is None and not col.normalize):
            exprs.append(name)
            continue
        if col.missing_values is not None:
            value = (f"CASE WHEN {value} IN ({', '.join(map(sqltext.literal, col.missing_values))}"
                     f") THEN NULL ELSE {value} END" if col.missing_values else value)
        if col.normalize:
            whens = " ".join(f"WHEN {sqltext.literal(k)} THEN {sqltext.literal(v)}"
                             for k, v in col.normalize.items())
            marks.append(f"CASE {name} " + " ".join(
                f"WHEN {sqltext.literal(k)} THEN {j}" for j, k in enumerate(col.normalize, 1))
                + f" END::UTINYINT AS {_norm_column(i)}")
            value = f"CASE {value} {whens} ELSE {value} END"
        exprs.append(f"{value} AS {name}")
    return f"SELECT {', '.join([*exprs, *marks, '_source_file'])} FROM ({union})"


def _normalized_counts(con: duckdb.DuckDBPyConnection, contract: Contract, checked: str
                       ) -> dict[str, dict[str, int]]:
    """Rows written whose value a ``normalize`` mapping rewrote, per column and mapping
    (zeros included: the rule ran); one more pass, for such contracts only."""
    if not any(col.normalize for col in contract.columns):
        return {}
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM ({checked})").fetchall()}
    out: dict[str, dict[str, int]] = {}
    for i, col in enumerate(contract.columns):
        if not col.normalize:
            continue
        counts = dict(con.execute(
            f"SELECT {_norm_column(i)}, count(*) FROM ({checked}) WHERE _reason IS NULL "
            f"AND {_norm_column(i)} IS NOT NULL GROUP BY 1").fetchall()
        ) if _norm_column(i) in present else {}
        out[col.name] = {f"{k} -> {v}": int(counts.get(j, 0))
                         for j, (k, v) in enumerate(col.normalize.items(), 1)}
    return out


def _refuse_undecodable(contract: Contract, scans: dict[str, TextScan]) -> None:
    """Raise :class:`UndecodableDelivery` when a delivered CSV holds bytes the contract's
    encoding does not decode (``scans``: the files as delivered -> what their scan found)."""
    bad = {name: scan.undecodable for name, scan in scans.items() if scan.undecodable}
    if bad:
        encoding = contract.delivery.encoding
        where = "; ".join(f"{name} {found}" for name, found in bad.items())
        raise UndecodableDelivery(
            f"{contract.name}: not {encoding} text (the contract's delivery encoding): "
            f"{where}; nothing was written, the delivery is kept as delivered - re-deliver "
            f"it as {encoding}, or declare the file's encoding in the contract")


def _checked(con: duckdb.DuckDBPyConnection, contract: Contract, union: str) -> str:
    """The delivered rows, each with the rules it broke (``_reason``, NULL when none): a
    relation, read by each pass over the delivery, never materialized."""
    described = con.execute(f"DESCRIBE SELECT * FROM ({union})").fetchall()
    source_types = {row[0]: str(row[1]) for row in described}
    return f"SELECT *, {_reason_sql(contract, source_types)} AS _reason FROM ({union})"


def _write_raw(con: duckdb.DuckDBPyConnection, contract: Contract, lake: Lake,
               interval: str, checked: str, before_publish: Callable[[], None]
               ) -> tuple[str, int]:
    """Stream the good rows into the raw partition (one pass: memory does not grow with
    the delivery); ``before_publish`` runs after the scan, before the file is in place
    (raising there leaves nothing written)."""
    path = table_path("raw", contract.dataset, partition_dir(interval), "part-0.parquet")
    with lake.staged_file(path) as target:
        written = con.execute(
            f"COPY (SELECT {_lake_select(contract)} FROM ({checked}) WHERE _reason IS NULL) "
            f"TO {sqltext.literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
        before_publish()
    return path, int(written[0]) if written else 0


def _checked_rejects(con: duckdb.DuckDBPyConnection, contract: Contract, checked: str
                     ) -> list[dict[str, Any]]:
    rows = con.execute(
        f"SELECT _source_file, _reason, {_record_sql(contract)} FROM ({checked}) "
        "WHERE _reason IS NOT NULL ORDER BY _source_file"
    ).fetchall()
    return [
        {"_source_file": source_file, "_line": None,
         "_rule": RULE_NOT_NULL if reason.startswith(RULE_NOT_NULL) else RULE_CAST,
         "_reason": reason, "_record": record}
        for source_file, reason, record in rows
    ]


@dataclass
class TextScan:
    """What a pass over a delivered CSV's bytes found (in a thread, while DuckDB reads)."""
    lines: int | None  # lines after the header; None when the count cannot be trusted
    undecodable: str | None = None  # where the bytes stop being the contract's encoding


def _scan_text(path: Path, encoding: str) -> TextScan:
    """Decode the whole file as ``encoding`` (DuckDB decodes only the columns a query
    reads, so a bad byte in a dropped column would pass) and count its lines after the
    header. Each row takes one line or more, so when the lines equal the rows written
    plus the lines the reader rejected, no row broke a type or null rule and the pass
    looking for such rows is skipped. Lines are not counted in UTF-16, nor when line ends
    are not ``\\n``."""
    decoder = codecs.getincrementaldecoder(PY_ENCODINGS[encoding])()
    lines, last, cr_only = 0, b"\n", False
    with _open_delivered(path) as fh:
        while chunk := fh.read(1 << 22):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines + chunk[:exc.start].count(b"\n") + 1
                return TextScan(None, f"line {line} ({exc.reason})")
            lines += chunk.count(b"\n")
            cr_only = cr_only or (not lines and b"\r" in chunk)
            last = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return TextScan(None, f"line {lines + 1} ({exc.reason}: the file ends mid-character)")
    if encoding == "utf-16" or (cr_only and not lines):
        return TextScan(None)
    return TextScan(max(0, lines + (last != b"\n") - 1))


def _record_sql(contract: Contract) -> str:
    """A rejected row as JSON text with PII pseudonymized as in raw/, never in clear. A PII
    value that could not be cast is hashed as delivered."""
    fields = []
    for col in contract.columns:
        if col.pii_action is PiiAction.DROP:
            continue
        value = f"{sqltext.ident(col.name)}::VARCHAR"
        if col.type in INTEGER_TYPES:  # integers are read as DOUBLE: show 7, not 7.0
            num = f"TRY_CAST({sqltext.ident(col.name)} AS DOUBLE)"
            value = (f"CASE WHEN {num} = trunc({num}) THEN TRY_CAST({num} AS HUGEINT)::VARCHAR "
                     f"ELSE {value} END")
        key = col.name
        if col.pii_action is not PiiAction.KEEP:
            value, key = f"lakeops_pseudonym({value})", f"{col.name}_hash"
        fields.append(f"{sqltext.ident(key)} := {value}")
    return f"to_json(struct_pack({', '.join(fields)}))::VARCHAR"


def _withhold_pii(contract: Contract, rejects: list[dict[str, Any]]) -> None:
    """A line the reader rejected is raw text; for a PII-bearing table it is not copied into
    the lake, only pointed at (the delivery itself is archived as delivered)."""
    if not contract.pii_columns:
        return
    for r in rejects:
        r["_record"] = (
            f"<withheld: {contract.name} carries PII; see line {r['_line']} of the archived "
            f"delivery {r['_source_file']}>"
        )


def _archive(landing: Lake, contract: Contract, interval: str,
             files: list[DeliveredFile]) -> None:
    """Move inbox files to the archive (in the landing store). An archived file of the same
    name with other bytes (an earlier delivery) is kept beside it under its checksum, never
    overwritten."""
    dest_dir = archive_dir(contract, interval)
    for f in files:
        dest = f"{dest_dir}/{f.name}"
        if f.path == dest:
            f.archived_to = dest
            continue
        if landing.exists(dest):
            old = landing.sha256(dest)
            if old == f.sha256:
                landing.delete(f.path)  # the same bytes delivered twice: one copy is enough
                f.archived_to = dest
                continue
            landing.move(dest, f"{dest}.{old[:12]}")
        landing.move(f.path, dest)
        f.archived_to = dest
    marker = f"{inbox_dir(contract, interval)}/{LOAD_MARKER}"
    if landing.exists(marker):
        landing.move(marker, f"{dest_dir}/{LOAD_MARKER}")


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
    interval = _iso(interval)
    contract = get_contract(source, table)
    lake, landing = Lake.from_settings(settings), Lake.landing(settings)
    try:
        files = find_delivery(landing, contract, interval)
    except DeliveryPurged as exc:
        raise _fail_fast(exc) from None
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
            digests = [pool.submit(_sha256_local, p) for p in locals_]
            readable, names = _unpacked(stack, locals_, [f.name for f in files],
                                        manifest.warnings)
            union, rejects = _stage(con, contract, names, readable, manifest.warnings)
            csv_delivery = contract.delivery.format is Format.CSV
            scanning = {name: pool.submit(_scan_text, p, contract.delivery.encoding)
                        for name, p in zip(names, readable, strict=True)} if csv_delivery else {}
            checked = _checked(con, contract, union)
            manifest.raw_path, manifest.rows_written = _write_raw(
                con, contract, lake, interval, checked, lambda: _refuse_undecodable(
                    contract, {name: f.result() for name, f in scanning.items()}))
            rejects.extend(_csv_rejects(con, dict(zip(map(str, readable), names, strict=True))))
            _withhold_pii(contract, rejects)
            counted = [f.result().lines for f in scanning.values()]
            if not csv_delivery or None in counted or sum(counted) != (  # type: ignore[arg-type]
                    manifest.rows_written + len(rejects)):
                rejects.extend(_checked_rejects(con, contract, checked))
            manifest.normalized = _normalized_counts(con, contract, checked)
            for f, digest in zip(files, digests, strict=True):
                f.sha256 = digest.result()
    quarantine = pa.Table.from_pylist(rejects, schema=quarantine_schema())
    manifest.quarantine_path = lake.write_partition(
        "quarantine", contract.dataset, interval, quarantine, name=QUARANTINE_FILE
    )
    manifest.rows_rejected = quarantine.num_rows
    manifest.rows_in = manifest.rows_written + manifest.rows_rejected
    manifest.rejected_by_rule = dict(Counter(r["_rule"] for r in rejects))
    _archive(landing, contract, interval, files)
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
    interval = _iso(interval)
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
