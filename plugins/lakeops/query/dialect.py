"""Dremio's SQL surface on DuckDB: table paths, metadata statements, read-only checks.

Dremio addresses a table by its dotted path (``lakehouse.marts.business_kpis_daily``,
quoted parts allowed, a quoted part may itself hold dots as ``sqlalchemy-dremio`` writes
``DESCRIBE "lakehouse.marts"."t"``), is case-insensitive for names, and answers ``SHOW
SCHEMAS``, ``DESCRIBE <table>`` and ``INFORMATION_SCHEMA."TABLES"`` / ``"COLUMNS"`` /
``SCHEMATA``. :func:`translate` turns such a statement into DuckDB SQL over the views the
server keeps for each lake table, and refuses everything that is not a query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakeops import sqltext

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


class Dialect:
    """Resolve names against the catalog: ``tables`` maps lower-cased name paths to DuckDB
    views; ``info_views`` maps ``tables``/``columns``/``schemata`` to DuckDB views."""

    def __init__(self, tables: dict[tuple[str, ...], str], info_views: dict[str, str]):
        self.tables = tables
        self.info_views = info_views

    def _resolve(self, parts: list[str], default_schema: tuple[str, ...]) -> tuple[str, int] | None:
        """(view, parts used) for the longest table path that starts ``parts``."""
        low = tuple(p.lower() for p in parts)
        if len(low) >= 2 and low[0] == "information_schema" and low[1] in INFO_TABLES:
            return self.info_views[low[1]], 2
        for prefix in (default_schema, ()) if default_schema else ((),):
            for n in range(len(low), 0, -1):
                view = self.tables.get(prefix + low[:n])
                if view is not None:
                    return view, n
        return None

    def rewrite(self, sql: str, default_schema: str | None = None) -> str:
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
            hit = self._resolve(parts, schema if not qualified else ())
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

    def translate(self, sql: str, default_schema: str | None = None) -> Statement:
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
            hit = self._resolve(chains[0][2], schema) if chains else None
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
        return Statement(sql=self.rewrite(text, default_schema))

