"""Dremio table paths mapped onto the DuckDB views the endpoint keeps for the lake's tables.

Dremio addresses a table by its dotted path (``lakehouse.marts.business_kpis_daily``),
quoted parts allowed, and a quoted part may itself hold dots as ``sqlalchemy-dremio``
writes ``DESCRIBE "lakehouse.marts"."t"``; names are case-insensitive; a client's
``schema`` header sets the default schema an unqualified name is looked up in; Dremio's
``INFORMATION_SCHEMA."TABLES"`` / ``"COLUMNS"`` / ``SCHEMATA`` list what the caller may
read. :class:`Names` resolves such a path to the view that stands for it — on sqlglot's
tree (:class:`exp.Table` / :class:`exp.Column` nodes), or token by token for a statement
sqlglot cannot parse — and refuses a table of a zone the caller's
:class:`~lakeops.query.grants.Grant` does not allow. The same mapping tells the guard
(:mod:`lakeops.query.guard`) which views a caller may read.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from lakeops.core import sqltext
from lakeops.query.errors import SQLRefused
from lakeops.query.grants import Grant
from lakeops.query.tokens import Token, chains, tokenize

INFO_TABLES = {"tables", "columns", "schemata"}
# the first part of a path that names a table wherever it stands
QUALIFIED = ("lakehouse", "information_schema")


class Names:
    """Resolve names against the catalog: ``tables`` maps lower-cased name paths to DuckDB
    views; ``info_views`` maps ``tables``/``columns``/``schemata`` to DuckDB views, and
    ``role_info_views`` does per role (each role sees only the tables it may read)."""

    def __init__(self, tables: dict[tuple[str, ...], str], info_views: dict[str, str],
                 role_info_views: dict[str, dict[str, str]] | None = None):
        self.tables = tables
        self.info_views = info_views
        self.role_info_views = role_info_views or {}

    def resolve(self, parts: list[str], default_schema: tuple[str, ...],
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
        """The table paths of a statement sqlglot cannot parse, mapped token by token."""
        tokens = tokenize(sql)
        schema = schema_path(default_schema)
        out = [t.text for t in tokens]
        for start, end, parts in chains(tokens):
            qualified = parts[0].lower() in QUALIFIED
            if not qualified and not _where_a_table_stands(tokens[:start], schema):
                continue
            hit = self.resolve(parts, schema if not qualified else (), grant)
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

    def describe(self, rest: list[Token], default_schema: str | None,
                 grant: Grant | None) -> str:
        """The view ``DESCRIBE [TABLE] <path>`` names (``rest``: the tokens after
        ``DESCRIBE``)."""
        if rest and rest[0].text.upper() == "TABLE":
            rest = rest[1:]
        found = chains(rest)
        schema = schema_path(default_schema)
        hit = self.resolve(found[0][2], schema, grant) if found else None
        if hit is None or hit[1] != len(found[0][2]):
            name = ".".join(found[0][2]) if found else ""
            raise SQLRefused(f"Table '{name}' not found")
        return hit[0]

    def map_tree(self, tree: exp.Expr, default_schema: str | None,
                 grant: Grant | None) -> None:
        """Every table and path-qualified column of a parsed statement -> its view."""
        schema = schema_path(default_schema)
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            self._map_table(table, schema, ctes, grant)
        for column in list(tree.find_all(exp.Column)):
            self._map_column(column, grant)

    def _map_table(self, table: exp.Table, schema: tuple[str, ...], ctes: set[str],
                   grant: Grant | None) -> None:
        """A table (a FROM or JOIN item) named by its Dremio path -> its view; an
        unqualified name is looked up in the default schema unless a common table
        expression has that name."""
        parts = _names(table.parts)
        if parts is None:
            return  # a table function: the guard's check_references judges it
        qualified = parts[0].lower() in QUALIFIED
        if not qualified and (not schema or (len(parts) == 1 and parts[0].lower() in ctes)):
            return
        hit = self.resolve(parts, schema if not qualified else (), grant)
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
        if parts is None or parts[0].lower() not in QUALIFIED:
            return
        hit = self.resolve(parts, (), grant)
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


def schema_path(default_schema: str | None) -> tuple[str, ...]:
    """A client's default schema (``lakehouse.marts``) as the lower-case path parts an
    unqualified table name is looked up under; () when it set none."""
    return tuple(p.lower() for p in default_schema.split(".")) if default_schema else ()


def _where_a_table_stands(before: list[Token], schema: tuple[str, ...]) -> bool:
    """An unqualified name is a table only right after FROM or JOIN, and only when the
    client set a default schema to look it up in."""
    prev = next((t for t in reversed(before) if t.kind not in ("ws", "comment")), None)
    return bool(schema) and prev is not None and prev.text.upper() in ("FROM", "JOIN")


def _not_found(parts: list[str], at: int) -> SQLRefused:
    """Dremio's words for a ``lakehouse`` path whose part ``at`` names nothing."""
    return SQLRefused(f"Object '{parts[at]}' not found within '{'.'.join(parts[:at])}'")


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
