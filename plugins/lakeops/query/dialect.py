"""Dremio's SQL surface on DuckDB: table paths, metadata statements, read-only checks.

Dremio addresses a table by its dotted path (``lakehouse.marts.business_kpis_daily``,
quoted parts allowed, a quoted part may itself hold dots as ``sqlalchemy-dremio`` writes
``DESCRIBE "lakehouse.marts"."t"``), is case-insensitive for names, and answers ``SHOW
SCHEMAS``, ``DESCRIBE <table>`` and ``INFORMATION_SCHEMA."TABLES"`` / ``"COLUMNS"`` /
``SCHEMATA``. :func:`translate` turns such a statement into DuckDB SQL over the views the
server keeps for each lake table, refuses everything that is not a query, and — given the
caller's :class:`~lakeops.query.grants.Grant` — every table of a zone the caller may not
read. :func:`check_references` then walks DuckDB's own parse tree of the result
(``json_serialize_sql``) so that nothing but granted views is read: no file functions
(``read_csv``, ``read_parquet``, ``glob``...), no ``FROM 'file.csv'`` replacement scans, no
DuckDB catalog, no ``query()``. Parsing with DuckDB's parser, not ours, means no SQL
DuckDB accepts can slip past the check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeops import sqltext

if TYPE_CHECKING:
    from lakeops.query.grants import Grant

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<str>'(?:[^']|'')*')
      | (?P<qid>"(?:[^"]|"")*")
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<dot>\.)
      | (?P<other>.)""",
    re.S | re.X,
)
READ_KEYWORDS = {"SELECT", "WITH", "VALUES", "FROM"}
# DuckDB functions that would show how the endpoint reaches the lake (its S3 secret)
PRIVATE_FUNCTIONS = {"duckdb_secrets", "which_secret", "duckdb_settings", "current_setting"}
INFO_TABLES = {"tables", "columns", "schemata"}
# table functions that read no data: everything else (read_csv, read_parquet, glob,
# read_text, read_blob, query, duckdb_*()...) is refused
PURE_TABLE_FUNCTIONS = {"range", "generate_series", "unnest"}
# table references DuckDB's parse tree may hold that read nothing by themselves
PLAIN_REFS = {"SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY_FROM", "EMPTY", "PIVOT"}
FILE_FUNCTION = re.compile(r"^(read_|parquet_|sniff_|glob$|iceberg_|delta_)")


class SQLRefused(ValueError):
    """The statement is not allowed on this read-only endpoint."""


@dataclass
class Token:
    kind: str
    text: str

    @property
    def ident(self) -> str | None:
        if self.kind == "word":
            return self.text
        if self.kind == "qid":
            return self.text[1:-1].replace('""', '"')
        return None


def tokenize(sql: str) -> list[Token]:
    return [Token(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(sql)]


def _significant(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.kind not in ("ws", "comment")]


def _chains(tokens: list[Token]) -> list[tuple[int, int, list[str]]]:
    """Runs of identifiers joined by dots: (first token index, last index, name parts);
    a quoted part holding dots counts as several parts."""
    out = []
    i = 0
    while i < len(tokens):
        if tokens[i].ident is None:
            i += 1
            continue
        start, parts = i, list(_split(tokens[i]))
        while (i + 2 < len(tokens) and tokens[i + 1].kind == "dot"
               and tokens[i + 2].ident is not None):
            i += 2
            parts += _split(tokens[i])
        out.append((start, i, parts))
        i += 1
    return out


def _split(token: Token) -> list[str]:
    ident = token.ident or ""
    return ident.split(".") if token.kind == "qid" else [ident]


@dataclass
class Statement:
    """What the server runs: DuckDB SQL, or a metadata answer by name."""

    sql: str | None = None
    show_schemas: bool = False
    describe: str | None = None  # the view to describe
    grant: Grant | None = None  # whose statement (None: the platform itself)


class Dialect:
    """Resolve names against the catalog: ``tables`` maps lower-cased name paths to DuckDB
    views; ``info_views`` maps ``tables``/``columns``/``schemata`` to DuckDB views."""

    def __init__(self, tables: dict[tuple[str, ...], str], info_views: dict[str, str],
                 role_info_views: dict[str, dict[str, str]] | None = None):
        self.tables = tables
        self.info_views = info_views
        self.role_info_views = role_info_views or {}

    def _resolve(self, parts: list[str], default_schema: tuple[str, ...],
                 grant: Grant | None = None) -> tuple[str, int] | None:
        """(view, parts used) for the longest table path that starts ``parts``; a table
        of a zone ``grant`` does not allow is refused."""
        low = tuple(p.lower() for p in parts)
        if len(low) >= 2 and low[0] == "information_schema" and low[1] in INFO_TABLES:
            views = self.role_info_views.get(grant.role, {}) if grant else self.info_views
            return views.get(low[1], self.info_views[low[1]]), 2
        for prefix in (default_schema, ()) if default_schema else ((),):
            for n in range(len(low), 0, -1):
                path = prefix + low[:n]
                view = self.tables.get(path)
                if view is not None:
                    if grant is not None and not grant.allows(path[1]):
                        raise grant.refuse(f"table {'.'.join(path)}", path[1])
                    return view, n
        return None

    def views_granted(self, grant: Grant | None) -> set[str]:
        """The DuckDB names (unquoted, lower-cased) a statement of ``grant`` may read."""
        out = {_unquote(v) for path, v in self.tables.items()
               if grant is None or grant.allows(path[1])}
        infos = self.role_info_views.get(grant.role, {}) if grant else self.info_views
        return out | {_unquote(v) for v in (infos or self.info_views).values()}

    def zone_of_view(self, name: str) -> str | None:
        for path, v in self.tables.items():
            if _unquote(v) == name:
                return path[1]
        return None

    def rewrite(self, sql: str, default_schema: str | None = None,
                grant: Grant | None = None) -> str:
        tokens = tokenize(sql)
        schema = tuple(p.lower() for p in default_schema.split(".")) if default_schema else ()
        out = [t.text for t in tokens]
        for start, end, parts in _chains(tokens):
            qualified = parts[0].lower() in ("lakehouse", "information_schema")
            if not qualified:
                prev = next((t for t in reversed(tokens[:start])
                             if t.kind not in ("ws", "comment")), None)
                # an unqualified name is a table only where a table may stand
                if not schema or prev is None or prev.text.upper() not in ("FROM", "JOIN"):
                    continue
            hit = self._resolve(parts, schema if not qualified else (), grant)
            if hit is None:
                if qualified and parts[0].lower() == "lakehouse":
                    raise SQLRefused(f"Object '{parts[-1]}' not found within "
                                     f"'{'.'.join(parts[:-1])}'")
                continue
            view, used = hit
            rest = "".join("." + sqltext.ident(p) for p in parts[used:])
            out[start] = view + rest
            for k in range(start + 1, end + 1):
                out[k] = ""
        return "".join(out)

    def translate(self, sql: str, default_schema: str | None = None,
                  grant: Grant | None = None) -> Statement:
        text = sql.strip().rstrip(";").strip()
        tokens = tokenize(text)
        sig = _significant(tokens)
        if not sig:
            raise SQLRefused("empty statement")
        if any(t.kind == "other" and t.text == ";" for t in sig):
            raise SQLRefused("one statement per query")
        first = sig[0].text.upper()
        if first == "SHOW" and len(sig) >= 2 and sig[1].text.upper() == "SCHEMAS":
            return Statement(show_schemas=True)
        if first in ("DESCRIBE", "DESC"):
            rest = sig[1:]
            if rest and rest[0].text.upper() == "TABLE":
                rest = rest[1:]
            chains = _chains(rest)
            schema = tuple(p.lower() for p in default_schema.split(".")) \
                if default_schema else ()
            hit = self._resolve(chains[0][2], schema, grant) if chains else None
            if hit is None or hit[1] != len(chains[0][2]):
                name = ".".join(chains[0][2]) if chains else ""
                raise SQLRefused(f"Table '{name}' not found")
            return Statement(describe=hit[0])
        if first not in READ_KEYWORDS and not (first == "(" and len(sig) > 1):
            raise SQLRefused(
                f"this endpoint is read-only: {first} statements are not allowed "
                "(only SELECT/WITH/VALUES queries, SHOW SCHEMAS and DESCRIBE)")
        private = sorted({t.ident.lower() for t in sig if t.ident is not None}
                         & PRIVATE_FUNCTIONS)
        if private:
            raise SQLRefused(f"{private[0]}() is not available on this endpoint")
        return Statement(sql=self.rewrite(text, default_schema, grant))


def _unquote(view: str) -> str:
    return view[1:-1].replace('""', '"').lower() if view.startswith('"') else view.lower()


def check_references(tree: dict[str, Any], dialect: Dialect, grant: Grant | None) -> None:
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


def _check_table(ref: dict[str, Any], dialect: Dialect, grant: Grant | None,
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

