"""Dremio's functions on DuckDB where sqlglot 30 maps them wrongly or not at all.

sqlglot's ``dremio`` dialect does the bulk of the mapping (``NVL`` -> ``COALESCE``,
``SUBSTR``, ``TRUNCATE``, ``LISTAGG ... WITHIN GROUP``, ``DATEDIFF``...). The calls
listed in :data:`OWN_FUNCTIONS` are parsed by :class:`LakeDremio` as plain calls instead,
and :func:`dremio_functions` rewrites them, and a few constructs sqlglot does parse, so
that each returns what Dremio returns (checked in ``tests/unit/test_dremio_functions.py``).
One family at a time:

* text to dates and times — ``TO_DATE`` / ``TO_TIME`` / ``TO_TIMESTAMP`` with a Dremio
  format (:mod:`lakeops.query.formats`), or of one value (a number of seconds since the
  epoch, in UTC); sqlglot leaves ``TO_TIMESTAMP(s, fmt)`` untranslated;
* ``TO_CHAR`` of a date (a date format) or of a number (a ``DecimalFormat`` pattern);
  sqlglot makes a plain cast of it, dropping the format;
* date arithmetic that keeps Dremio's result types: ``DATE_TRUNC`` of a DATE stays a
  DATE, ``DATE_ADD`` / ``DATE_SUB`` / ``DATE_DIFF`` (Dremio's name for subtracting days)
  of a DATE and a day count stay DATEs, as does ``date +/- INTERVAL``;
  ``TIMESTAMPADD`` / ``TIMESTAMPDIFF`` (sqlglot swaps their arguments; Dremio counts
  whole units, as DuckDB's ``date_sub`` does);
* ``TO_NUMBER`` (a DOUBLE in Dremio);
* ``REGEXP_LIKE`` / ``REGEXP_MATCHES`` (a whole-string match, as Java's ``matches()``);
  ``REGEXP_EXTRACT`` keeps its group index, which sqlglot drops, by being left alone;
* the day of the week (``DAYOFWEEK``, ``EXTRACT(DOW ...)``): Dremio counts Sunday as 1,
  DuckDB as 0.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.dremio import Dremio
from sqlglot.parsers.dremio import DremioParser

from lakeops.query.errors import SQLRefused
from lakeops.query.formats import duckdb_format, is_number_format, number_to_char

# functions parsed here rather than by sqlglot: they stay exp.Anonymous for
# :func:`dremio_functions` (REGEXP_EXTRACT keeps its group index that way)
OWN_FUNCTIONS = {"TO_DATE", "TO_TIMESTAMP", "TO_TIME", "TO_CHAR", "DATE_TRUNC", "DATE_ADD",
                 "DATE_SUB", "DATE_DIFF", "TIMESTAMPADD", "TIMESTAMPDIFF", "REGEXP_LIKE",
                 "REGEXP_MATCHES", "REGEXP_EXTRACT", "TO_NUMBER"}


class LakeDremio(Dremio):
    """sqlglot's Dremio dialect, leaving the functions of :data:`OWN_FUNCTIONS` to us."""

    class Parser(DremioParser):
        FUNCTIONS = {k: v for k, v in DremioParser.FUNCTIONS.items()
                     if k not in OWN_FUNCTIONS}


def dremio_functions(tree: exp.Expr) -> exp.Expr:
    """Rewrite, innermost first, the Dremio calls sqlglot leaves or maps wrongly."""
    kinds = (exp.Anonymous, exp.DayOfWeek, exp.Extract, exp.Add, exp.Sub)
    for node in reversed(list(tree.find_all(*kinds))):
        new = _rewrite(node)
        if new is not None:
            if node is tree:
                return new
            node.replace(new)
    return tree


def _rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of one node; None leaves it as it is."""
    if isinstance(node, exp.Anonymous):
        return _own_function(node)
    if isinstance(node, (exp.Add, exp.Sub)):
        return _interval_arithmetic(node)
    if isinstance(node, exp.DayOfWeek) or node.name.upper() in ("DOW", "DAYOFWEEK"):
        return _day_of_week(node)
    return None


def _own_function(node: exp.Anonymous) -> exp.Expr | None:
    """The DuckDB form of one of :data:`OWN_FUNCTIONS`; None leaves the call as it is
    (REGEXP_EXTRACT, and a call with arguments Dremio does not take either)."""
    name = str(node.this).upper()
    rewrite = _FUNCTIONS.get(name)
    return rewrite(name, list(node.expressions)) if rewrite else None


def _interval_arithmetic(node: exp.Add | exp.Sub) -> exp.Expr | None:
    """datetime +/- interval keeps the datetime's type in Dremio (a DATE stays a DATE);
    DuckDB makes a TIMESTAMP of a DATE."""
    this, other = node.this, node.expression
    if isinstance(this, exp.Interval) and isinstance(node, exp.Add):
        this, other = other, this
    if isinstance(other, exp.Interval) and not isinstance(this, (exp.Interval, exp.Literal)):
        return _same_type(exp.paren(node.copy()), this)
    return None


def _day_of_week(node: exp.Expr) -> exp.Expr:
    """Dremio numbers the days from Sunday = 1, DuckDB from Sunday = 0."""
    return exp.paren(exp.Add(this=node.copy(), expression=exp.Literal.number(1)))


# -- building blocks ------------------------------------------------------------------


def _call(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(value: exp.Expr, to: str) -> exp.Cast:
    return exp.cast(value, exp.DataType.build(to))


def _same_type(value: exp.Expr, like: exp.Expr) -> exp.Expr:
    """``value`` cast to the type of ``like`` (a DATE stays a DATE, as in Dremio)."""
    return _call("cast_to_type", value, like.copy())


def _literal_format(fn: str, arg: exp.Expr | None) -> str:
    if not isinstance(arg, exp.Literal) or not arg.is_string:
        raise SQLRefused(f"{fn}: the format must be a string literal on this endpoint")
    return str(arg.this)


# -- text to dates and times ------------------------------------------------------------


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


def _parse_time(fn: str, args: list[exp.Expr], to: str) -> exp.Expr:
    """``TO_DATE`` / ``TO_TIMESTAMP`` / ``TO_TIME`` (string, format[, null on error])."""
    parse = "try_strptime" if len(args) > 2 and args[2].name not in ("0", "false") \
        else "strptime"
    out: exp.Expr = _call(parse, args[0], exp.Literal.string(
        duckdb_format(_literal_format(fn, args[1]))))
    return out if to == "TIMESTAMP" else _cast(out, to)


# -- values to text -----------------------------------------------------------------------


def _to_char(name: str, args: list[exp.Expr]) -> exp.Expr | None:
    if len(args) != 2:
        return None
    fmt = _literal_format(name, args[1])
    if is_number_format(fmt):
        return number_to_char(args[0], fmt)
    return _call("strftime", args[0], exp.Literal.string(duckdb_format(fmt)))


# -- date arithmetic ----------------------------------------------------------------------


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


# -- numbers and patterns -----------------------------------------------------------------


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
