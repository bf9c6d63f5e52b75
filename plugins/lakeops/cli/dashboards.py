"""``lakeops dashboards publish | export``: the Superset dashboards kept as code in
superset/assets/, imported into the running Superset or written back from it."""

from __future__ import annotations

from typing import Annotated

import typer

from lakeops.core.settings import get_settings

app = typer.Typer(help="Superset dashboards as code (superset/assets/).", no_args_is_help=True)


@app.command("publish")
def publish(
    force: Annotated[bool, typer.Option(help="import even if unchanged")] = False,
) -> None:
    """Import superset/assets/ into the running Superset (overwrite; the database points
    at this profile's SQL endpoint, its password filled in at import)."""
    from lakeops.dashboards import bundle

    result = bundle.publish(get_settings(), force=force)
    if result["published"]:
        typer.echo(f"published {len(result['files'])} asset files "
                   f"(bundle {result['digest'][:12]})")
    else:
        typer.echo(f"not published: {result['reason']} (bundle {result['digest'][:12]})")


@app.command("export")
def export() -> None:
    """Write the running Superset's dashboards, charts, datasets and databases back into
    superset/assets/ (ids and hosts stripped), to review and commit."""
    from lakeops.dashboards import bundle

    for name in bundle.export(get_settings()):
        typer.echo(f"wrote superset/assets/{name}")
