"""Validate and publish: write-audit-publish from ``raw/`` to ``curated/``.

``validate_table`` audits one table's raw partition of an interval with its Great
Expectations suite (:mod:`lakeops.validate.rules`) on DuckDB — GX's SQL engine runs the metrics as
SQL over the Parquet file, nothing is loaded into pandas — then

* writes the rows that broke a critical row-level rule to
  ``quarantine/<source>/<table>/dt=<interval>/validate.parquet`` with the rule's name;
* records every expectation's result in ``monitoring/validation_results``;
* renders this run's pages of the GX data docs (and the index) into ``reports/data_docs/``;
* fails, naming the expectations, when a critical table-level expectation (schema, volume)
  or a critical row-level one beyond its ``mostly`` failed — GX never fails a task itself.

``publish_table`` then replaces ``curated/<source>/<table>/dt=<interval>/`` with the raw
rows minus the quarantined ones, atomically, and checks and records
``delivered = published + quarantined + rejected at ingest``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeops.catalog.contracts import TABLES, Contract, get_contract
from lakeops.core import sqltext
from lakeops.core.lazy import lazy
from lakeops.core.locking import file_lock
from lakeops.core.settings import Settings, get_settings
from lakeops.ingest.stage import MANIFEST, _iso
from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path
from lakeops.validate.rules import CRITICAL, ROW, TABLE, Rule, rules_for, suite_name

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
else:  # imported when a task runs, not when a DAG file is parsed
    duckdb, pa, pc, pq = (lazy("duckdb"), lazy("pyarrow"), lazy("pyarrow.compute"),
                          lazy("pyarrow.parquet"))

log = logging.getLogger(__name__)

VALIDATE_FILE = "validate.parquet"
AUDIT = "_audit.json"  # beside the raw partition: the gate publish_table obeys


@cache
def quarantine_schema() -> pa.Schema:
    return pa.schema([
        ("_source_file", pa.string()), ("_line", pa.int64()), ("_rule", pa.string()),
        ("_reason", pa.string()), ("_record", pa.string()), ("_row", pa.int64()),
    ])


@cache
def results_schema() -> pa.Schema:
    return pa.schema([
        ("run_id", pa.string()), ("source", pa.string()), ("table", pa.string()),
        ("interval", pa.string()), ("rule", pa.string()), ("expectation", pa.string()),
        ("severity", pa.string()), ("level", pa.string()), ("success", pa.bool_()),
        ("observed_value", pa.string()), ("unexpected_count", pa.int64()),
        ("element_count", pa.int64()), ("quarantined", pa.int64()),
    ])


class ValidationFailed(Exception):
    """A critical expectation failed for the whole interval: nothing is published."""


@dataclass
class Outcome:
    rule: Rule
    success: bool
    observed: str
    unexpected: int | None
    elements: int | None


# -- DuckDB workspace ---------------------------------------------------------------------


def parent_tables(contract: Contract) -> set[str]:
    """Tables a table's rules read besides itself (foreign keys and cross-table rules)."""
    extra = {"studentAssessment": {"assessments", "courses"}, "orders": {"order_items"},
             "payments": {"orders"}}
    return fk_parents(contract) | extra.get(contract.table, set())


def fk_parents(contract: Contract) -> set[str]:
    """Tables a table's foreign keys point at. A child is audited after these are
    published, so a row whose parent was quarantined today is quarantined too."""
    return {fk.references for fk in contract.foreign_keys}


def publish_order(source: str) -> list[str]:
    """The tables of a source, every foreign-key parent before its children."""
    order: list[str] = []

    def visit(table: str) -> None:
        if table not in order:
            for parent in sorted(fk_parents(get_contract(source, table))):
                visit(parent)
            order.append(table)

    for table in TABLES[source]:
        visit(table)
    return order


def _partition_files(lake: Lake, zone: str, dataset: str, upto: str) -> list[str]:
    """Data files of the partitions strictly before ``upto``."""
    out = []
    for key in lake.partitions(zone, dataset):
        path = table_path(zone, dataset, partition_dir(key), DATA_FILE)
        if key < upto and lake.exists(path):
            out.append(path)
    return out


def _parent_files(lake: Lake, contract: Contract, parent: str, interval: str) -> list[str]:
    """A parent as the rules see it: its curated history, plus the interval's rows. For a
    foreign-key parent already published for the interval those are its curated rows
    (what it delivered minus what it quarantined); otherwise its raw delivery (a parent
    may arrive the same day, and a cross-table rule reads it before it is audited). The
    ingest DAG and :func:`validate_interval` publish a parent before auditing its
    children, so a re-run of an interval sees the parent as that run published it."""
    ds = f"{contract.source}/{parent}"
    files = _partition_files(lake, "curated", ds, interval)
    published = table_path("curated", ds, partition_dir(interval), DATA_FILE)
    raw = table_path("raw", ds, partition_dir(interval), DATA_FILE)
    if parent in fk_parents(contract) and lake.exists(published):
        files.append(published)
    elif lake.exists(raw):
        files.append(raw)
    return files


def memory_limit(settings: Settings | None) -> str:
    """DuckDB's memory limit for a validation task (past it, DuckDB spills to disk)."""
    return f"{(settings or get_settings()).task_memory_mb}MB"


@contextlib.contextmanager
def workspace(lake: Lake, contract: Contract, interval: str,
              settings: Settings | None = None) -> Iterator[Path]:
    """A DuckDB file with ``batch`` (the raw partition), ``batch_rows`` (with ``_row``) and a
    ``ref_<parent>`` view per parent (see :func:`_parent_files`). Every connection to it is
    opened with :func:`memory_limit` and spills beside it."""
    with tempfile.TemporaryDirectory(prefix="lakeops-validate-") as tmp, \
            contextlib.ExitStack() as stack:
        local = lambda p: str(stack.enter_context(lake.local_copy(p)))  # noqa: E731
        raw = table_path("raw", contract.dataset, partition_dir(interval), DATA_FILE)
        if not lake.exists(raw):
            raise ValidationFailed(f"{contract.name}: no raw partition for {interval} "
                                   f"({lake.uri(raw)}); run the ingest task first")
        db = Path(tmp) / "validate.duckdb"
        con = duckdb.connect(str(db), config={"memory_limit": memory_limit(settings)})
        src = sqltext.literal(local(raw))
        con.execute(f"CREATE VIEW batch_rows AS SELECT * RENAME (file_row_number AS _row) "
                    f"FROM read_parquet({src}, file_row_number=true, "
                    f"hive_partitioning=false)")
        con.execute("CREATE VIEW batch AS SELECT * EXCLUDE (_row) FROM batch_rows")
        for parent in parent_tables(contract):
            files = [local(p) for p in _parent_files(lake, contract, parent, interval)]
            listing = ", ".join(sqltext.literal(f) for f in files)
            con.execute(
                f"CREATE VIEW ref_{parent} AS SELECT * FROM read_parquet([{listing}], "
                f"union_by_name=true, hive_partitioning=false)" if files else
                f"CREATE VIEW ref_{parent} AS SELECT * FROM batch WHERE false"
            )
        con.close()
        yield db


# -- GX -----------------------------------------------------------------------------------


def _gx_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """GX's file project is shared by concurrent Airflow tasks: one writer at a time."""
    return file_lock(settings.home / ".gx.lock")


def data_docs_dir(settings: Settings) -> Path:
    """Where GX writes its site: in the lake's ``reports/`` for a local lake; for an S3 lake
    a local build folder that :func:`_sync_docs` uploads (GX sites are filesystem-only)."""
    lake = Lake.from_settings(settings)
    if lake.is_local:
        return lake.local_path("reports/data_docs")
    return settings.home / "gx" / "data_docs"


def _sync_docs(settings: Settings, since: float = 0.0) -> None:
    """Publish the pages written since ``since`` (a ``time.time()``): rewrite them to load
    their scripts and styles from the docs site, not GX's CDNs and tracking image (see
    :mod:`lakeops.validate.docs_assets`), then upload them to an S3 lake."""
    from lakeops.validate import docs_assets

    root = data_docs_dir(settings)
    if root.is_dir():
        docs_assets.clean_site(root, since=since)
    lake = Lake.from_settings(settings)
    if lake.is_local:
        return
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_mtime >= since - 1:
            lake.put_file(path, f"reports/data_docs/{path.relative_to(root).as_posix()}")


def gx_context(settings: Settings) -> Any:
    """The file-backed GX project of this state folder (suites, validation results,
    checkpoints under ``<home>/gx``), its data docs site in the lake's ``reports/``."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
    )

    from lakeops.validate import gx_duckdb

    gx_duckdb.register()
    root = settings.home / "gx"
    config = DataContextConfig(
        store_backend_defaults=FilesystemStoreBackendDefaults(root_directory=str(root)),
        data_docs_sites={"lakeops": {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(data_docs_dir(settings))},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
        analytics_enabled=False,
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _observed(result: Any) -> tuple[str, int | None, int | None]:
    res = result.result or {}
    observed = res.get("observed_value")
    return (
        json.dumps(observed, default=str)[:500] if observed is not None else "",
        res.get("unexpected_count"),
        res.get("element_count"),
    )


def run_suite(settings: Settings, contract: Contract, interval: str, db: Path,
              rules: list[Rule]) -> list[Outcome]:
    """Run the table's suite through a GX checkpoint on DuckDB; rebuild the data docs."""
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    with _gx_lock(settings):
        context = gx_context(settings)
        source = context.data_sources.add_or_update_sql(
            name=f"lake_{contract.source}_{contract.table}",
            connection_string=f"duckdb+buffered:///{db}?memory_limit={memory_limit(settings)}",
        )
        asset = source.add_table_asset(name=f"{contract.table}_{interval}", table_name="batch")
        batch = asset.add_batch_definition_whole_table("interval")
        suite = gx.ExpectationSuite(name=suite_name(contract),
                                    meta={"contract": f"expectations/contracts/"
                                          f"{contract.source}/{contract.table}.yml"})
        for rule in rules:
            suite.add_expectation(rule.gx())
        suite = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(
            name=f"{suite_name(contract)}.{interval}", data=batch, suite=suite))
        # one checkpoint per table and interval: a stored checkpoint names its datasource
        # and asset, which exist in this context only for this table and interval
        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name=f"{suite_name(contract)}.{interval}", validation_definitions=[definition],
            result_format={"result_format": "SUMMARY"}))
        result = checkpoint.run(run_id=gx.RunIdentifier(
            run_name=f"{suite_name(contract)}@{interval}"))
        # render this run's pages and the index, not every result ever stored (a full
        # rebuild grows with the history and held the lock for seconds per task)
        rendered = time.time()
        context.build_data_docs(resource_identifiers=[
            *result.run_results, ExpectationSuiteIdentifier(name=suite_name(contract))])
        _sync_docs(settings, since=rendered)
    outcomes = []
    by_rule = {r.name: r for r in rules}
    for validation in result.run_results.values():
        for er in validation.results:
            rule = by_rule[er.expectation_config.meta["rule"]]
            observed, unexpected, elements = _observed(er)
            outcomes.append(Outcome(rule, bool(er.success), observed, unexpected, elements))
    return outcomes


# -- the tasks ----------------------------------------------------------------------------


def days_covered(manifest: dict[str, Any]) -> int:
    """Days an ingest manifest's interval covers: 1, or a historical load's whole range."""
    first = manifest.get("history_from")
    if not first:
        return 1
    return (date.fromisoformat(manifest["interval"]) - date.fromisoformat(first)).days + 1


def _history(lake: Lake, contract: Contract, interval: str, n: int = 7) -> list[int]:
    """Rows written to raw per day in up to ``n`` intervals before this one (a historical
    load counts as its rows over the days it covers, so it neither widens nor narrows the
    band of the daily deliveries after it)."""
    counts = []
    for key in reversed(lake.partitions("raw", contract.dataset)):
        if key >= interval:
            continue
        path = table_path("raw", contract.dataset, partition_dir(key), MANIFEST)
        if lake.exists(path):
            m = lake.read_json(path)
            counts.append(round(int(m["rows_written"]) / days_covered(m)))
        if len(counts) == n:
            break
    return counts


def _previous_newest(lake: Lake, contract: Contract, interval: str) -> Any:
    """The newest event value already published before ``interval`` (for freshness of
    event columns that are day numbers, not calendar times); None when nothing is."""
    event = contract.delivery.event_date
    if not event or contract.column(event).type in ("timestamp", "date"):
        return None
    for path in reversed(_partition_files(lake, "curated", contract.dataset, interval)):
        with lake.local_copy(path) as local:
            newest = pq.read_table(local, columns=[event])[event]
        value = pc.max(newest).as_py()  # type: ignore[attr-defined]
        if value is not None:
            return value
    return None


VIOLATIONS = "violations"


def _quarantined(rule: Rule) -> bool:
    """A critical row rule: its rows are quarantined (:func:`_quarantine`)."""
    return rule.level == ROW and rule.severity == CRITICAL and bool(rule.bad_rows)


def _own_query(rule: Rule) -> bool:
    """A quarantined rule with a subquery (keys, references, cross-table rules): its own
    query in :func:`_quarantine` (predicates on a row's own values share one scan), its
    rows then counted by GX from ``violations`` (:func:`_from_violations`)."""
    return _quarantined(rule) and "SELECT" in str(rule.bad_rows).upper()


def _quarantine(db: Path, rules: list[Rule], settings: Settings) -> pa.Table:
    """Rows that broke a critical row-level rule, one row per (row, rule). A rule with
    ``mostly`` may pass GX with a few bad rows: those rows are quarantined all the same.
    The (row, rule) pairs stay in the workspace as the table ``violations``, for the suite
    (see :func:`_from_violations`)."""
    con = duckdb.connect(str(db), config={"memory_limit": memory_limit(settings)})
    simple = [(r.name, r.bad_rows) for r in rules if _quarantined(r) and not _own_query(r)]
    parts = [f"SELECT _row, '{r.name}' AS _rule FROM batch_rows b WHERE {r.bad_rows}"
             for r in rules if _own_query(r)]
    if simple:
        cases = ", ".join(f"CASE WHEN {sql} THEN '{name}' END" for name, sql in simple)
        parts.append(f"SELECT _row, unnest(list_filter([{cases}], x -> x IS NOT NULL)) "
                     f"AS _rule FROM batch_rows b WHERE "
                     + " OR ".join(f"({sql})" for _, sql in simple))
    if not parts:
        parts = ["SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS _rule WHERE false"]
    con.execute(f"CREATE OR REPLACE TABLE {VIOLATIONS} AS {' UNION ALL '.join(parts)}")
    sql = (
        f"WITH bad AS (SELECT * FROM {VIOLATIONS}) "
        "SELECT NULL::VARCHAR AS _source_file, NULL::BIGINT AS _line, bad._rule, "
        "'expectation failed: ' || bad._rule AS _reason, "
        "to_json(b)::VARCHAR AS _record, bad._row "
        "FROM bad JOIN batch_rows b USING (_row) ORDER BY bad._row, bad._rule"
    )
    table = con.execute(sql).fetch_arrow_table()
    con.close()
    return table.cast(quarantine_schema())


def _from_violations(rules: list[Rule]) -> list[Rule]:
    """The suite's SQL row rules that the quarantine already evaluated (keys, references,
    cross-table rules: a join or a GROUP BY over the whole batch each), asking GX to count
    the rows :func:`_quarantine` found instead of evaluating the same SQL a second time
    (4.3 of the 8 s the clickstream's suite took at OULAD's size). The expectation, its
    name and description in the data docs, its unexpected count and sample rows are the
    same; only the work is done once."""
    out = []
    for r in rules:
        if r.expectation == "UnexpectedRowsExpectation" and _own_query(r):
            # GX asks for {batch} in the query (no rows from outside the batch): the rows
            # numbered within it, which every row of violations is
            query = (f"SELECT b.* FROM batch_rows b WHERE b._row IN (SELECT _row FROM "
                     f"{VIOLATIONS} WHERE _rule = {sqltext.literal(r.name)}) "
                     "AND b._row < (SELECT count(*) FROM {batch})")
            r = replace(r, kwargs={**r.kwargs, "unexpected_rows_query": query})
        out.append(r)
    return out


def _results_table(outcomes: list[Outcome], contract: Contract, interval: str,
                   quarantined: dict[str, int]) -> pa.Table:
    run_id = f"{suite_name(contract)}@{interval}"
    return pa.Table.from_pylist([{
        "run_id": run_id, "source": contract.source, "table": contract.table,
        "interval": interval, "rule": o.rule.name, "expectation": o.rule.expectation,
        "severity": o.rule.severity, "level": o.rule.level, "success": o.success,
        "observed_value": o.observed, "unexpected_count": o.unexpected,
        "element_count": o.elements, "quarantined": quarantined.get(o.rule.name, 0),
    } for o in outcomes], schema=results_schema())


def validate_table(source: str, table: str, interval: str | date,
                   settings: Settings | None = None) -> dict[str, Any]:
    """Audit one table's raw partition; quarantine bad rows; fail on critical failures."""
    settings = settings or get_settings()
    interval = _iso(interval)
    contract = get_contract(source, table)
    lake = Lake.from_settings(settings)
    manifest = lake.read_json(table_path("raw", contract.dataset, partition_dir(interval),
                                         MANIFEST))
    # a historical load's volume has no daily band to fall in: its rows are per its days
    history = [] if manifest.get("history_from") else _history(lake, contract, interval)
    rules = rules_for(contract, interval, history, _previous_newest(lake, contract, interval),
                      history_from=manifest.get("history_from"))
    with workspace(lake, contract, interval, settings) as db:
        bad = _quarantine(db, rules, settings)  # every row a critical row rule singles out
        outcomes = run_suite(settings, contract, interval, db, _from_violations(rules))
        failed = {o.rule.name for o in outcomes if not o.success}
    lake.write_partition("quarantine", contract.dataset, interval, bad, name=VALIDATE_FILE)
    per_rule: dict[str, int] = {}
    for rule_name in bad["_rule"].to_pylist():
        per_rule[rule_name] = per_rule.get(rule_name, 0) + 1
    lake.write_partition("monitoring", f"validation_results/{source}", interval,
                         _results_table(outcomes, contract, interval, per_rule),
                         name=f"{table}.parquet")
    blocking = [
        o for o in outcomes if not o.success and o.rule.severity == CRITICAL
        and (o.rule.level == TABLE or o.rule.kwargs.get("mostly") is not None)
    ]
    summary = {
        "source": source, "table": table, "interval": interval,
        "expectations": len(outcomes), "failed": sorted(failed),
        "quarantined_rows": len(set(bad["_row"].to_pylist())), "by_rule": per_rule,
    }
    log.info("%s %s: %s", contract.name, interval, summary)
    details = "; ".join(f"{o.rule.name} ({o.rule.expectation}, observed {o.observed or '-'}"
                        f", unexpected {o.unexpected})" for o in blocking)
    lake.write_json(table_path("raw", contract.dataset, partition_dir(interval), AUDIT),
                    {**summary, "passed": not blocking, "blocking": details})
    if blocking:
        raise ValidationFailed(f"{contract.name} {interval}: critical expectations failed, "
                               f"nothing published: {details}")
    return summary


def publish_table(source: str, table: str, interval: str | date,
                  settings: Settings | None = None) -> dict[str, Any]:
    """Replace the curated partition with the audited raw rows (raw minus quarantined)."""
    settings = settings or get_settings()
    interval = _iso(interval)
    contract = get_contract(source, table)
    lake = Lake.from_settings(settings)
    part = partition_dir(interval)
    raw = table_path("raw", contract.dataset, part, DATA_FILE)
    bad_path = table_path("quarantine", contract.dataset, part, VALIDATE_FILE)
    audit_path = table_path("raw", contract.dataset, part, AUDIT)
    if not lake.exists(audit_path) or not lake.exists(bad_path):
        raise ValidationFailed(f"{contract.name} {interval}: not validated yet; "
                               "run the validate task before publishing")
    audit = lake.read_json(audit_path)
    if not audit["passed"]:
        raise ValidationFailed(f"{contract.name} {interval}: the audit failed, nothing is "
                               f"published: {audit['blocking']}")
    curated = table_path("curated", contract.dataset, part, DATA_FILE)
    with contextlib.ExitStack() as stack:
        raw_local = stack.enter_context(lake.local_copy(raw))
        bad_local = stack.enter_context(lake.local_copy(bad_path))
        spill = stack.enter_context(tempfile.TemporaryDirectory(prefix="lakeops-publish-"))
        con = duckdb.connect(config={"memory_limit": memory_limit(settings),
                                     "temp_directory": spill})
        con.execute(f"CREATE VIEW bad AS SELECT DISTINCT _row FROM read_parquet('{bad_local}', "
                    "hive_partitioning=false)")
        quarantined = con.execute("SELECT count(*) FROM bad").fetchone()
        target = stack.enter_context(lake.staged_file(curated))
        if quarantined and quarantined[0]:
            con.execute(
                f"COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet('{raw_local}', "
                f"file_row_number=true, hive_partitioning=false) "
                f"WHERE file_row_number NOT IN (SELECT _row FROM bad)) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
            )
        else:  # nothing quarantined: the audited file itself, not a re-encoded copy
            shutil.copyfile(raw_local, target)
        published = con.execute(f"SELECT count(*) FROM read_parquet('{target}', "
                                "hive_partitioning=false)").fetchone()
        con.close()
    ingest_manifest = lake.read_json(table_path("raw", contract.dataset, part, MANIFEST))
    record = {
        "source": source, "table": table, "interval": interval,
        "delivered": ingest_manifest["rows_in"],
        "rejected_at_ingest": ingest_manifest["rows_rejected"],
        "quarantined_at_validation": int(quarantined[0]) if quarantined else 0,
        "published": int(published[0]) if published else 0,
        "curated_path": curated,
        "history_from": ingest_manifest.get("history_from"),
    }
    accounted = (record["published"] + record["quarantined_at_validation"]
                 + record["rejected_at_ingest"])
    if accounted != record["delivered"]:
        raise ValidationFailed(f"{contract.name} {interval}: rows do not add up: "
                               f"{record['delivered']} delivered, {accounted} accounted for")
    lake.write_json(table_path("curated", contract.dataset, part, MANIFEST), record)
    log.info("%s %s published: %s", contract.name, interval, record)
    return record


def validate_interval(source: str, interval: str, settings: Settings | None = None
                      ) -> dict[str, Any]:
    """Validate and publish every table of a source (CLI and tests; DAGs use per-table
    tasks). Parents first, so children see today's published parents."""
    out = {}
    for table in publish_order(source):
        validate_table(source, table, interval, settings)
        out[table] = publish_table(source, table, interval, settings)
    return out
