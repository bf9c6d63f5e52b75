"""The contract applied to delivered rows in SQL: the values it rewrites, the rules a row can
break at ingest, and the select that gives the lake its rows.

Every delivered row is checked against the contract's types and null rules in one
expression (:func:`checked_rows`): a row that breaks one is *rejected*, with the rules it
broke, never dropped or silently changed (DuckDB would round ``'4.5'`` to an integer 5: a
fractional value for an integer column is rejected instead). What the contract says a
delivery writes is applied before: a column's own missing markers read as null and its
``normalize`` maps, counted per mapping for the manifest (:func:`normalized_rows`,
:func:`normalized_counts`). The good rows enter the lake typed, PII hashed, generalized or
dropped (:func:`lake_select`). The validation stage adds its own expectations
(:mod:`lakeops.validate.rules`).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from lakeops.catalog.contracts import Column, Contract, PiiAction
from lakeops.core import sqltext
from lakeops.core.lazy import lazy
from lakeops.ingest.pii import PSEUDONYM_FUNCTION

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
else:  # imported when a task runs, not when a DAG file is parsed
    pa = lazy("pyarrow")

# Rules a row can break at ingest; the validation stage adds its own expectations.
RULE_MALFORMED = "ingest.well_formed_record"
RULE_CAST = "ingest.column_type"
RULE_NOT_NULL = "ingest.column_not_null"

INTEGER_TYPES = ("int32", "int64")


@cache
def quarantine_schema() -> pa.Schema:
    """A rejected row as the ingest quarantine keeps it, with the rule it broke."""
    return pa.schema(
        [
            ("_source_file", pa.string()),
            ("_line", pa.int64()),
            ("_rule", pa.string()),
            ("_reason", pa.string()),
            ("_record", pa.string()),
        ]
    )


# -- what the contract rewrites -----------------------------------------------------------


def _norm_column(index: int) -> str:
    return f"_normalized_{index}"


def normalized_rows(con: duckdb.DuckDBPyConnection, contract: Contract, union: str) -> str:
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


def normalized_counts(con: duckdb.DuckDBPyConnection, contract: Contract, checked: str
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


# -- the rules a row can break ------------------------------------------------------------


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


def checked_rows(con: duckdb.DuckDBPyConnection, contract: Contract, union: str) -> str:
    """The delivered rows, each with the rules it broke (``_reason``, NULL when none): a
    relation, read by each pass over the delivery, never materialized."""
    described = con.execute(f"DESCRIBE SELECT * FROM ({union})").fetchall()
    source_types = {row[0]: str(row[1]) for row in described}
    return f"SELECT *, {_reason_sql(contract, source_types)} AS _reason FROM ({union})"


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
            value, key = f"{PSEUDONYM_FUNCTION}({value})", f"{col.name}_hash"
        fields.append(f"{sqltext.ident(key)} := {value}")
    return f"to_json(struct_pack({', '.join(fields)}))::VARCHAR"


def rule_rejects(con: duckdb.DuckDBPyConnection, contract: Contract, checked: str
                 ) -> list[dict[str, Any]]:
    """The rows of ``checked`` that broke a type or null rule, as quarantine records."""
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


# -- what enters the lake -----------------------------------------------------------------


def lake_select(contract: Contract) -> str:
    """Contract columns as they enter the lake: typed, PII hashed/generalized/dropped."""
    out = []
    for col in contract.columns:
        typed = _typed(col)
        if col.pii_action is PiiAction.DROP:
            continue
        if col.pii_action is PiiAction.HASH:
            typed = f"{PSEUDONYM_FUNCTION}({typed}::VARCHAR)"
        elif col.pii_action is PiiAction.YEAR:
            typed = f"year({typed})::INTEGER"
        out.append(f"{typed} AS {sqltext.ident(col.lake_name)}")
    return ", ".join(out)
