"""How the command line reports an error meant for its user: one line on stderr,
``error: <what happened and what to do>``, and exit status 1, never a traceback.

These are the platform's exceptions whose messages say what to do (a service that cannot
start, a delivery refused, no champion yet, a run that timed out, a setting that cannot
work); any other exception is a bug and keeps its traceback. Typer's own usage errors
(exit 2) are not touched.
"""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperGroup

LOG_PATH = re.compile(r"(?<![\w.])/\S+\.log\b")  # an absolute path to a log file


def user_errors() -> tuple[type[Exception], ...]:
    """The exception classes meant for the user. Imported when an error is being reported,
    so starting the command line costs none of these imports."""
    from pydantic import ValidationError

    from lakeops.core.settings import SettingsError
    from lakeops.dashboards.bundle import DashboardError
    from lakeops.ingest.errors import IngestError
    from lakeops.ml.score import NoChampionError, NothingToScore
    from lakeops.ml.train import NotEnoughData
    from lakeops.onboarding.oulad import NotTheRelease
    from lakeops.query import QueryError
    from lakeops.services.errors import ServiceError
    from lakeops.transform.dbt import DbtError
    from lakeops.validate.workspace import ValidationFailed

    return (ServiceError, ValidationError, SettingsError, IngestError, ValidationFailed,
            NotTheRelease, NoChampionError, NothingToScore, NotEnoughData, QueryError,
            DbtError, DashboardError, TimeoutError)


def one_line(exc: BaseException) -> str:
    """``exc``'s message as one line: its first line (a longer message goes on with what
    it quotes, such as the end of a log), plus the log it names further down."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return settings_problem(exc)
    text = str(exc).strip() or type(exc).__name__
    first, _, rest = text.partition("\n")
    first = first.strip().rstrip(":")
    logs = [path for path in dict.fromkeys(LOG_PATH.findall(rest)) if path not in first]
    return first + "".join(f" (see {path})" for path in logs)


def settings_problem(exc: Any) -> str:
    """A pydantic ``ValidationError`` as one line; for the settings, each problem under the
    ``LAKEOPS_*`` variable that set it."""
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = error.get("loc") or ()
        if not loc:  # a check across several fields: its message names them
            problems.append(message)
        elif exc.title == "Settings":
            problems.append(f"LAKEOPS_{str(loc[0]).upper()}={error.get('input')!r}: {message}")
        else:
            problems.append(f"{exc.title} {'.'.join(map(str, loc))}: {message}")
    return "; ".join(problems)


class ReportingGroup(TyperGroup):
    """The root command: runs the command asked for and reports an error meant for the
    user as one ``error:`` line, exit status 1."""

    def invoke(self, ctx: Any) -> Any:  # Any: click's Context, which typer keeps private
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own: as they are
            raise
        except Exception as exc:
            if not isinstance(exc, user_errors()):
                raise
            typer.echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(1) from None
