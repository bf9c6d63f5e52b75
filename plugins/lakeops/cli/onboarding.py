"""``lakeops demo`` and ``lakeops load oulad``: bring data onto a running platform
through the scheduler, as a real delivery arrives, and print where to look at it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer

from lakeops.cli.options import iso_day
from lakeops.cli.platform import print_access
from lakeops.core.settings import get_settings

app = typer.Typer()
load_app = typer.Typer(help="Onboard a published data set as a source's historical load.")


@app.command()
def demo(
    days: Annotated[int, typer.Option(
        min=1, help="daily intervals per source, the first a historical load")] = 1,
    history_days: Annotated[int, typer.Option(
        min=0, help="days of history the first interval's delivery carries")] = 42,
    scale: float = 0.01,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the DAG runs")] = 1800,
) -> None:
    """Start the platform, onboard both sources with a historical load (the newest
    complete day's delivery carries the days before it; --days N adds daily deliveries
    after it) and let Airflow's scheduler backfill the ingest DAGs over them; the
    publications start the Spark feature DAGs, those start dbt, the marts start the model
    DAGs. Then print what landed, the marts' row counts and the models."""
    from lakeops.demo import run as demo_mod

    settings = get_settings()
    end = date.today() - timedelta(days=1)  # the newest complete daily interval
    start = end - timedelta(days=days - 1)
    typer.echo(f"delivering {start} (with {history_days} days of history) .. {end} for "
               f"education and business (scale {scale})")
    report = demo_mod.run_demo(settings, start, days, scale=scale, timeout=timeout,
                               echo=typer.echo, history_days=history_days)
    typer.echo(report)
    print_access(settings)


@load_app.command("oulad")
def load_oulad(
    path: Annotated[str, typer.Argument(
        help="the release's zip (anonymisedData.zip) or a folder of its seven CSVs")],
    interval: Annotated[str | None, typer.Option(
        help="the data interval it is delivered for, YYYY-MM-DD (default: the newest "
             "complete day)", callback=iso_day)] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the ingest run")] = 3600,
) -> None:
    """Check that PATH is the OULAD release (files, headers; rows printed), deliver it as
    the education source's historical load and ingest it through the scheduler (starts
    the platform if it is not up). Publishing it starts the features, dbt, models and
    dashboards as any delivery does. The release: https://analyse.kmi.open.ac.uk/open_dataset"""
    from datetime import UTC, datetime
    from pathlib import Path

    from lakeops import services
    from lakeops.airflow import client
    from lakeops.catalog import dags
    from lakeops.onboarding import oulad

    settings = get_settings()
    day = date.fromisoformat(interval) if interval else date.today() - timedelta(days=1)
    try:
        release = oulad.check_release(Path(path))  # before anything starts
    except oulad.NotTheRelease as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    services.up(settings)
    client.wait_and_unpause(settings, dags.DATA_DRIVEN)  # what the publication starts
    since = datetime.now(UTC)
    oulad.load(settings, release, day, timeout=timeout, echo=typer.echo)
    oulad.build_marts(settings, since, timeout=timeout, echo=typer.echo)
    print_access(settings)
