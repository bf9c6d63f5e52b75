"""Options several command groups share, each checked when the command line is parsed, so
a misspelt source, model or day is a usage error naming what is known, not a traceback
from deep inside a run."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer


def known_source(value: str | None) -> str | None:
    """``--domain``: a source with data contracts (``None`` passes: optional there)."""
    from lakeops.catalog.contracts import TABLES

    if value is not None and value not in TABLES:
        raise typer.BadParameter(f"{value!r} is no source; sources are {', '.join(TABLES)}")
    return value


def known_model(value: str) -> str:
    """``--model``: a model with a spec."""
    from lakeops.ml.specs import SPECS

    if value not in SPECS:
        raise typer.BadParameter(f"{value!r} is no model; models are {', '.join(SPECS)}")
    return value


def iso_day(value: str | None) -> str | None:
    """A day as YYYY-MM-DD (``None`` passes: optional there)."""
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a day as YYYY-MM-DD") from None
    return value


def iso_days(values: list[str]) -> list[str]:
    """Each day of a repeated option, as YYYY-MM-DD."""
    for value in values:
        iso_day(value)
    return values

Domain = Annotated[str, typer.Option("--domain", "-d", help="education | business",
                                     callback=known_source)]
Interval = Annotated[str, typer.Option(help="data interval day, YYYY-MM-DD",
                                       callback=iso_day)]
Model = Annotated[str, typer.Option("--model", "-m", help="student_at_risk | customer_churn",
                                    callback=known_model)]
ModelInterval = Annotated[str, typer.Option("--interval", help="data interval, YYYY-MM-DD",
                                            callback=iso_day)]
