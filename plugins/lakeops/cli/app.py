"""``lakeops`` command line: thin typer commands over importable functions."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from lakeops.core.settings import get_settings

app = typer.Typer(help="lakeops: batch data and model operations over a lakehouse.",
                  no_args_is_help=True, add_completion=False)

Domain = Annotated[str, typer.Option("--domain", "-d", help="education | business")]


def _print_statuses(statuses: list, memory: dict[str, float] | None = None) -> None:  # type: ignore[type-arg]
    typer.echo(f"{'service':<24}{'pid':>8}  {'port':>6}  {'health':<8}{'uptime':>9}"
               f"{'restarts':>9}{'PSS MB' if memory is not None else '':>8}  url / detail")
    for s in statuses:
        health = "healthy" if s.healthy else "DOWN"
        pss = f"{memory.get(s.name, 0):.0f}" if memory is not None and s.pid else ""
        typer.echo(f"{s.name:<24}{s.pid or '-':>8}  {s.port or '-':>6}  {health:<8}"
                   f"{_duration(s.uptime_s):>9}{s.restarts:>9}{pss:>8}  "
                   f"{s.url or ''} {s.detail or ''}".rstrip())
    if memory:
        typer.echo(f"whole stack (services and supervisord): {sum(memory.values()):,.0f} MB "
                   "proportional set size")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@app.command()
def up(timeout: Annotated[float, typer.Option(help="seconds to wait for health")] = 240) -> None:
    """Start the embedded services (idempotent) and wait until every one is healthy."""
    from lakeops import services

    settings = get_settings()
    statuses = services.up(settings, timeout=timeout)
    _print_statuses(statuses)
    _print_access(settings)


@app.command()
def down() -> None:
    """Stop every service, then supervisord; nothing of theirs is left running."""
    from lakeops import services

    stopped = services.down(get_settings())
    typer.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status() -> None:
    """Each service with its pid, port, health, uptime, restarts since `lakeops up` and
    memory (proportional set size of its process tree), and the whole stack's."""
    from lakeops import services

    settings = get_settings()
    statuses = services.status(settings)
    _print_statuses(statuses, services.memory(settings, statuses))
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


def _print_access(settings) -> None:  # type: ignore[no-untyped-def]
    """One row per service entry with a title (URL, credentials), then the folders."""
    from lakeops.services.specs import access_rows

    typer.echo("")
    for title, url, login in access_rows(settings):
        typer.echo(f"{title:<13}{url}  {login}".rstrip())
    typer.echo(f"{'Lake':<13}{settings.lake}")
    try:
        landing = f"{settings.landing_root}/landing  (deliveries, beside the lake)"
    except ValueError as exc:  # a misconfigured landing zone is named, not a crash here
        landing = str(exc)
    typer.echo(f"{'Landing':<13}{landing}")
    typer.echo(f"{'State folder':<13}{settings.home}  (secrets in {settings.secrets_dir}, "
               f"logs in {settings.log_dir})")


class GenerateFormat(StrEnum):
    daily = "daily"
    oulad_release = "oulad-release"


DAILY_ONLY = ("start", "days", "drift", "bad_records", "history_days")  # generate's options


@app.command()
def generate(
    ctx: typer.Context,
    domain: Annotated[str | None, typer.Option(
        "--domain", "-d", help="education | business (required for --format daily)")] = None,
    start: Annotated[str, typer.Option(help="first delivery day, YYYY-MM-DD")] = "2024-10-01",
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
    from lakeops.synthetic.generate import RELEASE_ZIP, generate_release

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
def ingest(
    source: Domain,
    interval: Annotated[str, typer.Option(help="data interval day, YYYY-MM-DD")],
) -> None:
    """Ingest every table of a source for one interval, in this process (no Airflow)."""
    from lakeops.catalog.contracts import TABLES
    from lakeops.ingest import stage as ingest_mod

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    for table in TABLES[source]:
        ingest_mod.ingest_table(source, table, interval, settings)
    typer.echo(json.dumps(ingest_mod.record_interval(source, interval, settings)))


@app.command("purge-landing")
def purge_landing(
    interval: Annotated[str, typer.Option(help="data interval day, YYYY-MM-DD")],
) -> None:
    """Purge PII-bearing deliveries older than the landing retention from the landing
    archive, for one interval (what the purge_landing DAG runs), in this process."""
    from lakeops.landing import retention

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    typer.echo(json.dumps(retention.purge_landing(interval, get_settings()), indent=2))


@app.command()
def validate(
    source: Domain,
    interval: Annotated[str, typer.Option(help="data interval day, YYYY-MM-DD")],
) -> None:
    """Audit and publish every table of a source for one ingested interval (no Airflow)."""
    from lakeops.validate import audit as validate_mod

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    typer.echo(json.dumps(validate_mod.validate_interval(source, interval, get_settings()),
                          indent=2))


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
    _print_access(settings)


load_app = typer.Typer(help="Onboard a published data set as a source's historical load.")
app.add_typer(load_app, name="load")


@load_app.command("oulad")
def load_oulad(
    path: Annotated[str, typer.Argument(
        help="the release's zip (anonymisedData.zip) or a folder of its seven CSVs")],
    interval: Annotated[str | None, typer.Option(
        help="the data interval it is delivered for, YYYY-MM-DD (default: the newest "
             "complete day)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the ingest run")] = 3600,
) -> None:
    """Check that PATH is the OULAD release (files, headers; rows printed), deliver it as
    the education source's historical load and ingest it through the scheduler (starts
    the platform if it is not up). Publishing it starts the features, dbt, models and
    dashboards as any delivery does. The release: https://analyse.kmi.open.ac.uk/open_dataset"""
    from datetime import UTC, datetime
    from pathlib import Path

    from lakeops import services
    from lakeops.demo import run as demo_mod
    from lakeops.onboarding import oulad

    settings = get_settings()
    day = date.fromisoformat(interval) if interval else date.today() - timedelta(days=1)
    try:
        release = oulad.check_release(Path(path))  # before anything starts
    except oulad.NotTheRelease as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    services.up(settings)
    for dag_id in [*demo_mod.FEATURE_DAGS, demo_mod.DBT_DAG, *demo_mod.MODEL_DAGS,
                   demo_mod.DASHBOARD_DAG]:  # what the publication starts
        demo_mod.wait_for_dag(settings, dag_id)
        demo_mod.unpause(settings, dag_id)
    since = datetime.now(UTC)
    oulad.load(settings, release, day, timeout=timeout, echo=typer.echo)
    oulad.build_marts(settings, since, timeout=timeout, echo=typer.echo)
    _print_access(settings)


@app.command()
def features(
    source: Domain,
    interval: Annotated[list[str], typer.Option(
        help="data interval day, YYYY-MM-DD; repeat it for several days")],
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


@app.command()
def sql(
    statement: Annotated[str, typer.Argument(help="SQL, e.g. SELECT * FROM "
                                             "lakehouse.curated.business.orders LIMIT 5")],
    out: Annotated[str | None, typer.Option(
        help="write the whole result to a .parquet or .csv file instead of printing")] = None,
    max_rows: Annotated[int, typer.Option(help="rows to print")] = 50,
    schema: Annotated[str | None, typer.Option(
        help="default schema for unqualified names, e.g. lakehouse.marts")] = None,
    user: Annotated[str | None, typer.Option(
        help="connect as this endpoint user (default LAKEOPS_FLIGHT_USER, the analyst); "
             "e.g. steward to read raw and quarantine")] = None,
) -> None:
    """Run SQL on the lakehouse through Dremio's Flight protocol (the embedded endpoint
    here, Dremio in the compose profile) and print the result or save it."""
    from lakeops.query import QueryError, connect, grants

    settings = get_settings()
    login = {} if user is None else {"user": user, "password": grants.password(settings, user)}
    try:
        with connect(settings, schema=schema, **login) as client:
            table = client.table(statement)
    except QueryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if out:
        _write_result(table, out)
        typer.echo(f"{table.num_rows} rows -> {out}")
        return
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200):
        typer.echo(table.slice(0, max_rows).to_pandas().to_string(index=False))
    if table.num_rows > max_rows:
        typer.echo(f"... {table.num_rows} rows in all (--max-rows or --out for more)")
    else:
        typer.echo(f"({table.num_rows} rows)")


def _write_result(table, out: str) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if out.endswith(".parquet"):
        pq.write_table(table, out)
    elif out.endswith(".csv"):
        pacsv.write_csv(table, out)
    else:
        raise typer.BadParameter("--out must end in .parquet or .csv")


@app.command("compose-env")
def compose_env(
    path: Annotated[str, typer.Option(help="the env file docker compose reads")] = ".env",
) -> None:
    """Generate the production profile's secrets into .env (kept if already there)."""
    from pathlib import Path

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
    import subprocess
    import sys
    from pathlib import Path

    from lakeops.services import airflow_env

    cmd = [str(Path(sys.executable).parent / "airflow"), *ctx.args]
    raise typer.Exit(subprocess.call(cmd, env=airflow_env(get_settings())))


@app.command()
def train(
    model: Annotated[str, typer.Option("--model", "-m",
                                       help="student_at_risk | customer_churn")],
    interval: Annotated[str, typer.Option("--interval", help="data interval, YYYY-MM-DD")],
) -> None:
    """Train a model on its training mart, register it as `challenger`, then run the
    promotion gate (needs the MLflow server: `lakeops up`); prints the decision."""
    from lakeops.ml.gate import evaluate_gate
    from lakeops.ml.train import train as train_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    trained = train_model(model, interval, settings)
    typer.echo(f"{model} v{trained['version']} (run {trained['run_id']}): holdout "
               + ", ".join(f"{k} {v:.4f}" for k, v in trained["metrics"].items()))
    decision = evaluate_gate(model, trained["version"], settings, interval=interval)
    typer.echo(f"gate: {decision['decision']} (champion {decision['champion_before']} -> "
               f"{decision['champion_after']})")
    for reason in decision["reasons"]:
        typer.echo(f"  - {reason}")



@app.command()
def score(
    model: Annotated[str, typer.Option("--model", "-m",
                                       help="student_at_risk | customer_churn")],
    interval: Annotated[str, typer.Option("--interval", help="data interval, YYYY-MM-DD")],
) -> None:
    """Score the interval's feature rows with the model's champion (needs the MLflow
    server: `lakeops up`) into predictions/<model>/dt=<interval>, then record the realised
    quality of the earlier predictions whose labels are known by now."""
    from lakeops.ml.score import NoChampionError, realised
    from lakeops.ml.score import score as score_interval

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    try:
        scored = score_interval(model, interval, settings)
    except (NoChampionError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"{model} {interval}: {scored['rows']} rows scored by v{scored['version']} "
               f"(threshold {scored['threshold']}), {scored['predicted_positive']} "
               f"predicted positive -> {scored['path']}")
    quality = realised(model, interval, settings)
    for version, m in quality["versions"].items():
        typer.echo(f"  realised v{version}: " + ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items()))


@app.command()
def monitor(
    model: Annotated[str, typer.Option("--model", "-m",
                                       help="student_at_risk | customer_churn")],
    interval: Annotated[str, typer.Option("--interval", help="data interval, YYYY-MM-DD")],
) -> None:
    """Drift of the interval's scored rows against the training reference (Evidently):
    report under reports/drift/, a run in the Evidently workspace, the drift tables;
    exits 3 when drift crossed the retraining threshold."""
    from lakeops.ml.monitor import monitor as monitor_interval

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    try:
        result = monitor_interval(model, interval, settings)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"{model} {interval} vs v{result['reference_version']} reference: "
               f"{result['drifted_features']}/{result['features']} features drifted "
               f"(share {result['drift_share']:.2f}, PSI > {result['psi_threshold']}: "
               f"{result['psi_drifted_features']}), prediction drift score "
               f"{result['prediction_drift_score']:.4f} ({result['prediction_stattest']})")
    if result["drifted"]:
        typer.echo("  drifted: " + ", ".join(result["drifted"]))
    typer.echo(f"  report: {settings.docs_url}/drift/{model}/{interval}.html")
    if result["alert"]:
        typer.echo(f"  ALERT: drift share reached {result['drift_share_threshold']}: retrain")
        raise typer.Exit(3)


dashboards_app = typer.Typer(help="Superset dashboards as code (superset/assets/).",
                             no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.command("publish")
def dashboards_publish(
    force: Annotated[bool, typer.Option(help="import even if unchanged")] = False,
) -> None:
    """Import superset/assets/ into the running Superset (overwrite; the database points
    at this profile's SQL endpoint, its password filled in at import)."""
    from lakeops.dashboards import bundle as dashboards

    result = dashboards.publish(get_settings(), force=force)
    if result["published"]:
        typer.echo(f"published {len(result['files'])} asset files "
                   f"(bundle {result['digest'][:12]})")
    else:
        typer.echo(f"not published: {result['reason']} (bundle {result['digest'][:12]})")


@dashboards_app.command("export")
def dashboards_export() -> None:
    """Write the running Superset's dashboards, charts, datasets and databases back into
    superset/assets/ (ids and hosts stripped), to review and commit."""
    from lakeops.dashboards import bundle as dashboards

    for name in dashboards.export(get_settings()):
        typer.echo(f"wrote superset/assets/{name}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
