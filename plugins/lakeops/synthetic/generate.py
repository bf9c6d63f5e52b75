"""Synthetic daily deliveries of a source (``lakeops generate``): the entry the demo, the
CLI, the benchmarks and the tests call.

``generate(landing, domain, start, days, ...)`` writes, for every table of the domain and
every day, one delivery file in the contract's format into ``landing/`` of the landing
store (``Lake.landing(settings)``, beside the lake, never inside it); the layout and the
formats are :mod:`lakeops.synthetic.deliveries`'. Every table is delivered every day: a
snapshot repeats the whole reference table, an increment carries that day's rows.

The worlds: ``education`` (:mod:`lakeops.synthetic.education`, OULAD-shaped) and
``business`` (:mod:`lakeops.synthetic.business`, a shop). Each draws its population from
the seed alone and each day's events from ``(seed, day)``, so a seed gives byte-identical
files, and generating days 0-4 then 0-9 gives the same first five days. The same education
world in the published release's layout is :mod:`lakeops.synthetic.release`.

Knobs: ``drift`` - ``engagement_drop`` (education) or ``price_change`` (business) from
``drift_day``; ``bad_records`` - the fraction of increment rows replaced by bad ones;
``history_days`` - the source is onboarded with a historical load delivered on ``start``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from lakeops.catalog.contracts import TABLES, get_contract
from lakeops.storage.lake import Lake
from lakeops.synthetic.business import Business
from lakeops.synthetic.deliveries import (
    history_load,
    plant_bad_records,
    write_delivery,
    write_history_marker,
)
from lakeops.synthetic.draws import seeded_rng
from lakeops.synthetic.education import Education

DRIFTS = {"education": ("engagement_drop",), "business": ("price_change",)}


@dataclass
class GenerateResult:
    """What one :func:`generate` call wrote: the rows (and bad rows among them) per table
    and the paths of the files, in the landing store."""

    domain: str
    start: date
    days: int
    rows: dict[str, int] = field(default_factory=dict)
    bad_rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def generate(
    landing: Lake,
    domain: str,
    start: date,
    days: int,
    *,
    scale: float = 0.01,
    seed: int = 42,
    drift: str | None = None,
    drift_day: int = 14,
    bad_records: float = 0.0,
    first_day: int = 0,
    history_days: int = 0,
) -> GenerateResult:
    """Write ``days`` daily deliveries of ``domain`` (``education`` | ``business``) into
    ``landing/`` of the landing store (``Lake.landing(settings)``), starting ``start``
    (delivery day index ``first_day``).

    ``history_days``: the source is onboarded with a historical load. Its world begins
    that many days before ``start`` (the presentation starts, the shop's orders begin,
    ``drift_day`` counts from there) and ``start``'s delivery carries all of it, those days
    and ``start`` itself, one file per table, with the ``_load.json`` marker that tells
    ingest it is a historical load (:data:`lakeops.landing.layout.LOAD_MARKER`); the days after
    ``start`` are daily deliveries as usual."""
    if domain not in TABLES:
        raise ValueError(f"unknown domain {domain!r}; domains are {', '.join(TABLES)}")
    if drift is not None and drift not in DRIFTS[domain]:
        raise ValueError(f"drift {drift!r} does not apply to {domain}; "
                         f"choose from {', '.join(DRIFTS[domain])}")
    if not 0 <= bad_records < 0.5:
        raise ValueError("bad_records is a fraction between 0 and 0.5")
    if history_days < 0 or (history_days and first_day):
        raise ValueError("history_days is a number of days >= 0, delivered with the first "
                         "day (first_day 0)")
    origin = start - timedelta(days=history_days)
    world: Education | Business = (
        Education(scale, seed, drift, drift_day) if domain == "education"
        else Business(scale, seed, origin, drift, drift_day)
    )
    result = GenerateResult(domain, start, days)
    contracts = {t: get_contract(domain, t) for t in TABLES[domain]}
    for d in range(first_day, first_day + days):
        day = start + timedelta(days=d)
        w = d + history_days  # the world's day index
        tables = world.day(w) if d or not history_days else \
            history_load(world, contracts, w + 1)
        for table, data in tables.items():
            contract = contracts[table]
            if bad_records and contract.delivery.kind == "increment":
                data, planted = plant_bad_records(data, contract,
                                                  seeded_rng(seed, "bad", table, w), bad_records)
                if planted:
                    _count(result.bad_rows, contract.table, planted)
            result.files.append(write_delivery(landing, contract, day, data))
            _count(result.rows, contract.table, data.num_rows)
            if w and not d:
                write_history_marker(landing, contract, day, origin, w + 1)
    return result


def _count(counts: dict[str, int], table: str, n: int) -> None:
    counts[table] = counts.get(table, 0) + n
