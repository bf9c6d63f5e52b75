"""Validate: audit one table's raw partition of an interval (write-audit-publish, the audit).

``validate_table`` audits the partition with its Great Expectations suite
(:mod:`lakeops.validate.rules`), run on DuckDB by :mod:`lakeops.validate.suite` over the
workspace of :mod:`lakeops.validate.workspace`, then

* writes the rows that broke a critical row-level rule to
  ``quarantine/<source>/<table>/dt=<interval>/validate.parquet`` with the rule's name;
* records every expectation's result in ``monitoring/validation_results``;
* writes the verdict beside the raw partition (``_audit.json``), the gate
  :func:`lakeops.validate.publish.publish_table` obeys;
* fails, naming the expectations, when a critical table-level expectation (schema, volume)
  or a critical row-level one beyond its ``mostly`` failed — GX never fails a task itself.

The volume band compares the partition with the rows of the intervals before it, per day
(:func:`volume_history`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeops.catalog.contracts import Contract, get_contract
from lakeops.core import sqltext
from lakeops.core.lazy import lazy
from lakeops.core.settings import Settings, get_settings
from lakeops.landing.layout import MANIFEST, iso_day
from lakeops.storage.lake import Lake, partition_dir, table_path
from lakeops.validate.rules import CRITICAL, ROW, TABLE, Rule, rules_for, suite_name
from lakeops.validate.suite import Outcome, run_suite
from lakeops.validate.workspace import (
    ValidationFailed,
    memory_limit,
    partition_files,
    workspace,
)

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


def days_covered(manifest: dict[str, Any]) -> int:
    """Days an ingest manifest's interval covers: 1, or a historical load's whole range."""
    first = manifest.get("history_from")
    if not first:
        return 1
    return (date.fromisoformat(manifest["interval"]) - date.fromisoformat(first)).days + 1


def volume_history(lake: Lake, contract: Contract, interval: str, n: int = 7) -> list[int]:
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
    for path in reversed(partition_files(lake, "curated", contract.dataset, interval)):
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
    (for a large table, the larger part of its suite's time). The expectation, its name
    and description in the data docs, its unexpected count and sample rows are the same;
    only the work is done once."""
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
    interval = iso_day(interval)
    contract = get_contract(source, table)
    lake = Lake.from_settings(settings)
    manifest = lake.read_json(table_path("raw", contract.dataset, partition_dir(interval),
                                         MANIFEST))
    # a historical load's volume has no daily band to fall in: its rows are per its days
    history = [] if manifest.get("history_from") else volume_history(lake, contract, interval)
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
