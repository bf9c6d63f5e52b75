"""``lakeops features | dbt``: the transformation stages (the Spark feature jobs, the dbt
project) run from this process with the profile's settings, without Airflow."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from lakeops.cli.options import Domain, iso_days
from lakeops.core.settings import get_settings

app = typer.Typer()


@app.command()
def features(
    source: Domain,
    interval: Annotated[list[str], typer.Option(
        help="data interval day, YYYY-MM-DD; repeat it for several days", callback=iso_days)],
) -> None:
    """Run a source's Spark feature job with spark-submit (no Airflow): one spark-submit
    for all the intervals given, computed oldest first, each partition replaced on its
    own."""
    from lakeops.catalog.datasets import feature_job
    from lakeops.transform import spark

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spark.submit(feature_job(source).job, interval, get_settings())


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(ctx: typer.Context) -> None:
    """Run dbt on the project with the profile derived from the settings, e.g.
    `lakeops dbt build` or `lakeops dbt run --select business_kpis_daily`;
    `lakeops dbt docs` publishes the docs site to the lake's reports/dbt_docs/."""
    from lakeops.transform import dbt as dbt_mod

    settings = get_settings()
    if ctx.args == ["docs"]:
        typer.echo(dbt_mod.docs(settings))
        return
    dbt_mod.run_dbt(list(ctx.args) or ["build"], settings)
