"""``lakeops`` command line: the root typer app and ``main``, the program's entry point.

The app gathers the command groups, each a module of this package of thin commands over
importable functions, and reports an error meant for the user as one ``error:`` line
instead of a traceback (:mod:`lakeops.cli.errors`)."""

from __future__ import annotations

import typer

from lakeops.cli import (
    compose,
    dags,
    dashboards,
    data,
    models,
    onboarding,
    platform,
    query,
    transform,
)
from lakeops.cli.errors import ReportingGroup

app = typer.Typer(help="lakeops: batch data and model operations over a lakehouse.",
                  cls=ReportingGroup, no_args_is_help=True, add_completion=False)
for group in (platform, data, onboarding, transform, query, compose, dags, models):
    app.add_typer(group.app)  # no name: the group's commands join the root's
app.add_typer(onboarding.load_app, name="load")
app.add_typer(dashboards.app, name="dashboards")


def main() -> None:
    """The ``lakeops`` program (pyproject.toml's script entry)."""
    app()


if __name__ == "__main__":
    main()
