"""Every UI a user opens, in a real headless browser over the demo's running platform
(tests/e2e/conftest.py): Debian's chromium driven by Playwright from PyPI, nothing
downloaded. Superset: log in through the form, open each dashboard of the bundle with a date
filter applied, wait for every chart, no chart errors and each shows data (the SQL Superset
sent for each chart is kept beside the screenshots); Airflow's UI lists the platform's DAGs
and their successful runs; MLflow's shows the registered models with their champions; the
docs site's GX data docs and dbt docs render.

The browser may reach loopback only: any request to another host is refused and fails the
test (Superset's telemetry pixel, the data docs' CDNs). Screenshots go to
``<state folder>/test-artifacts/browser/`` (``.lakeops/`` under ``make test``)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from tests.e2e.shared_platform import FEATURE_DAYS, INTERVALS

from lakeops.catalog import dags
from lakeops.core.settings import Settings
from lakeops.dashboards import bundle as dashboards
from lakeops.query import QueryError, connect
from lakeops.services.airflow import airflow_admin_password
from lakeops.services.superset import superset_admin_password

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = Path("/usr/bin/chromium")
# headless, and none of chromium's own calls home (this machine reaches no one anyway)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SHOTS = Settings().home / "test-artifacts" / "browser"
WAIT_S = 90
# the date filter: the demo's last week (Business' KPIs are checked against it), up to the
# day after the newest date the charted tables hold for the other dashboards (some tables
# are dated when something ran, e.g. gate decisions: read from the data, never from the
# clock, so a run that crosses midnight filters what it wrote)
SINCE = date.fromisoformat(FEATURE_DAYS[-7])
SELECTED_UNTIL = date.fromisoformat(INTERVALS[-1]) + timedelta(days=1)


@pytest.fixture(scope="module")
def platform(demo_platform: tuple[Settings, str, list[str]]) -> Settings:
    return demo_platform[0]


def _charted_datasets() -> list[dict[str, Any]]:
    """The bundle's datasets a chart reads that have a time column (the one a time filter
    applies to)."""
    def docs(folder: str) -> list[dict[str, Any]]:
        return [yaml.safe_load(p.read_text())
                for p in sorted((dashboards.ASSETS / folder).rglob("*.yaml"))]

    charted = {chart["dataset_uuid"] for chart in docs("charts")}
    return [d for d in docs("datasets") if d["uuid"] in charted and d.get("main_dttm_col")]


@pytest.fixture(scope="module")
def until(platform: Settings) -> date:
    """The day after the newest date any charted dataset holds in its time column."""
    newest: list[date] = []
    with connect(platform) as client:
        for doc in _charted_datasets():
            source = (f"({doc['sql']}) AS t" if doc.get("sql")
                      else f"{doc['schema']}.{doc['table_name']}")
            column = doc["main_dttm_col"]
            # not max(): DuckDB 1.5 fails max() of the partition column of a table with
            # a single partition
            try:
                rows = client.table(f"SELECT {column} AS newest FROM {source} WHERE "
                                    f"{column} IS NOT NULL ORDER BY {column} DESC LIMIT 1"
                                    ).to_pylist()
            except QueryError:  # not written (yet): its dashboard's test says so
                continue
            newest += [date.fromisoformat(str(row["newest"])[:10]) for row in rows]
    assert newest, "no charted dataset holds a row"
    return max(newest) + timedelta(days=1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"Debian's package 'chromium' is not installed ({CHROMIUM}): "
                    "`make test` installs it when run as root; otherwise "
                    "`sudo apt-get install chromium`")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """A browser context with one page that may reach loopback only; what it tried to
    reach elsewhere is kept (and refused)."""

    def __init__(self, browser: Any, **context: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1600, "height": 2400},
                                           **context)
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_S * 1000)

    def _route(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname in LOOPBACK:
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def shot(self, name: str) -> Path:
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    t = Tab(browser)
    yield t
    t.close()


# --- Superset --------------------------------------------------------------------------

def _charts(dashboard: dict[str, Any]) -> set[str]:
    return {v["meta"]["uuid"] for v in dashboard["position"].values()
            if isinstance(v, dict) and v.get("type") == "CHART"}


def _week_bounds(settings: Settings) -> tuple[int, int]:
    with connect(settings) as client:
        row = client.table("SELECT min(week) AS lo, max(week) AS hi "
                           "FROM lakehouse.marts.education_kpis_weekly").to_pylist()[0]
    return int(row["lo"]), int(row["hi"])


def _filters(dashboard: dict[str, Any], settings: Settings, newest: date
             ) -> dict[str, Any]:
    """The dashboard's date filter (or, for Education, its week-of-presentation range)
    set as a user would leave it, in the form Superset keeps in a dashboard's URL; the
    range ends at ``newest`` (exclusive), Business' at the demo's last interval."""
    state: dict[str, Any] = {}
    for f in dashboard["metadata"]["native_filter_configuration"]:
        if f["filterType"] == "filter_time":
            until = SELECTED_UNTIL if dashboard["slug"] == "business" else newest
            value = f"{SINCE.isoformat()} : {until.isoformat()}"
            state[f["id"]] = {"id": f["id"], "extraFormData": {"time_range": value},
                              "filterState": {"value": value}}
        elif f["filterType"] == "filter_range":
            column = f["targets"][0]["column"]["name"]
            lo, hi = _week_bounds(settings)
            state[f["id"]] = {"id": f["id"], "filterState": {"value": [lo, hi]},
                              "extraFormData": {"filters": [
                                  {"col": column, "op": ">=", "val": lo},
                                  {"col": column, "op": "<=", "val": hi}]}}
    assert state, f"{dashboard['slug']} has no date filter"
    return state


def _rison(value: Any) -> str:
    """Rison, the notation of Superset's dashboard URL parameters (for the JSON shapes
    used here: objects, lists, strings, numbers)."""
    if isinstance(value, dict):
        return "(" + ",".join(f"{_rison_key(k)}:{_rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list):
        return "!(" + ",".join(_rison(v) for v in value) + ")"
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("!", "!!").replace("'", "!'") + "'"


def _rison_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", key) else _rison(key)


@pytest.fixture(scope="module")
def superset_login(browser: Any, platform: Settings) -> dict[str, Any]:
    """Logs in through Superset's sign-in form; the session every dashboard test reuses."""
    t = Tab(browser)
    try:
        t.page.goto(f"{platform.superset_url}/login/")
        t.page.locator("#username").fill(platform.superset_admin_user)
        t.page.locator("#password").fill(superset_admin_password(platform))
        t.page.get_by_role("button", name="Sign in").click()
        t.page.wait_for_url(lambda url: "/login" not in url)
        t.page.get_by_text("Dashboards").first.wait_for()
        t.shot("superset-home")
        assert not t.outside, f"Superset called outside hosts: {t.outside}"
        state: dict[str, Any] = t.context.storage_state()
        return state
    finally:
        t.close()


def _wait_for_charts(t: Tab, results: list[dict[str, Any]], charts: int) -> None:
    """Until every chart's data call answered (the filters' own option queries carry no
    chart id) and no chart is still loading."""
    deadline = time.monotonic() + WAIT_S
    answered = 0
    while time.monotonic() < deadline:
        answered = len({r["chart"] for r in results if r["chart"] is not None})
        loading = t.page.locator('[data-test="loading-indicator"]').count()
        if answered >= charts and not loading:
            return
        t.page.mouse.wheel(0, 600)  # charts below the fold render when scrolled to
        t.page.wait_for_timeout(500)
    raise AssertionError(f"{answered} of {charts} charts answered in {WAIT_S}s")


@pytest.mark.parametrize("dashboard", dashboards.dashboard_docs(), ids=lambda d: d["slug"])
def test_each_dashboard_renders_every_chart_with_a_date_filter(
        browser: Any, demo_platform: tuple[Settings, str, list[str]],
        superset_login: dict[str, Any], until: date, dashboard: dict[str, Any]) -> None:
    """Opened as a user would with its date filter applied: every chart answers from the
    SQL endpoint with rows, none shows an error or "No results", and the filter reached
    the SQL (Dremio's TO_DATE / TO_TIMESTAMP, run by the endpoint's translation). The
    dashboard is opened at the URL `make run` printed for it."""
    platform = demo_platform[0]
    t = Tab(browser, storage_state=superset_login)
    results: list[dict[str, Any]] = []

    def on_response(response: Any) -> None:
        if "/api/v1/chart/data" in response.url and response.request.method == "POST":
            body = response.json() if response.ok else {"error": response.text()}
            form = (response.request.post_data_json or {}).get("form_data", {})
            results.append({"status": response.status, "chart": form.get("slice_id"),
                            "result": body.get("result", []), "error": body.get("error")})

    t.page.on("response", on_response)
    charts = len(_charts(dashboard))
    filters = _rison(_filters(dashboard, platform, until))
    url = _printed_url(demo_platform[1], dashboard["dashboard_title"])
    try:
        t.page.goto(f"{url}?native_filters={filters}")
        t.page.get_by_text(dashboard["dashboard_title"]).first.wait_for()
        _wait_for_charts(t, results, charts)
    finally:
        t.shot(f"superset-{dashboard['slug']}")
        (SHOTS / f"superset-{dashboard['slug']}.sql.json").write_text(json.dumps(
            [{"chart": r["chart"], "status": r["status"],
              "sql": [q.get("query") for q in r["result"]]} for r in results], indent=1))
        page_errors = t.page.locator('[data-test="chart-container"] .ant-alert-error, '
                                     '[data-test="error-message"]').count()
        empty = t.page.locator('[data-test="chart-container"] [data-test="empty-state"]'
                               ).count()
        rendered = t.page.locator('[data-test="chart-container"]').count()
        t.close()

    failed = [r for r in results if r["status"] != 200 or r["error"]
              or any(q.get("status") != "success" or q.get("error") for q in r["result"])]
    assert not failed, failed
    queries = [q for r in results for q in r["result"]]
    empty_queries = [q.get("query") for q in queries if not q.get("rowcount")]
    assert not empty_queries, f"charts with no rows: {empty_queries}"
    assert rendered >= charts and page_errors == 0 and empty == 0, (rendered, page_errors,
                                                                    empty)
    # the date filter reached the SQL the endpoint ran: Superset's Dremio dialect
    filtered = [q["query"] for q in queries if q.get("applied_filters")]
    assert filtered, "no chart applied the dashboard's filter"
    if dashboard["slug"] != "education":
        assert any(f"TO_DATE('{SINCE.isoformat()}', 'YYYY-MM-DD')" in sql
                   or f"TO_TIMESTAMP('{SINCE.isoformat()} 00:00:00" in sql
                   or f"'{SINCE.isoformat()} 00:00:00" in sql for sql in filtered), filtered
    assert not t.outside, f"the dashboard called outside hosts: {t.outside}"
    if dashboard["slug"] == "business":
        _orders_match_the_endpoint(platform, results)


def _printed_url(report: str, title: str) -> str:
    (url,) = [line.split()[-1] for line in report.splitlines()
              if line.strip().startswith(f"{title} ") and "/superset/dashboard/" in line]
    return url


def _orders_match_the_endpoint(settings: Settings, results: list[dict[str, Any]]) -> None:
    """The Orders number a user reads is the endpoint's own sum over the filtered days."""
    with connect(settings) as client:
        expected = client.table(
            "SELECT sum(orders) AS n FROM lakehouse.marts.business_kpis_daily "
            f"WHERE order_date >= DATE '{SINCE}' AND order_date < DATE '{SELECTED_UNTIL}'"
        ).to_pylist()[0]["n"]
    shown = [row for r in results for q in r["result"] if "SUM(orders)" in (q["query"] or "")
             and "GROUP BY" not in q["query"] for row in q["data"]]
    assert shown and [next(iter(row.values())) for row in shown] == [expected], shown


# --- Airflow, MLflow, docs --------------------------------------------------------------

PLATFORM_DAGS = [*dags.INGEST, *dags.DATA_DRIVEN]  # what the demo runs


def test_airflow_lists_the_platform_dags_and_their_successful_runs(
        tab: Tab, platform: Settings) -> None:
    page = tab.page
    page.goto(f"{platform.airflow_url}/")
    page.locator("input[name=username]").fill(platform.airflow_admin_user)
    page.locator("input[name=password]").fill(airflow_admin_password(platform))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Dags").first.wait_for()
    page.goto(f"{platform.airflow_url}/dags")
    page.get_by_role("link", name=dags.train_dag("student_at_risk")).first.wait_for()
    listed = page.locator("body").inner_text()
    tab.shot("airflow-dags")
    assert [d for d in dags.ALL if d not in listed] == []
    page.goto(f"{platform.airflow_url}/dag_runs?state=success")
    page.get_by_role("link", name=dags.DBT_BUILD).first.wait_for()
    page.wait_for_timeout(1000)
    runs = page.locator("table").inner_text()
    tab.shot("airflow-successful-runs")
    assert [d for d in PLATFORM_DAGS if d not in runs] == [], runs[:2000]
    assert not tab.outside, tab.outside


def test_mlflow_shows_the_registered_models_with_their_champions(
        tab: Tab, platform: Settings) -> None:
    """The registry's list has both models; each model's page shows the version the gate
    made `champion`, with the gate's decision in its tags."""
    from lakeops.ml import score
    from lakeops.ml.specs import SPECS

    page = tab.page
    page.goto(f"{platform.mlflow_url}/#/models")
    for name in SPECS:
        page.get_by_role("link", name=name, exact=True).wait_for()
    tab.shot("mlflow-models")
    for name in SPECS:
        champion = score.champion(name, platform).version
        page = tab.context.new_page()  # a hash change alone would keep the last page
        page.goto(f"{platform.mlflow_url}/#/models/{name}")
        page.get_by_text(f"Version {champion}", exact=True).first.wait_for()
        body = _wait_for_text(page, "@ champion")
        page.screenshot(path=SHOTS / f"mlflow-{name}.png", full_page=True)
        assert "gate.decision" in body
    assert not tab.outside, tab.outside


def _wait_for_text(page: Any, text: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        body = str(page.locator("body").inner_text()).replace("\xa0", " ")
        if text in body:
            return body
        page.wait_for_timeout(500)
    raise AssertionError(f"{text!r} never appeared on {page.url}")


def test_gx_data_docs_render_styled_from_the_docs_site(tab: Tab, platform: Settings) -> None:
    """Bootstrap and the results table load from the docs site itself, offline."""
    page = tab.page
    page.goto(f"{platform.docs_url}/data_docs/index.html", wait_until="networkidle")
    page.locator("table tbody tr").first.wait_for()
    # the validation results table is built by bootstrap-table: its rows only exist when
    # the scripts loaded; bootstrap's stylesheet gives the navbar its fixed position
    rows = page.locator("table tbody tr").count()
    position = page.locator("nav.navbar").first.evaluate("e => getComputedStyle(e).position")
    tab.shot("data-docs-index")
    assert rows > 0 and position in ("fixed", "sticky", "relative"), (rows, position)
    page.locator("table tbody tr").first.locator("td").nth(2).click()  # a row opens its run
    page.wait_for_url("**/validations/**")
    page.get_by_text("Overview").first.wait_for()
    tab.shot("data-docs-validation")
    assert "Expectation" in page.locator("body").inner_text()
    assert not tab.outside, tab.outside


def test_dbt_docs_render_a_mart(tab: Tab, platform: Settings) -> None:
    page = tab.page
    page.goto(f"{platform.docs_url}/dbt_docs/index.html#!/model/model.lakeops."
              "business_kpis_daily", wait_until="networkidle")
    page.get_by_text("business_kpis_daily").first.wait_for()
    page.get_by_text("order_date").first.wait_for()
    tab.shot("dbt-docs-business-kpis-daily")
    assert not tab.outside, tab.outside
