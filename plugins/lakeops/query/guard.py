"""The read-only endpoint's two walls around a statement: before translation and after.

:func:`check_one_statement` and :func:`check_query` read the statement as the user sent
it: one statement, a query (``SELECT`` / ``WITH`` / ``VALUES`` / ``FROM``) unless it is one
of Dremio's metadata statements, no DuckDB function that would show how the endpoint
reaches the lake (its S3 secret).
:func:`check_references` then walks DuckDB's own parse tree of the translated statement
(``json_serialize_sql``) so that nothing but the views the caller is granted is read: no
file functions (``read_csv``, ``read_parquet``, ``glob``...), no ``FROM 'file.csv'``
replacement scans, no DuckDB catalog, no ``query()``. Parsing with DuckDB's parser, not
ours, means no SQL DuckDB accepts can slip past the check.
"""

from __future__ import annotations

import re
from typing import Any

from lakeops.query.errors import SQLRefused
from lakeops.query.grants import Grant
from lakeops.query.names import Names
from lakeops.query.tokens import Token

READ_KEYWORDS = {"SELECT", "WITH", "VALUES", "FROM"}
# DuckDB functions that would show how the endpoint reaches the lake (its S3 secret)
PRIVATE_FUNCTIONS = {"duckdb_secrets", "which_secret", "duckdb_settings", "current_setting"}
# table functions that read no data: everything else (read_csv, read_parquet, glob,
# read_text, read_blob, query, duckdb_*()...) is refused
PURE_TABLE_FUNCTIONS = {"range", "generate_series", "unnest"}
# table references DuckDB's parse tree may hold that read nothing by themselves
PLAIN_REFS = {"SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY_FROM", "EMPTY", "PIVOT"}
FILE_FUNCTION = re.compile(r"^(read_|parquet_|sniff_|glob$|iceberg_|delta_)")


def check_one_statement(sig: list[Token]) -> None:
    """Refuse an empty statement or several (``sig``: the statement's tokens without
    whitespace and comments)."""
    if not sig:
        raise SQLRefused("empty statement")
    if any(t.kind == "other" and t.text == ";" for t in sig):
        raise SQLRefused("one statement per query")


def check_query(sig: list[Token]) -> None:
    """Refuse a statement that is not a query, or calls a private DuckDB function."""
    first = sig[0].text.upper()
    if first not in READ_KEYWORDS and not (first == "(" and len(sig) > 1):
        raise SQLRefused(
            f"this endpoint is read-only: {first} statements are not allowed "
            "(only SELECT/WITH/VALUES queries, SHOW SCHEMAS and DESCRIBE)")
    private = sorted({t.ident.lower() for t in sig if t.ident is not None}
                     & PRIVATE_FUNCTIONS)
    if private:
        raise SQLRefused(f"{private[0]}() is not available on this endpoint")


def check_references(tree: dict[str, Any], dialect: Names, grant: Grant | None) -> None:
    """Refuse a parsed statement (DuckDB's ``json_serialize_sql`` output) that reads
    anything but the views ``grant`` may read: file and catalog table functions, string
    replacement scans, other schemas, views of zones not granted."""
    if tree.get("error"):
        raise SQLRefused(f"only queries are allowed here: {tree.get('error_message')}")
    allowed = dialect.views_granted(grant)
    ctes: set[str] = set()
    refs: list[dict[str, Any]] = []
    _walk(tree.get("statements", []), ctes, refs)
    clash = sorted(c for c in ctes if dialect.zone_of_view(c) is not None)
    if clash:
        raise SQLRefused(f"a common table expression may not be named like a lake table "
                         f"({clash[0]})")
    for ref in refs:
        kind = ref.get("type")
        if kind == "TABLE_FUNCTION":
            _check_function(ref.get("function") or {})
        elif kind == "BASE_TABLE":
            _check_table(ref, dialect, grant, allowed | ctes)
        elif kind not in PLAIN_REFS:
            raise SQLRefused(f"{str(kind).lower()} is not available on this endpoint")


def _check_function(fn: dict[str, Any]) -> None:
    name = str(fn.get("function_name", "")).lower()
    if name in PURE_TABLE_FUNCTIONS and not fn.get("schema") and not fn.get("catalog"):
        return
    if FILE_FUNCTION.match(name):
        raise SQLRefused(
            f"not granted: {name}() reads files directly, which this endpoint refuses for "
            "every user; query tables by their lakehouse.* names (SHOW SCHEMAS lists them)")
    raise SQLRefused(f"{name}() is not available on this endpoint; query tables by their "
                     "lakehouse.* names")


def _check_table(ref: dict[str, Any], dialect: Names, grant: Grant | None,
                 allowed: set[str]) -> None:
    name = str(ref.get("table_name", ""))
    qualified = ref.get("schema_name") or ref.get("catalog_name")
    low = name.lower()
    if not qualified and low in allowed:
        return
    zone = None if qualified else dialect.zone_of_view(low)
    if zone is not None and grant is not None:
        raise grant.refuse(f"table {name}", zone)
    if "/" in name or "\\" in name or (not qualified and "." in name
                                        and not low.startswith("lakehouse.")):
        raise SQLRefused(f"not granted: '{name}' names a file; reading files directly is "
                         "refused for every user - query tables by their lakehouse.* names")
    full = ".".join(str(p) for p in (ref.get("catalog_name"), ref.get("schema_name"), name)
                    if p)
    raise SQLRefused(f"Table '{full}' not found (tables are named "
                     "lakehouse.<zone>[.<source>].<table>; SHOW SCHEMAS lists them)")


def _walk(node: Any, ctes: set[str], refs: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            ctes.update(str(m.get("key", "")).lower() for m in cte_map.get("map", []))
        # a table reference (what a FROM holds): a type, an alias and a sample clause;
        # query nodes (SELECT_NODE, ...) carry a sample too but no alias
        if "sample" in node and "alias" in node and not str(node.get("type")).endswith("_NODE"):
            refs.append(node)
        for value in node.values():
            _walk(value, ctes, refs)
    elif isinstance(node, list):
        for value in node:
            _walk(value, ctes, refs)
