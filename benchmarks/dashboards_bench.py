"""Every dashboard's charts through Superset and the SQL endpoint, against the same queries
on in-process DuckDB.

The lake (``<work>/lake``, rebuilt on every run; it takes seconds):

* full-scale marts - the five marts the bundle's datasets read (``business_kpis_daily``,
  ``business_revenue_by_category``, ``education_assessment_performance``,
  ``education_engagement_trend``, ``education_kpis_weekly``), copied from the lake of the
  dbt benchmark (``<bench work>/dbt``: laid down with :func:`benchmarks.lakes.curated_lake`
  and built with ``dbt run`` only when its marts are missing, so after ``--only dbt`` or a
  previous run nothing is redone);
* synthetic - what the model and quality stages write, which the Data quality and Models
  dashboards read; shaped as the bundle's dataset YAMLs type their columns, over the same
  days as the lake:

  - ``predictions/<model>``: the rows batch scoring scores (``lakeops.ml.score``), taken
    from the dbt lake's features marts: the students of each presentation's newest
    ``prediction_day`` (``ml_education_features``) and the customers of the newest
    ``as_of_date`` (``ml_business_features``), scored on each of the last 3 days (at scale
    0.02 over 30 days: 627 and 4,199 rows a day; about 50 times that at scale 1.0);
  - ``monitoring/validation_results/<source>``: one row per rule the validation suite
    really runs (``lakeops.validate.rules.rules_for``) per table and day, ~2% failing;
  - ``monitoring/ingest_runs/<source>``: one row per table and day;
  - ``monitoring/drift/<model>``: one row per model and day;
  - ``monitoring/model_decisions``: one gate decision per model every 7 days.

The SQL endpoint and Superset run as ``lakeops up`` starts them (state in ``<work>``, free
loopback ports); the bundle is published (``dashboards.publish``, forced: the endpoint's
port changes between runs). For each dashboard, its charts (``/api/v1/dashboard/<slug>/
charts``) one after another; per chart, the chart data call Superset's UI makes for a saved
chart (``GET /api/v1/chart/<id>/data/``):

* ``cold`` - with ``force=true``: Superset bypasses its cache, builds the SQL (its Dremio
  engine spec), runs it over ``dremio+flight`` on the endpoint (handshake, plan, the
  Dremio SQL translated to DuckDB, the Arrow result), post-processes it, answers JSON;
* ``warm`` - the same call without ``force`` right after: served from Superset's cache
  (the answer must say ``is_cached``);
* ``floor`` - the SQL Superset ran (the ``query`` of that chart's results, taken from an
  untimed first pass), translated by the endpoint's own dialect (``Dialect.translate``)
  to DuckDB and run on in-process DuckDB over views created as the endpoint's catalog
  creates them (``catalog.scan``), each result fetched as Arrow. A fresh process per
  repeat (:func:`benchmarks.harness.measure`); view creation and translation are not timed.

Cold and warm are timed in this (the parent) process, against the servers already running:
wall time of each HTTP call until its body is read (JSON decoding not counted). Their peak
MB is the endpoint's and Superset's resident memory (with Superset's gunicorn worker),
sampled during that dashboard's calls; the floor's is its process's own.

Not included: what else a browser does when it opens a dashboard (the page, the native
filters' value queries, charts loaded in parallel); the charts here run one at a time.

Per dashboard: the sum over its charts of each contender's seconds, best of 3 repeats.
The issue sets no numeric target: reported are cold/floor and warm/floor per dashboard.
Superset's rows (``sql_rowcount``, before its post-processing) must equal the floor's rows,
chart by chart. The results are saved as ``dashboards.json`` in the results folder.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks import lakes
from benchmarks.harness import Measurement, measure, save, timed
from lakeops.services.ports import free_port

REPEAT = 3
PREDICTION_DAYS = 3  # the newest days that carry predictions
DECISION_EVERY = 7  # days between promotion gate decisions
FAILING = 0.02  # share of validation results that fail
SEED = 5
KEY_MARTS = ("ml_education_features", "ml_business_features")  # who the predictions score


# -- the lake ------------------------------------------------------------------------------


def _datasets() -> list[dict[str, Any]]:
    import yaml

    from lakeops.dashboards import bundle as dashboards

    return [yaml.safe_load(p.read_text())
            for p in sorted((dashboards.ASSETS / "datasets").rglob("*.yaml"))]


def _source_path(dataset: dict[str, Any]) -> str:
    """The lake folder a dataset reads: its table, or the one table its SQL selects."""
    sql = dataset.get("sql")
    if sql:
        name = str(sql).split(" FROM ", 1)[1].strip().rstrip(";")
    else:
        name = f"{dataset['schema']}.{dataset['table_name']}"
    return "/".join(name.split(".")[1:])  # lakehouse.<zone>... -> <zone>/...


def mart_names() -> list[str]:
    return [d["table_name"] for d in _datasets()
            if d["schema"] == "lakehouse.marts" and not d.get("sql")]


def dbt_marts(dbt_work: Path, scale: float, days: int) -> Path:
    """The dbt benchmark's lake with its marts; built only where missing."""
    lake = Path(lakes.settings(dbt_work).lake)
    present = lakes.is_curated(dbt_work, scale, days) and all(
        any((lake / "marts" / m).glob("*.parquet")) for m in [*mart_names(), *KEY_MARTS])
    if not present:
        lakes.curated_lake(dbt_work, scale, days)
        t0 = time.perf_counter()
        lakes.dbt(str(dbt_work), "run")
        print(f"dbt run for the marts in {time.perf_counter() - t0:.0f}s")
    return lake


ARROW_TYPES = {"VARCHAR": "string", "STRING": "string", "BIGINT": "int64", "INTEGER": "int32",
               "INT": "int32", "FLOAT": "float64", "DOUBLE": "float64",
               "DECIMAL": "decimal", "DATE": "date32", "DATETIME": "timestamp",
               "TIMESTAMP": "timestamp", "BOOLEAN": "bool"}


def _generic(column: dict[str, Any], n: int, day: date, rng: Any) -> Any:
    """``n`` values of a column, by the type the dataset YAML gives it."""
    import pyarrow as pa

    name, kind = column["column_name"], ARROW_TYPES[str(column["type"]).split("(")[0].upper()]
    if kind == "string":
        return pa.array([f"{name}-{k}" for k in rng.integers(0, 5, n)], pa.string())
    if kind in ("int64", "int32"):
        return pa.array(rng.integers(0, 10_000, n), getattr(pa, kind)())
    if kind == "float64":
        return pa.array(rng.random(n), pa.float64())
    if kind == "decimal":
        cents = rng.integers(0, 1_000_000, n)
        return pa.array([Decimal(int(c)) / 100 for c in cents], pa.decimal128(18, 2))
    if kind == "date32":
        return pa.array([day] * n, pa.date32())
    if kind == "timestamp":
        return pa.array([datetime.combine(day, datetime.min.time())] * n, pa.timestamp("us"))
    return pa.array(rng.random(n) < 0.9, pa.bool_())


def _table(dataset: dict[str, Any], n: int, day: date, rng: Any,
           fixed: dict[str, Any]) -> Any:
    """A partition of ``dataset`` (``dt`` is the partition folder's): ``fixed`` values
    where given (a scalar is repeated), type-shaped random values elsewhere."""
    import pyarrow as pa

    out = {}
    for col in dataset["columns"]:
        name = col["column_name"]
        if col.get("expression") or name == "dt":
            continue
        value = fixed.get(name)
        if value is None:
            out[name] = _generic(col, n, day, rng)
        elif isinstance(value, (pa.Array, pa.ChunkedArray)):
            out[name] = value
        else:
            out[name] = pa.array([value] * n)
    return pa.table(out)


@dataclass
class Synth:
    """What the synthetic tables are made of: the lake's days, keys and the rules."""

    days: list[date]
    students: Any  # code_module, code_presentation, student_id, prediction_day
    customers: Any  # customer_id
    rng: Any
    written: dict[str, int] = field(default_factory=dict)


def _predictions(lake: Any, ds: dict[str, Any], path: str, s: Synth) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    model = path.split("/")[-1]
    keys = s.students if model == "student_at_risk" else s.customers
    n = keys.num_rows
    for i, day in enumerate(s.days[-PREDICTION_DAYS:], start=1 - PREDICTION_DAYS):
        probability = pa.array(s.rng.beta(2, 5, n))
        fixed = {"probability": probability, "threshold": 0.5, "model": model,
                 "model_version": "1", "run_id": f"score-{day}", "interval": day.isoformat(),
                 "predicted_label": pc.cast(pc.greater_equal(probability, 0.5), pa.int32()),
                 "as_of_date": datetime.combine(day, datetime.min.time())}
        if model == "student_at_risk":
            fixed |= {k: keys[k] for k in ("code_module", "code_presentation", "student_id")}
            fixed["prediction_day"] = pc.add(keys["prediction_day"], pa.scalar(i, pa.int32()))
        else:
            fixed["customer_id"] = keys["customer_id"]
        _write(lake, s, path, day, _table(ds, n, day, s.rng, fixed))


def _validation(lake: Any, ds: dict[str, Any], path: str, s: Synth) -> None:
    from lakeops.catalog.contracts import TABLES, get_contract
    from lakeops.validate.rules import rules_for

    source = path.split("/")[-1]
    for table in TABLES[source]:
        rules = rules_for(get_contract(source, table), s.days[-1].isoformat(), [1, 1, 1])
        n = len(rules)
        for day in s.days:
            success = s.rng.random(n) >= FAILING
            fixed = {"source": source, "table": table, "interval": day.isoformat(),
                     "run_id": f"{source}.{table}@{day}", "rule": [r.name for r in rules],
                     "expectation": [r.expectation for r in rules],
                     "severity": [r.severity for r in rules],
                     "level": [r.level for r in rules], "success": success.tolist(),
                     "unexpected_count": [0 if ok else 3 for ok in success],
                     "quarantined": [0 if ok else 3 for ok in success]}
            _write(lake, s, path, day, _table(ds, n, day, s.rng, _arrays(fixed)),
                   f"{table}.parquet")


def _ingest_runs(lake: Any, ds: dict[str, Any], path: str, s: Synth) -> None:
    from lakeops.catalog.contracts import TABLES

    source = path.split("/")[-1]
    tables = list(TABLES[source])
    for day in s.days:
        fixed = {"source": source, "table": tables, "interval": day.isoformat(),
                 "rows_rejected": [0] * len(tables)}
        _write(lake, s, path, day, _table(ds, len(tables), day, s.rng, _arrays(fixed)))


def _drift(lake: Any, ds: dict[str, Any], path: str, s: Synth) -> None:
    model = path.split("/")[-1]
    for day in s.days:
        fixed = {"model": model, "interval": day.isoformat(), "model_version": "1",
                 "reference_version": "1"}
        _write(lake, s, path, day, _table(ds, 1, day, s.rng, fixed))


def _decisions(lake: Any, ds: dict[str, Any], path: str, s: Synth) -> None:
    from lakeops.catalog.datasets import MODELS

    for k, day in enumerate(s.days[DECISION_EVERY - 1::DECISION_EVERY], start=1):
        for model in MODELS.values():
            fixed = {"model": model, "version": str(k), "action": "gate",
                     "decision": "promote" if k % 2 else "reject",
                     "decided_at": f"{day}T06:00:00", "interval": day.isoformat()}
            _write(lake, s, path, day, _table(ds, 1, day, s.rng, fixed),
                   f"{model}.v{k}.gate.parquet")


def _arrays(values: dict[str, Any]) -> dict[str, Any]:
    """Lists as Arrow arrays (``_table`` repeats anything else)."""
    import pyarrow as pa

    return {k: pa.array(v) if isinstance(v, list) else v for k, v in values.items()}


def _write(lake: Any, s: Synth, path: str, day: date, table: Any,
           name: str = "part-0.parquet") -> None:
    zone, dataset = path.split("/", 1)
    lake.write_partition(zone, dataset, day.isoformat(), table, name=name)
    s.written[path] = s.written.get(path, 0) + table.num_rows


SYNTHETIC = {"predictions/": _predictions, "monitoring/validation_results/": _validation,
             "monitoring/ingest_runs/": _ingest_runs, "monitoring/drift/": _drift,
             "monitoring/model_decisions": _decisions}


def _keys(dbt_lake: Path) -> tuple[Any, Any]:
    """The rows batch scoring scores: the features marts' rows of their newest as-of day
    (per presentation for education, as OULAD days are presentation days)."""
    import duckdb

    def read(mart: str, sql: str) -> Any:
        source = f"read_parquet('{dbt_lake / 'marts' / mart}/*.parquet')"
        return duckdb.connect().execute(sql.format(source=source)).to_arrow_table()

    students = read("ml_education_features", (
        "SELECT code_module, code_presentation, student_id, prediction_day FROM {source} "
        "QUALIFY prediction_day = max(prediction_day) OVER (PARTITION BY code_module, "
        "code_presentation) ORDER BY ALL"))
    customers = read("ml_business_features", (
        "SELECT customer_id FROM {source} WHERE as_of_date = (SELECT max(as_of_date) "
        "FROM {source}) ORDER BY ALL"))
    return students, customers


def build_lake(work: Path, dbt_work: Path, scale: float, days: int) -> dict[str, int]:
    """``<work>/lake``: the full-scale marts and the synthetic tables; rows per table."""
    import numpy as np
    import pyarrow.parquet as pq

    from lakeops.storage.lake import Lake

    dbt_lake = dbt_marts(dbt_work, scale, days)
    settings = lakes.settings(work)
    shutil.rmtree(settings.lake, ignore_errors=True)
    rows: dict[str, int] = {}
    for mart in mart_names():
        target = Path(settings.lake) / "marts" / mart
        target.mkdir(parents=True)
        for part in sorted((dbt_lake / "marts" / mart).glob("*.parquet")):
            shutil.copyfile(part, target / part.name)
            rows[f"marts/{mart}"] = rows.get(f"marts/{mart}", 0) + pq.ParquetFile(
                part).metadata.num_rows
    students, customers = _keys(dbt_lake)
    synth = Synth([lakes.START + timedelta(days=d) for d in range(days)], students,
                  customers, np.random.default_rng(SEED))
    lake = Lake.from_settings(settings)
    for ds in _datasets():
        path = _source_path(ds)
        writer = next((w for prefix, w in SYNTHETIC.items() if path.startswith(prefix)), None)
        if writer is not None:
            writer(lake, ds, path, synth)
        elif not path.startswith("marts/"):
            raise RuntimeError(f"no rows for {path} (dataset {ds['table_name']})")
    return rows | synth.written


# -- the floor (child side) ----------------------------------------------------------------


def _floor(work: str, queries: str, dashboard: str, rows_out: str) -> None:
    """The dashboard's charts' SQL, translated as the endpoint translates it, on DuckDB
    over the lake's tables as the endpoint's catalog makes them; results as Arrow."""
    import duckdb

    from lakeops.query import catalog
    from lakeops.query.dialect import Dialect
    from lakeops.query.views import INFO_VIEWS
    from lakeops.storage.lake import Lake

    tables = catalog.scan(Lake.from_settings(lakes.settings(Path(work))))
    db = duckdb.connect()
    for table in tables.values():
        db.execute(f"CREATE OR REPLACE VIEW {table.view} AS SELECT * FROM {table.source}")
    dialect = Dialect({k: t.view for k, t in tables.items()}, INFO_VIEWS)
    charts = json.loads(Path(queries).read_text())[dashboard]
    sql = {c["name"]: [dialect.translate(q).sql for q in c["queries"]] for c in charts}
    counts: dict[str, int] = {}

    def run() -> int:
        for name, statements in sql.items():
            counts[name] = sum(db.execute(s).to_arrow_table().num_rows for s in statements
                               if s is not None)
        return sum(counts.values())

    timed(run)
    Path(rows_out).write_text(json.dumps(counts))


def child(kind: str, *args: str) -> None:
    import duckdb  # noqa: F401  (imports are not the work measured)
    import pyarrow  # noqa: F401

    import lakeops.query.server  # noqa: F401

    if kind != "floor":
        raise SystemExit(f"unknown contender {kind}")
    _floor(*args)


# -- Superset (parent side) ----------------------------------------------------------------


class _ServersRss(threading.Thread):
    """Peak resident memory (MB) of some processes and their children, sampled every
    50 ms."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = 0.0
        self.done = threading.Event()

    def _rss(self) -> float:
        from lakeops.services.processes import tree_mb

        return sum(tree_mb(pid, "rss") for pid in self.pids)

    def run(self) -> None:
        self.peak = self._rss()
        while not self.done.wait(0.05):
            self.peak = max(self.peak, self._rss())


@dataclass
class Chart:
    id: int
    name: str
    queries: list[str]
    rows: int  # Superset's: the SQL result's rows (before post-processing)


def _data(client: Any, chart: int, force: bool) -> tuple[float, dict[str, Any]]:
    """Seconds of one chart data call (until its body is read) and its answer."""
    params = {"force": "true"} if force else {}
    t0 = time.perf_counter()
    r = client.get(f"/api/v1/chart/{chart}/data/", params=params)
    seconds = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"chart {chart}: HTTP {r.status_code} {r.text[:500]}")
    return seconds, r.json()


def _charts(client: Any, slug: str) -> list[Chart]:
    """A dashboard's charts, with the SQL Superset runs for each (an untimed first call)."""
    r = client.get(f"/api/v1/dashboard/{slug}/charts")
    r.raise_for_status()
    out = []
    for chart in sorted(r.json()["result"], key=lambda c: c["id"]):
        _, answer = _data(client, chart["id"], force=True)
        results = answer["result"]
        out.append(Chart(chart["id"], chart["slice_name"], [x["query"] for x in results],
                         sum(int(x["sql_rowcount"] or 0) for x in results)))
    return out


def _cached(answer: dict[str, Any]) -> bool:
    return all(x.get("is_cached") for x in answer["result"])


def _time_dashboard(client: Any, charts: list[Chart]) -> tuple[float, float]:
    """Best-of-``REPEAT`` sums of the cold and the warm calls of the charts."""
    cold, warm = [], []
    for _ in range(REPEAT):
        c = w = 0.0
        for chart in charts:
            seconds, answer = _data(client, chart.id, force=True)
            assert not _cached(answer), f"{chart.name}: force=true was served from the cache"
            c += seconds
            seconds, answer = _data(client, chart.id, force=False)
            assert _cached(answer), f"{chart.name}: not served from Superset's cache"
            w += seconds
        cold.append(c)
        warm.append(w)
    return min(cold), min(warm)


def _dashboards() -> list[tuple[str, str]]:
    """(title, slug) of the bundle's dashboards."""
    from lakeops.dashboards import bundle as dashboards

    return [(d["dashboard_title"], d["slug"]) for d in dashboards.dashboard_docs()]


@dataclass
class DashboardRun:
    title: str
    charts: list[Chart]
    floor: Measurement
    cold: Measurement
    warm: Measurement

    def ratios(self) -> dict[str, float]:
        return {"cold / floor": self.cold.seconds / self.floor.seconds,
                "warm / floor": self.warm.seconds / self.floor.seconds}


def _run(settings: Any, work: Path) -> list[DashboardRun]:
    from lakeops import services
    from lakeops.dashboards import bundle as dashboards

    dashboards.publish(settings, force=True)  # the database points at this endpoint's port
    pids = [s.pid for s in services.status(settings)
            if s.name in ("sql", "superset") and s.pid is not None]
    with dashboards.superset_client(settings) as client:
        charts = {title: _charts(client, slug) for title, slug in _dashboards()}
    queries = work / "chart-queries.json"
    queries.write_text(json.dumps({t: [asdict(c) for c in cs] for t, cs in charts.items()},
                                  indent=1))
    return [_dashboard(settings, work, queries, title, cs, pids)
            for title, cs in charts.items()]


def _dashboard(settings: Any, work: Path, queries: Path, title: str, charts: list[Chart],
               pids: list[int]) -> DashboardRun:
    """One dashboard: the floor (fresh processes), then Superset cold and warm."""
    from lakeops.dashboards import bundle as dashboards

    rows_out = work / "floor-rows.json"
    floor = measure(f"{title}: DuckDB floor", "benchmarks.dashboards_bench", "floor",
                    str(work), str(queries), title, str(rows_out), repeat=REPEAT)
    floor_rows = json.loads(rows_out.read_text())
    for c in charts:
        assert floor_rows[c.name] == c.rows, (
            f"{title} / {c.name}: Superset returned {c.rows} rows, the floor "
            f"{floor_rows[c.name]}")
    sampler = _ServersRss(pids)
    sampler.start()
    with dashboards.superset_client(settings) as client:  # a fresh login: tokens expire
        cold, warm = _time_dashboard(client, charts)
    sampler.done.set()
    sampler.join()
    mb, rows = sampler.peak, sum(c.rows for c in charts)
    return DashboardRun(title, charts, floor,
                        Measurement(f"{title}: Superset cold", cold, rows, mb),
                        Measurement(f"{title}: Superset warm", warm, rows, mb))


def report(title: str, runs: list[DashboardRun], lake_rows: dict[str, int],
           results_dir: Path) -> dict:
    """A table of the dashboards: seconds per contender and the ratios to the floor."""
    print(f"\n== {title}")
    print(f"{'dashboard':<14}{'charts':>7}{'rows':>9}{'floor s':>9}{'cold s':>9}"
          f"{'warm s':>9}{'cold/floor':>11}{'warm/floor':>11}")
    for r in runs:
        ratio = r.ratios()
        print(f"{r.title:<14}{len(r.charts):>7}{r.floor.rows:>9,}{r.floor.seconds:>9.3f}"
              f"{r.cold.seconds:>9.3f}{r.warm.seconds:>9.3f}{ratio['cold / floor']:>11.1f}"
              f"{ratio['warm / floor']:>11.2f}")
    mb = max(r.cold.peak_rss_mb for r in runs)
    floor_mb = max(r.floor.peak_rss_mb for r in runs)
    targets = {
        "target": "none set (issue): cold / floor and warm / floor time, per dashboard",
        "peak MB": f"endpoint + Superset {mb:.0f}; floor process {floor_mb:.0f}",
        "same rows as the floor": "yes, chart by chart",
        "lake rows": ", ".join(f"{k} {v:,}" for k, v in sorted(lake_rows.items())),
    }
    for label, text in targets.items():
        print(f"  {label}: {text}")
    data = {"title": title, "floor": "DuckDB floor",
            "results": [asdict(m) for r in runs for m in (r.floor, r.cold, r.warm)],
            "dashboards": {r.title: {"charts": [c.name for c in r.charts], **r.ratios()}
                           for r in runs},
            "targets": targets}
    save(results_dir, "dashboards", data)
    return data


def main(work: Path, scale: float = 1.0, days: int = lakes.FULL_DAYS,
         dbt_work: Path | None = None, *, results_dir: Path) -> dict:
    from lakeops import services

    dbt_work = dbt_work or work.parent / "dbt"
    t0 = time.perf_counter()
    lake_rows = build_lake(work, dbt_work, scale, days)
    print(f"dashboards' lake in {time.perf_counter() - t0:.0f}s")
    settings = _service_settings(work)
    try:
        services.up(settings, services=["sql", "superset"], timeout=600)
        runs = _run(settings, work)
    finally:
        services.down(settings)
    charts = sum(len(r.charts) for r in runs)
    return report(f"dashboards at scale {scale} over {days} days ({len(runs)} dashboards, "
                  f"{charts} charts)", runs, lake_rows, results_dir)


def _service_settings(work: Path):  # type: ignore[no-untyped-def]
    """This benchmark's settings: its state folder, free loopback ports."""
    from lakeops.core.settings import Settings

    return Settings(home=work, flight_port=free_port(), superset_port=free_port())


if __name__ == "__main__":
    child(*sys.argv[1:])
