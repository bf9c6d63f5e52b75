"""Dremio's format strings in DuckDB's terms: dates (``TO_DATE``, ``TO_TIMESTAMP``,
``TO_TIME``, ``TO_CHAR``) and numbers (``TO_CHAR``).

sqlglot 30 gets both wrong for Dremio: it knows only ``YYYY`` and ``yyyy`` (not ``Mon``),
writes ``FFF`` as ``%f`` (microseconds, where Dremio means milliseconds) and ``D`` / ``WW``
as ``%w`` / ``%W`` (Dremio: the ISO day of week and week), and turns ``TO_CHAR(x, fmt)``
into a plain cast, dropping the format. :func:`duckdb_format` ports Dremio's own format
reader (``JodaDateValidator``: case-insensitive elements, longest match, ``"quoted"``
literal text); :func:`number_to_char` writes a Java ``DecimalFormat`` pattern, as Dremio
reads numeric formats, with DuckDB's ``format()``. Both are checked against the results
Dremio returns in ``tests/unit/test_dremio_functions.py``.
"""

from __future__ import annotations

import re

from sqlglot import exp

from lakeops.query.errors import SQLRefused

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
_NUMBER_FORMAT = re.compile(r"^([#0,]*)(?:\.([#0]*))?$")


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


def is_number_format(fmt: str) -> bool:
    """A ``TO_CHAR`` format for numbers (``'#,##0.00'``) rather than dates."""
    return bool(fmt) and set(fmt) <= set("#0,.") and bool(set(fmt) & set("#0"))


def number_to_char(value: exp.Expr, fmt: str) -> exp.Expr:
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
