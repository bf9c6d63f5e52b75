"""Delivery files as a source sends them: the formats, bad records and the historical-load
marker.

:func:`write_delivery` writes one table of one day into the folder where ingest looks for
it (:func:`lakeops.landing.layout.inbox_dir`, ``landing/<source>/<table>/<YYYY-MM-DD>/``)
as ``<table>_<YYYYMMDD>.<ext>`` in the contract's format: CSV (every value as text, quoted
where needed), JSON lines (numbers as JSON numbers, anything unparseable as text) or
Parquet (zstd). A CSV increment without rows is its header alone and a JSON lines one is
empty, so "nothing happened" differs from "nothing arrived".

:func:`plant_bad_records` replaces a fraction of a table's rows by bad ones of the kinds a
contract catches (unparseable numbers, nulls in required columns, out-of-range values,
unknown categories, duplicate keys, orphan foreign keys), each still a well-formed line of
its file. :func:`history_load` folds a world's first days into one delivery per table and
:func:`write_history_marker` writes the ``_load.json`` beside it that tells ingest it is a
historical load (:data:`lakeops.landing.layout.LOAD_MARKER`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import date
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lakeops.catalog.contracts import Contract, Format
from lakeops.landing.layout import LOAD_MARKER, inbox_dir
from lakeops.storage.lake import Lake

NUMERIC_TYPES = ("int32", "int64", "float64", "decimal")


class World(Protocol):
    """A synthetic source: every table's rows of a day (day 0 = the world's first)."""

    def day(self, d: int) -> dict[str, pa.Table]: ...


def write_delivery(landing: Lake, contract: Contract, day: date, table: pa.Table) -> str:
    """Write ``table`` (the contract's columns, in its order) as ``day``'s delivery of the
    contract's table into ``landing``; returns the path written."""
    fmt = contract.delivery.format
    table = table.select(contract.column_names)
    if fmt is Format.CSV:
        data = _csv_bytes(table)
    elif fmt is Format.JSONL:
        data = _jsonl_bytes(table, contract)
    else:
        data = _parquet_bytes(table)
    path = f"{inbox_dir(contract, day)}/{contract.table}_{day.strftime('%Y%m%d')}.{fmt.value}"
    landing.write_bytes(path, data)
    return path


def write_history_marker(landing: Lake, contract: Contract, day: date, origin: date,
                         days: int) -> None:
    """Mark ``day``'s delivery of the contract's table as a historical load of ``days``
    days from ``origin``."""
    marker = {"kind": "history", "from": origin.isoformat(), "days": days}
    landing.write_json(f"{inbox_dir(contract, day)}/{LOAD_MARKER}", marker)


def _as_text(table: pa.Table) -> pa.Table:
    """Every column as text, as a feed writes it (timestamps without a 'T')."""
    cols = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pa.compute.strftime(col, format="%Y-%m-%d %H:%M:%S")
        cols[name] = col.cast(pa.string())
    return pa.table(cols)


def _csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(_as_text(table), buf,
                    write_options=pacsv.WriteOptions(quoting_style="needed"))
    return buf.getvalue()


def _jsonl_bytes(table: pa.Table, contract: Contract) -> bytes:
    numeric = {c.name for c in contract.columns if c.type in NUMERIC_TYPES}
    lines = []
    for row in _as_text(table).to_pylist():
        for k, v in row.items():
            if k in numeric and v is not None:  # numbers as JSON numbers, bad values as text
                try:
                    row[k] = json.loads(v)
                except ValueError:
                    pass
        lines.append(json.dumps(row, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


# -- bad records ------------------------------------------------------------------------------


def plant_bad_records(table: pa.Table, contract: Contract, rng: np.random.Generator,
                      fraction: float) -> tuple[pa.Table, int]:
    """Replace about ``fraction`` of the rows by bad ones, cycling through the kinds the
    contract catches; returns the table (all text when rows were replaced) and how many."""
    n = table.num_rows
    k = int(rng.binomial(n, fraction)) if n and fraction > 0 else 0
    if not k:
        return table, 0
    rows = _as_text(table).to_pylist()
    positions = rng.choice(n, size=k, replace=False)
    kinds = _bad_kinds(contract)
    for i, pos in enumerate(sorted(positions)):
        kinds[i % len(kinds)](rows, int(pos))
    return pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string())
                                                        for c in table.column_names])), k


def _bad_kinds(contract: Contract) -> list[Callable[[list[dict], int], None]]:
    cols = contract.columns
    kinds: list[Callable[[list[dict], int], None]] = []
    number = next((c.name for c in cols if c.type in NUMERIC_TYPES
                   and c.name not in contract.primary_key), None)
    required = next((c.name for c in cols if not c.nullable and c.pii == "none"), None)
    ranged = next((c for c in cols if c.max is not None), None)
    category = next((c.name for c in cols if c.allowed and c.type == "string"), None)

    def put(name: str, value: object) -> Callable[[list[dict], int], None]:
        def apply(rows: list[dict], pos: int) -> None:
            rows[pos][name] = value
        return apply

    if number:
        kinds.append(put(number, "abc"))
    if required:
        kinds.append(put(required, None))
    if ranged:
        kinds.append(put(ranged.name, str(int(ranged.max or 0) * 10 + 50)))
    if category:
        kinds.append(put(category, "unknown_value"))
    if contract.primary_key:
        def duplicate(rows: list[dict], pos: int) -> None:
            rows[pos] = dict(rows[pos - 1] if pos else rows[-1])
        kinds.append(duplicate)
    if contract.foreign_keys:
        fk = contract.foreign_keys[-1].columns[-1]
        kinds.append(put(fk, "999999999"))
    return kinds


# -- historical load --------------------------------------------------------------------------


def history_load(world: World, contracts: dict[str, Contract], days: int,
                 ) -> dict[str, pa.Table]:
    """The world's first ``days`` days as one delivery per table, the way a source exports
    its history: a snapshot table as of the last day; an increment table's rows of every
    day, with the latest row per primary key (a withdrawal's change record replaces the
    registration it changes)."""
    per_day = [world.day(d) for d in range(days)]
    out = {}
    for table, contract in contracts.items():
        if contract.delivery.kind == "snapshot":
            out[table] = per_day[-1][table]
            continue
        rows = pa.concat_tables([p[table] for p in per_day], promote_options="default")
        if contract.primary_key and rows.num_rows:
            order = rows.append_column("_i", pa.array(np.arange(rows.num_rows)))
            last = order.group_by(list(contract.primary_key)).aggregate([("_i", "max")])
            latest = last["_i_max"]  # the latest row per key, in delivery order
            rows = rows.take(pc.take(latest, pc.sort_indices(latest)))
        out[table] = rows
    return out
