"""``lakeops up | down | status``: the embedded services' life cycle, and the table of
where each one is reached (printed after ``up``, ``demo`` and ``load``)."""

from __future__ import annotations

from typing import Annotated

import typer

from lakeops.core.settings import Settings, get_settings

app = typer.Typer()


@app.command()
def up(timeout: Annotated[float, typer.Option(help="seconds to wait for health")] = 240) -> None:
    """Start the embedded services (idempotent) and wait until every one is healthy."""
    from lakeops import services

    settings = get_settings()
    statuses = services.up(settings, timeout=timeout)
    _print_statuses(statuses)
    print_access(settings)


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


def print_access(settings: Settings) -> None:
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
