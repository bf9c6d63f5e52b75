"""Dremio's SQL surface on DuckDB: a statement a Dremio client sends, as the endpoint runs
it.

Dremio clients send Dremio SQL: table paths (``lakehouse.marts.business_kpis_daily``),
Dremio's functions, and the metadata statements ``SHOW SCHEMAS`` and ``DESCRIBE <table>``
(``INFORMATION_SCHEMA`` tables are queries like any other). :meth:`Dialect.translate`
turns such a statement into a :class:`Statement`: DuckDB SQL over the views the server
keeps for each lake table, or a metadata answer by name. The steps, each in its module:

1. :mod:`lakeops.query.guard` refuses everything that is not one query or one metadata
   statement;
2. **sqlglot** parses the Dremio SQL (its ``dremio`` dialect, the functions of
   :mod:`lakeops.query.functions` left to us) — a statement sqlglot cannot parse
   (DuckDB-only syntax a user typed) falls back to a token-level rewrite of its table
   paths and goes to DuckDB as written;
3. :mod:`lakeops.query.names` maps table paths onto views on sqlglot's tree, so names
   inside strings and comments are never touched, and refuses — given the caller's
   :class:`~lakeops.query.grants.Grant` — every table of a zone the caller may not read;
4. :mod:`lakeops.query.functions` rewrites the Dremio functions sqlglot maps wrongly or
   not at all, and sqlglot writes DuckDB SQL.

The server then hands DuckDB's own parse tree of the result to
:func:`lakeops.query.guard.check_references`, which applies to the fallback all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from lakeops.query.errors import SQLRefused
from lakeops.query.functions import LakeDremio, dremio_functions
from lakeops.query.grants import Grant
from lakeops.query.guard import check_one_statement, check_query
from lakeops.query.names import Names
from lakeops.query.tokens import significant, tokenize


@dataclass
class Statement:
    """What the server runs: DuckDB SQL, or a metadata answer by name."""

    sql: str | None = None
    show_schemas: bool = False
    describe: str | None = None  # the view to describe
    grant: Grant | None = None  # whose statement (None: the platform itself)


class Dialect(Names):
    """The lake's names (:class:`~lakeops.query.names.Names`: ``tables`` maps lower-cased
    name paths to DuckDB views, ``info_views`` the INFORMATION_SCHEMA tables), and the
    translation of a Dremio statement onto them."""

    def translate(self, sql: str, default_schema: str | None = None,
                  grant: Grant | None = None) -> Statement:
        text = sql.strip().rstrip(";").strip()
        sig = significant(tokenize(text))
        check_one_statement(sig)
        first = sig[0].text.upper()
        if first == "SHOW" and len(sig) >= 2 and sig[1].text.upper() == "SCHEMAS":
            return Statement(show_schemas=True)
        if first in ("DESCRIBE", "DESC"):
            return Statement(describe=self.describe(sig[1:], default_schema, grant))
        check_query(sig)
        return Statement(sql=self.to_duckdb(text, default_schema, grant))

    def to_duckdb(self, text: str, default_schema: str | None = None,
                  grant: Grant | None = None) -> str:
        """A Dremio query as DuckDB SQL over the views (see the module docstring)."""
        try:
            tree = sqlglot.parse_one(text, dialect=LakeDremio)
        except (ParseError, TokenError):
            # not Dremio SQL sqlglot knows (DuckDB syntax, or a typo): DuckDB judges it
            return self.rewrite(text, default_schema, grant)
        self.map_tree(tree, default_schema, grant)
        tree = dremio_functions(tree)
        try:
            return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            raise SQLRefused(f"not supported on this endpoint: {exc}") from None
