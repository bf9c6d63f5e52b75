"""``lakeops generate | ingest | purge-landing | validate``: synthetic deliveries and the
data pipeline's stages run in this process, without Airflow (the same functions the DAGs
wrap)."""

from __future__ import annotations

import json
import logging
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from lakeops.cli.options import Domain, Interval, iso_day, known_source
from lakeops.core.settings import get_settings

app = typer.Typer()


class GenerateFormat(StrEnum):
    daily = "daily"
    oulad_release = "oulad-release"


DAILY_ONLY = ("start", "days", "drift", "bad_records", "history_days")  # generate's options


@app.command()
def generate(
    ctx: typer.Context,
    domain: Annotated[str | None, typer.Option(
        "--domain", "-d", help="education | business (required for --format daily)",
        callback=known_source)] = None,
    start: Annotated[str, typer.Option(help="first delivery day, YYYY-MM-DD",
                                       callback=iso_day)] = "2024-10-01",
    days: Annotated[int, typer.Option(min=1)] = 3,
    scale: Annotated[float | None, typer.Option(
        help="1.0 = full OULAD size [default: 0.01 daily, 1.0 oulad-release]")] = None,
    seed: int = 42,
    drift: Annotated[str | None, typer.Option(
        help="engagement_drop (education) | price_change (business)")] = None,
    bad_records: Annotated[float, typer.Option(help="fraction of planted bad rows")] = 0.0,
    history_days: Annotated[int, typer.Option(
        min=0, help="the first day's delivery is a historical load of this many days "
                    "before it")] = 0,
    format_: Annotated[GenerateFormat, typer.Option(
        "--format", help="daily: deliveries into the landing store; oulad-release: the "
                         "education data as the OULAD release's seven CSVs, into --out")
    ] = GenerateFormat.daily,
    out: Annotated[Path | None, typer.Option(
        help="oulad-release: the folder to write the CSVs (or the zip) into")] = None,
    as_zip: Annotated[bool, typer.Option(
        "--zip", help="oulad-release: write OUT/anonymisedData.zip of the seven CSVs")] = False,
) -> None:
    """Write realistic daily deliveries into landing/ (deterministic for a seed), in the
    landing store beside the lake (LAKEOPS_LANDING_URI); or, with --format oulad-release,
    the whole presentation as the OULAD release lays it out, into --out."""
    given = {name for name in ctx.params  # set on the command line or by the environment
             if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in (
                 "DEFAULT", "DEFAULT_MAP")}
    if format_ is GenerateFormat.oulad_release:
        _generate_release(given, domain, out, as_zip,
                          scale=1.0 if scale is None else scale, seed=seed)
        return
    if given & {"out", "as_zip"}:
        _usage_error("--out and --zip apply to --format oulad-release only")
    if domain is None:
        _usage_error("--domain is required for --format daily")
    from lakeops.storage.lake import Lake
    from lakeops.synthetic.generate import generate as run

    settings = get_settings()
    result = run(Lake.landing(settings), domain, date.fromisoformat(start), days,
                 scale=0.01 if scale is None else scale, seed=seed, drift=drift,
                 bad_records=bad_records, history_days=history_days)
    typer.echo(json.dumps(_jsonable(result), indent=2, default=str))


def _generate_release(given: set[str], domain: str | None, out: Path | None, as_zip: bool,
                      *, scale: float, seed: int) -> None:
    """``generate --format oulad-release``: refuses the daily format's options."""
    daily = [f"--{name.replace('_', '-')}" for name in DAILY_ONLY if name in given]
    if daily:
        _usage_error(f"{', '.join(daily)}: daily format only; --format oulad-release "
                     "takes --out, --zip, --scale and --seed")
    if domain not in (None, "education"):
        _usage_error(f"--format oulad-release is education data (OULAD), not --domain {domain}")
    if out is None:
        _usage_error("--format oulad-release needs --out PATH")
    from lakeops.onboarding.oulad_release import RELEASE_ZIP
    from lakeops.synthetic.release import generate_release

    rows = generate_release(out, scale=scale, seed=seed, as_zip=as_zip)
    typer.echo(json.dumps({"format": GenerateFormat.oulad_release.value,
                           "path": str(out / RELEASE_ZIP if as_zip else out),
                           "scale": scale, "seed": seed, "rows": rows}, indent=2))


def _usage_error(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _jsonable(result: object) -> object:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(result) and not isinstance(result, type):
        data = asdict(result)
        files = data.pop("files", None)
        if files is not None:
            data["files"] = len(files)
        return data
    return result


@app.command()
def ingest(source: Domain, interval: Interval) -> None:
    """Ingest every table of a source for one interval, in this process (no Airflow)."""
    from lakeops.catalog.contracts import TABLES
    from lakeops.ingest import stage as ingest_mod

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    for table in TABLES[source]:
        ingest_mod.ingest_table(source, table, interval, settings)
    typer.echo(json.dumps(ingest_mod.record_interval(source, interval, settings)))


@app.command("purge-landing")
def purge_landing(interval: Interval) -> None:
    """Purge PII-bearing deliveries older than the landing retention from the landing
    archive, for one interval (what the purge_landing DAG runs), in this process."""
    from lakeops.landing import retention

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    typer.echo(json.dumps(retention.purge_landing(interval, get_settings()), indent=2))


@app.command()
def validate(source: Domain, interval: Interval) -> None:
    """Audit and publish every table of a source for one ingested interval (no Airflow)."""
    from lakeops.validate import publish

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    typer.echo(json.dumps(publish.validate_interval(source, interval, get_settings()),
                          indent=2))
