"""``lakeops compose-env | compose-init``: the production (docker compose) profile's
secrets file and its one-shot set-up, run by the lakeops-init service."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from lakeops.core.settings import get_settings

app = typer.Typer()


@app.command("compose-env")
def compose_env(
    path: Annotated[str, typer.Option(help="the env file docker compose reads")] = ".env",
) -> None:
    """Generate the production profile's secrets into .env (kept if already there)."""
    from lakeops.services.compose import write_env_file

    added = write_env_file(Path(path))
    typer.echo(f"{path}: " + (f"generated {', '.join(added)}" if added else "complete"))


@app.command("compose-init")
def compose_init() -> None:
    """One-shot set-up of the production profile (the lakeops-init service of
    docker-compose.yml): lake bucket, Airflow DB and password file, dbt manifest, Dremio's
    first user and lakehouse source."""
    from lakeops.services.compose import init

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    init(get_settings())
