"""``lakeops sql``: SQL on the lakehouse through the Flight SQL endpoint, as an analyst
(or another endpoint user) sees it, printed or saved to a file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lakeops.core.settings import get_settings

if TYPE_CHECKING:
    import pyarrow as pa

app = typer.Typer()


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


def _write_result(table: pa.Table, out: str) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if out.endswith(".parquet"):
        pq.write_table(table, out)
    elif out.endswith(".csv"):
        pacsv.write_csv(table, out)
    else:
        raise typer.BadParameter("--out must end in .parquet or .csv")
