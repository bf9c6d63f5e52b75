"""Finding an interval's delivery in the landing store, and archiving it once ingested.

A delivery is looked for in its inbox first (a new or corrected delivery), then in the
archive an earlier run moved it to, so re-running an interval reads the same files; a
delivery that retention purged is reported as such (:class:`DeliveryPurged`), never as
missing. Archiving keeps every delivered byte: a file of the same name with other bytes is
kept beside it under its checksum. The folders are :mod:`lakeops.landing.layout`'s.

A historical load (a source's onboarding: months of rows in one interval's delivery) is a
delivery whose folder also holds ``_load.json`` (:data:`LOAD_MARKER`),
``{"kind": "history", "from": "YYYY-MM-DD"}``, written by whoever delivers it: its rows may
carry event dates from ``from`` up to the interval (:func:`history_from`). Ingest copies
the marker into the manifest and archives it with the files, so validation checks event
dates against that range instead of the one day, the volume band counts the load per day
it covers, and the feature jobs compute one partition per day of the range. The interval
(and so every partition key) stays the delivery's day: re-running it gives the same result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from lakeops.catalog.contracts import TABLES, Contract, get_contract
from lakeops.core.settings import Settings, get_settings
from lakeops.ingest.errors import DeliveryPurged, SchemaMismatch
from lakeops.landing.layout import (
    LOAD_MARKER,
    archive_dir,
    inbox_dir,
    is_delivered_file,
    iso_day,
    tombstone_path,
)
from lakeops.storage.lake import Lake


@dataclass
class DeliveredFile:
    path: str  # where it is now (inbox or archive)
    name: str
    bytes: int
    sha256: str = ""
    archived_to: str = ""


def find_delivery(landing: Lake, contract: Contract, interval: date | str
                  ) -> list[DeliveredFile]:
    """The files of an interval's delivery in the landing store: the inbox if anything is
    there (a new or corrected delivery), else what an earlier run archived. Empty when
    nothing arrived; :class:`DeliveryPurged` when retention purged it."""
    for folder in (inbox_dir(contract, interval), archive_dir(contract, interval)):
        files = [f for f in landing.ls(folder) if is_delivered_file(f.path.rsplit("/", 1)[-1])]
        if files:
            return [DeliveredFile(f.path, f.path.rsplit("/", 1)[-1], f.size) for f in files]
    tombstone = tombstone_path(contract, interval)
    if landing.exists(tombstone):
        purge = landing.read_json(tombstone)
        raise DeliveryPurged(
            f"the delivery of {contract.name} for {iso_day(interval)} was purged on "
            f"{purge['purged_on']} under the {purge['retention_days']}-day retention rule for "
            f"PII-bearing deliveries; its manifest is kept at {landing.uri(tombstone)}; "
            f"deliver the file again to re-process"
        )
    return []


def history_from(landing: Lake, contract: Contract, interval: date | str) -> str | None:
    """The first day a historical load delivered for ``interval`` covers (its
    ``_load.json`` marker, in the inbox or the archive); None for a daily delivery. A
    marker that is not a well-formed history declaration is a :class:`SchemaMismatch`."""
    for folder in (inbox_dir(contract, interval), archive_dir(contract, interval)):
        path = f"{folder}/{LOAD_MARKER}"
        if not landing.exists(path):
            continue
        marker = landing.read_json(path)
        try:
            first = date.fromisoformat(str(marker["from"]))
            ok = marker.get("kind") == "history" and first <= date.fromisoformat(iso_day(interval))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise SchemaMismatch(
                f"{contract.name}: {landing.uri(path)} is not a historical-load marker: "
                f'expected {{"kind": "history", "from": "YYYY-MM-DD"}} with "from" on or '
                f"before {iso_day(interval)}, got {json.dumps(marker)}")
        return first.isoformat()
    return None


def missing_deliveries(
    source: str, interval: date | str, settings: Settings | None = None
) -> list[str]:
    """Tables of ``source`` whose delivery for ``interval`` has not arrived (raises
    :class:`DeliveryPurged` when one was purged)."""
    settings = settings or get_settings()
    landing = Lake.landing(settings)
    return [
        table
        for table in TABLES[source]
        if not find_delivery(landing, get_contract(source, table), interval)
    ]


def archive_delivery(landing: Lake, contract: Contract, interval: str,
                     files: list[DeliveredFile]) -> None:
    """Move inbox files to the archive (in the landing store). An archived file of the same
    name with other bytes (an earlier delivery) is kept beside it under its checksum, never
    overwritten."""
    dest_dir = archive_dir(contract, interval)
    for f in files:
        dest = f"{dest_dir}/{f.name}"
        if f.path == dest:
            f.archived_to = dest
            continue
        if landing.exists(dest):
            old = landing.sha256(dest)
            if old == f.sha256:
                landing.delete(f.path)  # the same bytes delivered twice: one copy is enough
                f.archived_to = dest
                continue
            landing.move(dest, f"{dest}.{old[:12]}")
        landing.move(f.path, dest)
        f.archived_to = dest
    marker = f"{inbox_dir(contract, interval)}/{LOAD_MARKER}"
    if landing.exists(marker):
        landing.move(marker, f"{dest_dir}/{LOAD_MARKER}")
