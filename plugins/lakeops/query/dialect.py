"""Dremio's SQL surface on DuckDB: table paths, functions, metadata statements, read-only
checks.

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

Who does what:

* **sqlglot** parses the Dremio SQL (its ``dremio`` dialect) and writes DuckDB SQL: the
  bulk of the function and syntax mapping (``NVL`` -> ``COALESCE``, ``FETCH FIRST`` ->
  ``LIMIT``, ``SUBSTR``, ``TRUNCATE``, ``LISTAGG ... WITHIN GROUP``, ``DATEDIFF``...).
  Table paths are mapped on its tree (:class:`exp.Table` / :class:`exp.Column` nodes),
  so names inside strings and comments are never touched.
* **Hand-written here**, where sqlglot 30 maps Dremio wrongly or not at all (each checked
  against the results Dremio returns, see ``tests/unit/test_dremio_functions.py``):

  - date format strings (``TO_DATE``, ``TO_TIMESTAMP``, ``TO_TIME``, ``TO_CHAR``):
    :func:`duckdb_format` ports Dremio's own format reader (``JodaDateValidator``):
    elements are case-insensitive (sqlglot only knows ``YYYY`` and ``yyyy``, not ``Mon``),
    ``FFF`` is milliseconds (sqlglot writes ``%f``, microseconds), ``D`` is the ISO day of
    week and ``WW`` the ISO week (sqlglot: ``%w``/``%W``), ``"quoted"`` text is literal;
    sqlglot leaves ``TO_TIMESTAMP(s, fmt)`` untranslated and turns ``TO_CHAR(x, fmt)``
    into a plain cast, dropping the format;
  - numeric ``TO_CHAR`` patterns (``'#,##0.00'``, Java ``DecimalFormat`` as Dremio uses);
  - result types DuckDB would change: ``DATE_TRUNC`` of a DATE stays a DATE, ``DATE_ADD``
    / ``DATE_SUB`` / ``DATE_DIFF`` of a DATE and a day count stay DATEs;
  - ``TIMESTAMPADD`` / ``TIMESTAMPDIFF`` (sqlglot swaps their arguments; Dremio counts
    whole units as DuckDB's ``date_sub`` does), ``DATE_DIFF(date, days)`` (Dremio's name
    for subtracting days), ``REGEXP_LIKE`` / ``REGEXP_MATCHES`` (whole-string match, as
    Java's ``matches()``), ``REGEXP_EXTRACT``'s group index (sqlglot drops it),
    ``DAYOFWEEK`` / ``EXTRACT(DOW ...)`` (Dremio counts Sunday as 1, DuckDB as 0).

  A statement sqlglot cannot parse (DuckDB-only syntax a user typed) falls back to a
  token-level rewrite of the table paths and goes to DuckDB as written; the checks below
  apply to it all the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dremio import Dremio
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError
from sqlglot.parsers.dremio import DremioParser

from lakeops.core import sqltext

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
        schema = _schema_path(default_schema)
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
                    raise _not_found(parts, len(parts) - 1)
                continue
            view, used = hit
            rest = "".join("." + sqltext.ident(p) for p in parts[used:])
            out[start] = view + rest
            for k in range(start + 1, end + 1):
                out[k] = ""
        return "".join(out)

    def _describe(self, rest: list[Token], default_schema: str | None,
                  grant: Grant | None) -> str:
        """The view ``DESCRIBE [TABLE] <path>`` names."""
        if rest and rest[0].text.upper() == "TABLE":
            rest = rest[1:]
        chains = _chains(rest)
        schema = _schema_path(default_schema)
        hit = self._resolve(chains[0][2], schema, grant) if chains else None
        if hit is None or hit[1] != len(chains[0][2]):
            name = ".".join(chains[0][2]) if chains else ""
            raise SQLRefused(f"Table '{name}' not found")
        return hit[0]

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
            return Statement(describe=self._describe(sig[1:], default_schema, grant))
        if first not in READ_KEYWORDS and not (first == "(" and len(sig) > 1):
            raise SQLRefused(
                f"this endpoint is read-only: {first} statements are not allowed "
                "(only SELECT/WITH/VALUES queries, SHOW SCHEMAS and DESCRIBE)")
        private = sorted({t.ident.lower() for t in sig if t.ident is not None}
                         & PRIVATE_FUNCTIONS)
        if private:
            raise SQLRefused(f"{private[0]}() is not available on this endpoint")
        return Statement(sql=self.to_duckdb(text, default_schema, grant))

    def to_duckdb(self, text: str, default_schema: str | None = None,
                  grant: Grant | None = None) -> str:
        """A Dremio query as DuckDB SQL over the views (see the module docstring)."""
        try:
            tree = sqlglot.parse_one(text, dialect=LakeDremio)
        except (ParseError, TokenError):
            # not Dremio SQL sqlglot knows (DuckDB syntax, or a typo): DuckDB judges it
            return self.rewrite(text, default_schema, grant)
        schema = _schema_path(default_schema)
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            self._map_table(table, schema, ctes, grant)
        for column in list(tree.find_all(exp.Column)):
            self._map_column(column, grant)
        tree = dremio_functions(tree)
        try:
            return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            raise SQLRefused(f"not supported on this endpoint: {exc}") from None

    def _map_table(self, table: exp.Table, schema: tuple[str, ...], ctes: set[str],
                   grant: Grant | None) -> None:
        """A table (a FROM or JOIN item) named by its Dremio path -> its view; an
        unqualified name is looked up in the default schema unless a common table
        expression has that name."""
        parts = _names(table.parts)
        if parts is None:
            return  # a table function: check_references judges it
        qualified = parts[0].lower() in ("lakehouse", "information_schema")
        if not qualified and (not schema or (len(parts) == 1 and parts[0].lower() in ctes)):
            return
        hit = self._resolve(parts, schema if not qualified else (), grant)
        if hit is None or hit[1] != len(parts):
            if qualified and parts[0].lower() == "lakehouse":
                used = hit[1] if hit else len(parts) - 1
                raise _not_found(parts, used)
            return
        for key in ("catalog", "db"):
            table.set(key, None)
        table.set("this", _view_ident(hit[0]))

    def _map_column(self, column: exp.Column, grant: Grant | None) -> None:
        """A column qualified by a table path (``lakehouse.marts.t.c``, sqlglot holds the
        parts past four as Dot nodes around the Column) -> ``"view"."c"``."""
        top: exp.Expr = column
        idents = list(column.parts)
        while isinstance(top.parent, exp.Dot) and top.parent.this is top:
            top = top.parent
            idents.append(top.expression)
        parts = _names(idents)
        if parts is None or parts[0].lower() not in ("lakehouse", "information_schema"):
            return
        hit = self._resolve(parts, (), grant)
        if hit is None:
            if parts[0].lower() == "lakehouse":
                raise _not_found(parts, len(parts) - 1)
            return
        view, used = hit
        rest = [exp.to_identifier(p, quoted=True) for p in parts[used:]]
        new: exp.Expr = (exp.Column(this=rest[0], table=_view_ident(view)) if rest
                         else exp.Column(this=_view_ident(view)))
        for ident in rest[1:]:
            new = exp.Dot(this=new, expression=ident)
        top.replace(new)

def _not_found(parts: list[str], at: int) -> SQLRefused:
    """Dremio's words for a ``lakehouse`` path whose part ``at`` names nothing."""
    return SQLRefused(f"Object '{parts[at]}' not found within '{'.'.join(parts[:at])}'")


def _schema_path(default_schema: str | None) -> tuple[str, ...]:
    """A client's default schema (``lakehouse.marts``) as the lower-case path parts an
    unqualified table name is looked up under; () when it set none."""
    return tuple(p.lower() for p in default_schema.split(".")) if default_schema else ()


def _names(parts: list[Any]) -> list[str] | None:
    """The name parts of a dotted path, a quoted part holding dots counting as several
    (``"lakehouse.marts"."t"``); None when a part is not a name (a table function)."""
    out: list[str] = []
    for part in parts:
        if not isinstance(part, exp.Identifier):
            return None
        out += part.this.split(".") if part.quoted else [part.this]
    return out


def _view_ident(view: str) -> exp.Identifier:
    """A view name as the catalog spells it (a quoted identifier, or a bare name)."""
    if view.startswith('"'):
        return exp.to_identifier(view[1:-1].replace('""', '"'), quoted=True)
    return exp.to_identifier(view)


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



# -- Dremio functions sqlglot does not map (see the module docstring) -------------------

# functions parsed here rather than by sqlglot: they stay exp.Anonymous for
# :func:`dremio_functions` (REGEXP_EXTRACT keeps its group index that way)
_OWN_FUNCTIONS = {"TO_DATE", "TO_TIMESTAMP", "TO_TIME", "TO_CHAR", "DATE_TRUNC", "DATE_ADD",
                  "DATE_SUB", "DATE_DIFF", "TIMESTAMPADD", "TIMESTAMPDIFF", "REGEXP_LIKE",
                  "REGEXP_MATCHES", "REGEXP_EXTRACT", "TO_NUMBER"}


class LakeDremio(Dremio):
    """sqlglot's Dremio dialect, leaving the functions of :data:`_OWN_FUNCTIONS` to us."""

    class Parser(DremioParser):
        FUNCTIONS = {k: v for k, v in DremioParser.FUNCTIONS.items()
                     if k not in _OWN_FUNCTIONS}


# Dremio's date format elements (its JodaDateValidator, case-insensitive) -> DuckDB's
# strftime/strptime; None: Dremio knows it, DuckDB has no equivalent
_DATE_ELEMENTS: dict[str, str | None] = {
    "ad": None, "bc": None, "cc": None, "f": None, "ff": None,
    "am": "%p", "pm": "%p", "ww": "%V", "d": "%u", "dy": "%a", "day": "%A",
    "yyyy": "%Y", "yy": "%y", "ddd": "%j", "mm": "%m", "mon": "%b", "month": "%B",
    "dd": "%d", "hh": "%I", "hh12": "%I", "hh24": "%H", "mi": "%M", "ss": "%S",
    "fff": "%g", "tzd": "%Z", "tzo": "%z", "tzh:tzm": "%z",
}
_PLAIN = "*-/,.;: "  # characters Dremio copies into the result as they are


def duckdb_format(fmt: str) -> str:
    """A Dremio date format (``'YYYY-MM-DD HH24:MI:SS.FFF'``) as a DuckDB strftime /
    strptime format (``'%Y-%m-%d %H:%M:%S.%g'``), read element by element as Dremio reads
    it (longest match, a look-ahead for ``MON``/``MONTH``, ``"quoted"`` literal text)."""
    out: list[str] = []
    buf = ""
    quoted = False
    for i, ch in enumerate(fmt):
        if ch == '"':
            if buf and not quoted:
                raise _invalid_format(fmt, i)
            if quoted:
                out.append(buf.replace("%", "%%"))
                buf = ""
            quoted = not quoted
        elif quoted:
            buf += ch
        elif not buf and ch in _PLAIN:
            out.append(ch)
        else:
            buf += ch
            element = _element(fmt, buf, fmt[i + 1:i + 2], i)
            if element is not None:
                out.append(_date_target(fmt, element))
                buf = ""
    if quoted or (buf and buf.lower() not in _DATE_ELEMENTS):
        raise _invalid_format(fmt, len(fmt) - len(buf))
    if buf:
        out.append(_date_target(fmt, buf.lower()))
    return "".join(out)


def _element(fmt: str, buf: str, ahead: str, pos: int) -> str | None:
    """The element ``buf`` completes, None while it may still grow (``MON`` -> ``MONTH``
    unless the next character rules that out)."""
    low = buf.lower()
    potential = [e for e in _DATE_ELEMENTS if e.startswith(low)]
    if not potential:
        raise _invalid_format(fmt, pos)
    if potential == [low]:
        return low
    if ahead and low in potential and not any(
            e.startswith(low + ahead.lower()) for e in potential):
        return low
    return None


def _date_target(fmt: str, element: str) -> str:
    target = _DATE_ELEMENTS[element]
    if target is None:
        raise SQLRefused(f"date format element '{element.upper()}' (in '{fmt}') has no "
                         "equivalent on this endpoint")
    return target


def _invalid_format(fmt: str, pos: int) -> SQLRefused:
    """Dremio's own words for a format it cannot read."""
    return SQLRefused(f"Invalid date format string '{fmt}' at position {pos}")


_NUMBER_FORMAT = re.compile(r"^([#0,]*)(?:\.([#0]*))?$")


def _number_to_char(value: exp.Expr, fmt: str) -> exp.Expr:
    """Numeric ``TO_CHAR`` (a Java ``DecimalFormat`` pattern: ``0`` a digit always
    written, ``#`` a digit written when not a leading/trailing zero, ``,`` grouping) with
    DuckDB's ``format()``; Java and DuckDB both round half to even."""
    m = _NUMBER_FORMAT.match(fmt)
    if not m or "#0" in (m[2] or "").replace("0#", "") or "0#" in m[1].replace(",", ""):
        raise SQLRefused(f"TO_CHAR number format '{fmt}' is not supported on this endpoint "
                         "(use 0, # and , before the point, 0 then # after it)")
    integer, fraction = m[1], m[2] or ""
    most, least = len(fraction), fraction.count("0")
    spec = "{:" + ("," if "," in integer else "") + f".{most}f}}"
    out: exp.Expr = exp.Anonymous(this="format", expressions=[
        exp.Literal.string(spec), exp.cast(value, exp.DataType.build("DOUBLE"))])
    if most > least:  # optional decimals: drop trailing zeros (and the point if bare)
        pattern = ("\\.?" if least == 0 else "") + f"0{{1,{most - least}}}$"
        out = exp.Anonymous(this="regexp_replace", expressions=[
            out, exp.Literal.string(pattern), exp.Literal.string("")])
    if "0" not in integer:  # no digit required before the point: 0.5 -> .5
        out = exp.Anonymous(this="regexp_replace", expressions=[
            out, exp.Literal.string("^(-?)0(\\.)"), exp.Literal.string("\\1\\2")])
    return out


def _literal_format(fn: str, arg: exp.Expr | None) -> str:
    if not isinstance(arg, exp.Literal) or not arg.is_string:
        raise SQLRefused(f"{fn}: the format must be a string literal on this endpoint")
    return str(arg.this)


def _call(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(value: exp.Expr, to: str) -> exp.Cast:
    return exp.cast(value, exp.DataType.build(to))


def _same_type(value: exp.Expr, like: exp.Expr) -> exp.Expr:
    """``value`` cast to the type of ``like`` (a DATE stays a DATE, as in Dremio)."""
    return _call("cast_to_type", value, like.copy())


def _days(value: exp.Expr) -> exp.Expr:
    return _call("to_days", _cast(value, "INTEGER"))


def _interval(value: exp.Expr) -> exp.Expr | None:
    """``INTERVAL '1' DAY`` or Dremio's ``CAST(1 AS INTERVAL DAY)``; None for a number."""
    if isinstance(value, exp.Interval):
        return value
    if isinstance(value, exp.Cast) and isinstance(value.to.this, exp.Interval):
        unit = value.to.this.args.get("unit")
        return exp.Interval(this=value.this, unit=unit)
    return None


def _parse_time(fn: str, args: list[exp.Expr], to: str) -> exp.Expr:
    """``TO_DATE`` / ``TO_TIMESTAMP`` / ``TO_TIME`` (string, format[, null on error])."""
    parse = "try_strptime" if len(args) > 2 and args[2].name not in ("0", "false") \
        else "strptime"
    out: exp.Expr = _call(parse, args[0], exp.Literal.string(
        duckdb_format(_literal_format(fn, args[1]))))
    return out if to == "TIMESTAMP" else _cast(out, to)


def _to_datetime(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    """``TO_DATE`` / ``TO_TIME`` / ``TO_TIMESTAMP``: with a format, or of one value."""
    to = name[3:]
    if len(args) >= 2:
        return _parse_time(name, args, to)
    if len(args) != 1:
        return None
    if to != "TIMESTAMP" or (isinstance(args[0], exp.Literal) and args[0].is_string):
        return _cast(args[0], to)
    # TO_TIMESTAMP(number): seconds since the epoch, in UTC (DuckDB's to_timestamp makes
    # a TIMESTAMP WITH TIME ZONE, shown in the session's zone)
    micros = exp.Mul(this=_cast(args[0], "DOUBLE"), expression=exp.Literal.number(1000000))
    return _call("make_timestamp", _cast(micros, "BIGINT"))


def _to_char(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    if len(args) != 2:
        return None
    fmt = _literal_format(name, args[1])
    if fmt and set(fmt) <= set("#0,.") and set(fmt) & set("#0"):
        return _number_to_char(args[0], fmt)
    return _call("strftime", args[0], exp.Literal.string(duckdb_format(fmt)))


def _date_trunc(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    return _same_type(_call("date_trunc", *args), args[1]) if len(args) == 2 else None


def _date_shift(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    """``DATE_ADD`` / ``DATE_SUB`` / ``DATE_DIFF`` (Dremio's name for subtracting) of a
    number of days (the date's type kept) or of an interval (a timestamp, as in Dremio)."""
    if len(args) != 2:
        return None
    op = exp.Add if name == "DATE_ADD" else exp.Sub
    interval = _interval(args[1])
    if interval is not None:
        return exp.paren(op(this=args[0], expression=interval))
    return _same_type(exp.paren(op(this=args[0], expression=_days(args[1]))), args[0])


def _timestampadd(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    if len(args) != 3:
        return None
    interval = exp.Interval(this=args[1], unit=exp.var(args[0].name.upper()))
    return _same_type(exp.paren(exp.Add(this=args[2], expression=interval)), args[2])


def _timestampdiff(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    """Whole units between two datetimes, as Dremio counts (DuckDB's ``date_diff`` counts
    boundaries crossed, its ``date_sub`` whole units)."""
    if len(args) != 3:
        return None
    return _call("date_sub", exp.Literal.string(args[0].name.lower()), args[1], args[2])


def _to_number(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    return _cast(args[0], "DOUBLE") if len(args) in (1, 2) else None  # Dremio: a DOUBLE


def _regexp_like(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    return _call("regexp_full_match", *args) if len(args) == 2 else None


_FUNCTIONS: dict[str, Callable[[str, list[exp.Expr]], exp.Expr | None]] = {
    "TO_DATE": _to_datetime, "TO_TIME": _to_datetime, "TO_TIMESTAMP": _to_datetime,
    "TO_CHAR": _to_char, "DATE_TRUNC": _date_trunc, "DATE_ADD": _date_shift,
    "DATE_SUB": _date_shift, "DATE_DIFF": _date_shift, "TIMESTAMPADD": _timestampadd,
    "TIMESTAMPDIFF": _timestampdiff, "TO_NUMBER": _to_number,
    "REGEXP_LIKE": _regexp_like, "REGEXP_MATCHES": _regexp_like,
}


def _function(node: exp.Anonymous) -> exp.Expr | None:
    """The DuckDB form of one of :data:`_OWN_FUNCTIONS`; None leaves the call as it is
    (REGEXP_EXTRACT, and a call with arguments Dremio does not take either)."""
    name = str(node.this).upper()
    rewrite = _FUNCTIONS.get(name)
    return rewrite(name, list(node.expressions)) if rewrite else None


def dremio_functions(tree: exp.Expr) -> exp.Expr:
    """Rewrite, innermost first, the Dremio calls sqlglot leaves or maps wrongly."""
    kinds = (exp.Anonymous, exp.DayOfWeek, exp.Extract, exp.Add, exp.Sub)
    for node in reversed(list(tree.find_all(*kinds))):
        new: exp.Expr | None = None
        if isinstance(node, exp.Anonymous):
            new = _function(node)
        elif isinstance(node, (exp.Add, exp.Sub)):
            # datetime +/- interval keeps the datetime's type in Dremio (a DATE stays a
            # DATE); DuckDB makes a TIMESTAMP of a DATE
            this, other = node.this, node.expression
            if isinstance(this, exp.Interval) and isinstance(node, exp.Add):
                this, other = other, this
            if isinstance(other, exp.Interval) and not isinstance(
                    this, (exp.Interval, exp.Literal)):
                new = _same_type(exp.paren(node.copy()), this)
        elif isinstance(node, exp.DayOfWeek) or node.name.upper() in ("DOW", "DAYOFWEEK"):
            # Dremio numbers the days from Sunday = 1, DuckDB from Sunday = 0
            new = exp.paren(exp.Add(this=node.copy(), expression=exp.Literal.number(1)))
        if new is not None:
            if node is tree:
                return new
            node.replace(new)
    return tree
