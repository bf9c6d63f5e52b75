"""Quoting for the SQL the platform writes itself (DuckDB, and Dremio through sqlglot):
one literal and one identifier rule, both ANSI (DuckDB and Dremio agree)."""

from __future__ import annotations

from typing import Any


def literal(value: Any) -> str:
    """``value`` as a SQL literal: strings quoted with ``'`` doubled, numbers as written."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "NULL"
    return repr(value)


def ident(name: str) -> str:
    """``name`` as one quoted identifier (``"`` doubled), whatever it holds."""
    return '"' + name.replace('"', '""') + '"'
