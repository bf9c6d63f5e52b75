"""Where deliveries land and where they are kept: the landing store's folders and file names.

A delivery of one table for one daily interval lands in
``landing/<source>/<table>/<YYYY-MM-DD>/`` of the landing store (:meth:`Lake.landing`,
beside the lake). Ingest moves it, as delivered, to ``landing/_archive/<source>/<table>/
<YYYY-MM-DD>/`` and writes its manifest (:data:`MANIFEST`) beside the raw partition;
retention (:mod:`lakeops.landing.retention`) later replaces a PII-bearing delivery's files
with a tombstone (:data:`PURGED`). A historical load carries a :data:`LOAD_MARKER` beside
its files. Files whose name starts with ``.`` or ``_`` are markers, not delivered data.

Only names and paths live here, no I/O: whoever delivers (the generators, onboarding),
ingest and retention agree on the layout by importing it from one place.
"""

from __future__ import annotations

from datetime import date

from lakeops.catalog.contracts import Contract
from lakeops.storage.lake import table_path

ARCHIVE = "landing/_archive"
# left in an archived delivery's folder when retention purged its files
PURGED = "_purged.json"
# an ingested delivery's manifest, beside its raw (and curated) partition in the lake
MANIFEST = "_manifest.json"
# beside a delivery's files: it is a historical load covering days before its interval,
# ``{"kind": "history", "from": "YYYY-MM-DD"}``
LOAD_MARKER = "_load.json"


def iso_day(interval: date | str) -> str:
    """A data interval as its day, ``YYYY-MM-DD`` (a date, or text starting with one)."""
    return interval.isoformat() if isinstance(interval, date) else str(interval)[:10]


def inbox_dir(contract: Contract, interval: date | str) -> str:
    """Where a table's delivery for ``interval`` lands."""
    return table_path("landing", contract.source, contract.table, iso_day(interval))


def archive_dir(contract: Contract, interval: date | str) -> str:
    """Where ingest keeps a table's delivery for ``interval`` once it was read."""
    return f"{ARCHIVE}/{contract.source}/{contract.table}/{iso_day(interval)}"


def tombstone_path(contract: Contract, interval: date | str) -> str:
    """Where retention leaves a purged delivery's manifest (kept forever)."""
    return f"{archive_dir(contract, interval)}/{PURGED}"


def is_delivered_file(name: str) -> bool:
    """A file of a delivery, not a marker (``.``-hidden files, ``_purged.json``)."""
    return not name.startswith((".", "_"))
