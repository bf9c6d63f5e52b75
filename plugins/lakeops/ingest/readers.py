"""Reading a delivery: its files as one DuckDB relation of the contract's columns.

A delivery is read per its contract (:class:`lakeops.catalog.contracts.Delivery`): CSV,
JSON lines or Parquet; a ``.gz`` file decompressed, a ``.zip`` read as its members (named
``<zip>/<member>``); the source's missing markers read as null; an optional column a file
lacks read as null, with a warning. A file lacking a required column, or that cannot be
read at all, is refused whole (:class:`SchemaMismatch`).

CSV files are read by DuckDB's ``read_csv`` with ``store_rejects``, so the good rows
stream from the delivery into the lake in one pass; a line DuckDB cannot read is a reject
(:func:`csv_rejects`), never a failed file. DuckDB decodes only the columns a query reads,
so a thread decodes every file as the contract's encoding meanwhile and counts its lines
(:func:`scan_text`): a file that does not decode is refused whole, naming file, line and
encoding (:func:`refuse_undecodable`), and when the lines add up to the rows written plus
the lines rejected, no row broke a type or null rule and the pass looking for such rows
is skipped.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from lakeops.catalog.contracts import Contract, Format
from lakeops.core import sqltext
from lakeops.core.lazy import lazy
from lakeops.ingest.errors import SchemaMismatch, UndecodableDelivery
from lakeops.ingest.rules import INTEGER_TYPES, RULE_CAST, RULE_MALFORMED
from lakeops.landing.layout import is_delivered_file

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
else:  # imported when a task runs, not when a DAG file is parsed
    pa, pq = lazy("pyarrow"), lazy("pyarrow.parquet")


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
    relation is scanned (see :func:`csv_rejects`)."""
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
        # not applied to it; rules.normalized_rows applies its own
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
    fractional value can be rejected rather than rounded (see :mod:`lakeops.ingest.rules`)."""
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


def csv_rejects(con: duckdb.DuckDBPyConnection, names: dict[str, str]) -> list[dict[str, Any]]:
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


def sha256_file(path: Path) -> str:
    """A local file's sha256 checksum (hex), read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def unpacked(stack: contextlib.ExitStack, locals_: list[Path], names: list[str],
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


def delivered_rows(con: duckdb.DuckDBPyConnection, contract: Contract,
                   names: list[str], locals_: list[Path], warnings: list[str]
                   ) -> tuple[str, list[dict[str, Any]]]:
    """All delivered rows as one relation (contract columns as read + ``_source_file``),
    plus the records a JSON reader already rejected."""
    if contract.delivery.format is Format.CSV:
        relations = _csv_relations(contract, locals_, names, warnings)
        return " UNION ALL ".join(relations), []
    relations, rejects = [], []
    for name, local in zip(names, locals_, strict=True):
        relation, bad = OTHER_LOADERS[contract.delivery.format](
            con, contract, local, name, warnings
        )
        relations.append(relation)
        rejects.extend(bad)
    return " UNION ALL ".join(relations), rejects


def refuse_undecodable(contract: Contract, scans: dict[str, TextScan]) -> None:
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


@dataclass
class TextScan:
    """What a pass over a delivered CSV's bytes found (in a thread, while DuckDB reads)."""
    lines: int | None  # lines after the header; None when the count cannot be trusted
    undecodable: str | None = None  # where the bytes stop being the contract's encoding


def scan_text(path: Path, encoding: str) -> TextScan:
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
