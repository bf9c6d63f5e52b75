"""``lakeops check-dags | airflow``: the DAG folder's parse-time check, and Airflow's own
command line pointed at the embedded instance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from lakeops.core.settings import get_settings

app = typer.Typer()


@app.command("check-dags")
def check_dags() -> None:
    """Parse each DAG file in a fresh interpreter, as Airflow's dag-processor does: its
    parse time, its DAGs, and any heavy library it loads at parse time (exit 1 if so)."""
    from lakeops.airflow.dag_checks import check_folder, table

    reports = check_folder(get_settings().dags_folder)
    typer.echo(table(reports))
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def airflow(ctx: typer.Context) -> None:
    """Run Airflow's own CLI against the embedded instance, e.g.
    `lakeops airflow backfill create --dag-id ingest_education --from-date 2024-10-01
    --to-date 2024-10-03`."""
    from lakeops.services import airflow_env

    cmd = [str(Path(sys.executable).parent / "airflow"), *ctx.args]
    raise typer.Exit(subprocess.call(cmd, env=airflow_env(get_settings())))
