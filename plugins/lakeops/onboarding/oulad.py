"""The public OULAD release onboarded as the education source's historical load.

Users get the release from the Open University's page (https://analyse.kmi.open.ac.uk/
open_dataset, "Open University Learning Analytics dataset", CC BY 4.0): one zip
(``anonymisedData.zip``) of seven CSVs. ``lakeops load oulad PATH`` takes that zip or a
folder of the seven files and

1. checks it is the release (:func:`check_release`): every file present (at the top of the
   zip or folder, or one folder down), its header the release's columns in the release's
   order; rows counted and printed beside the release's own counts (a different count is
   a note, not an error: a re-cut or a generated release-format copy is welcome);
2. delivers it (:func:`deliver`) as the source's historical load for one interval: each
   file copied as delivered into ``landing/education/<table>/<interval>/``, with the
   ``_load.json`` marker ingest reads (:data:`lakeops.landing.layout.LOAD_MARKER`). OULAD has no
   calendar dates, only days relative to a presentation's start, so the load covers as
   many days before the interval as its clickstream spans (its first to its last day);
3. runs the ``ingest_education`` DAG for that interval through the scheduler (a backfill
   over Airflow's REST API, as the demo does) and waits for it: the contracts take each
   quirk of the release (``?`` for missing, ``10-20`` for the imd band ``10-20%``, no
   contact columns, every field quoted), see ``expectations/contracts/education``. The
   curated tables it publishes trigger the feature, dbt, model and dashboard DAGs as any
   ingest does.

The release's file list, headers and counts are :mod:`lakeops.onboarding.oulad_release`'s;
reading the zip is the standard library's.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from lakeops.airflow import client
from lakeops.catalog import dags
from lakeops.catalog.contracts import TABLES, get_contract
from lakeops.core import sqltext
from lakeops.core.settings import Settings
from lakeops.ingest.readers import header_fields
from lakeops.landing.layout import LOAD_MARKER, inbox_dir
from lakeops.onboarding.oulad_release import DOWNLOAD_PAGE, RELEASE, RELEASE_ZIP
from lakeops.storage.lake import Lake

SOURCE = "education"
INGEST_DAG = dags.ingest_dag(SOURCE)
FEATURES_DAG = dags.features_dag(SOURCE)


class NotTheRelease(ValueError):
    """PATH is not the OULAD release: a file missing, a header not the release's."""


@dataclass
class ReleaseFile:
    table: str
    name: str  # as found: a path in the folder or a member of the zip
    rows: int

    @property
    def release_rows(self) -> int:
        return RELEASE[self.table][1]


@dataclass
class Release:
    path: Path
    files: dict[str, ReleaseFile]

    @property
    def is_zip(self) -> bool:
        return self.path.is_file()

    @contextlib.contextmanager
    def open(self, table: str) -> Iterator[IO[bytes]]:
        name = self.files[table].name
        if self.is_zip:
            with zipfile.ZipFile(self.path) as zf, zf.open(name) as fh:
                yield fh
        else:
            with (self.path / name).open("rb") as fh:
                yield fh

    def report(self) -> str:
        lines = [f"{'file':<26}{'rows':>12}{'release':>12}"]
        for table, f in self.files.items():
            note = "" if f.rows == f.release_rows else "  (differs from the release)"
            lines.append(f"{table + '.csv':<26}{f.rows:>12,}{f.release_rows:>12,}{note}")
        return "\n".join(lines)


def _listing(path: Path) -> list[str]:
    if path.is_dir():
        return sorted(str(p.relative_to(path)) for p in path.rglob("*.csv") if p.is_file())
    if not zipfile.is_zipfile(path):
        raise NotTheRelease(f"{path}: neither a folder nor a zip archive; the release is "
                            f"{RELEASE_ZIP} from {DOWNLOAD_PAGE}")
    with zipfile.ZipFile(path) as zf:
        return sorted(m.filename for m in zf.infolist()
                      if not m.is_dir() and "__MACOSX/" not in m.filename)


def _find(names: list[str], table: str) -> str | None:
    """The file of ``table``: ``<table>.csv`` at the top or one folder down."""
    found = [n for n in names if n.rsplit("/", 1)[-1] == f"{table}.csv" and n.count("/") <= 1]
    return min(found, key=lambda n: n.count("/")) if found else None


def _header_and_rows(fh: IO[bytes]) -> tuple[list[str], int]:
    header = header_fields(fh.readline().decode("utf-8-sig"))
    rows, last = 0, b"\n"
    while chunk := fh.read(1 << 22):
        rows += chunk.count(b"\n")
        last = chunk[-1:]
    return header, rows + (last != b"\n")


def check_release(path: Path) -> Release:
    """Raise :class:`NotTheRelease` unless ``path`` (a folder or the zip) holds the seven
    files with the release's headers; count each file's rows."""
    if not path.exists():
        raise NotTheRelease(f"{path}: no such file or folder; download {RELEASE_ZIP} from "
                            f"{DOWNLOAD_PAGE}")
    names = _listing(path)
    found = {table: _find(names, table) for table in RELEASE}
    missing = [f"{t}.csv" for t, n in found.items() if n is None]
    if missing:
        raise NotTheRelease(f"{path}: not the OULAD release: {', '.join(missing)} missing "
                            f"(found: {', '.join(names) or 'no CSV file'})")
    release = Release(path, {t: ReleaseFile(t, n, 0) for t, n in found.items() if n})
    for table, (columns, _) in RELEASE.items():
        with release.open(table) as fh:
            header, rows = _header_and_rows(fh)
        if tuple(header) != columns:
            raise NotTheRelease(
                f"{path}: {release.files[table].name} is not the release's {table}.csv: "
                f"header {', '.join(header)}; the release's is {', '.join(columns)}")
        release.files[table].rows = rows
    return release


def _clickstream_days(landing: Lake, folder: str) -> int:
    """Days from the delivered clickstream's first to its last day (at least 1)."""
    import duckdb

    (f,) = [f for f in landing.ls(folder) if f.path.endswith(".csv")]
    contract = get_contract(SOURCE, "studentVle")
    with landing.local_copy(f.path) as local:
        found = duckdb.connect().execute(
            f"SELECT max(TRY_CAST(date AS INTEGER)) - min(TRY_CAST(date AS INTEGER)) "
            f"FROM read_csv({sqltext.literal(str(local))}, header=true, all_varchar=true, "
            f"nullstr={[*contract.delivery.missing_values]!r})").fetchone()
    return max(1, int(found[0])) if found and found[0] is not None else 1


def deliver(release: Release, landing: Lake, interval: date) -> dict[str, Any]:
    """Copy the release's files into the education inbox of ``interval`` as delivered, each
    with the historical-load marker; returns the marker."""
    folders = {t: inbox_dir(get_contract(SOURCE, t), interval) for t in TABLES[SOURCE]}
    for table, folder in folders.items():
        stale = [f.path for f in landing.ls(folder)]
        for path in stale:  # a delivery interrupted before: replaced whole
            landing.delete(path)
        with release.open(table) as src, landing.staged_file(f"{folder}/{table}.csv") as dst, \
                dst.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 22)
    span = _clickstream_days(landing, folders["studentVle"])
    marker = {"kind": "history", "from": (interval - timedelta(days=span)).isoformat(),
              "days": span + 1, "release": release.path.name}
    for folder in folders.values():
        landing.write_json(f"{folder}/{LOAD_MARKER}", marker)
    return marker


def load(settings: Settings, release: Release, interval: date, *, timeout: float = 3600,
         echo: Callable[[str], Any] = print) -> list[dict[str, Any]]:
    """Deliver a checked release (:func:`check_release`) and ingest it through the
    scheduler; returns the ingest DAG's run (raises when it did not succeed). Airflow must
    be up (``lakeops up``)."""
    echo(f"{release.path}: the OULAD release\n{release.report()}")
    marker = deliver(release, Lake.landing(settings), interval)
    echo(f"delivered as the education source's historical load for {interval} "
         f"({marker['days']} days from {marker['from']})")
    client.wait_for_dag(settings, INGEST_DAG)
    client.backfill(settings, INGEST_DAG, interval, 1)
    echo(f"{INGEST_DAG}: run for {interval} submitted to the scheduler")
    runs = client.wait_for_runs(settings, INGEST_DAG, interval, 1, timeout, echo)
    if any(r["state"] != "success" for r in runs):
        raise RuntimeError(f"{INGEST_DAG} {interval}: the run failed; see the Airflow UI "
                           f"(http://{settings.host}:{settings.airflow_port}) for the task "
                           "that did and its log")
    echo(ingested_report(settings, interval))
    return runs


def build_marts(settings: Settings, since: datetime, *, timeout: float = 1800,
                echo: Callable[[str], Any] = print) -> str:
    """After the load's ingest: wait for ``features_education``, then start ``dbt_build``.

    dbt is scheduled on every curated and feature table of both sources, so a load of one
    source alone never starts it: once the education features are published, it is
    triggered (as the demo does for its last features); its marts then start the models
    and the dashboards. dbt's business models read the business source's curated
    tables: a platform where that source never published anything cannot build them
    (``make run`` or a business delivery first). Returns dbt's run state."""
    if not Lake.from_settings(settings).partitions("curated", "business/orders"):
        echo("note: the business source has published nothing yet, so dbt's business "
             "models (and with them dbt_build) will fail; deliver it first (make run does)")
    deadline = time.monotonic() + timeout
    features = client.wait_for_newest_run(settings, FEATURES_DAG, since, timeout)
    echo(f"{FEATURES_DAG}: {features['state']}")
    if client.newest_run(settings, dags.DBT_BUILD, since) is None:
        client.trigger_instead_of_queued(settings, dags.DBT_BUILD,
                                         note="lakeops load oulad: the education features")
        echo(f"{dags.DBT_BUILD}: triggered for the loaded education data")
    dbt = client.wait_for_newest_run(settings, dags.DBT_BUILD, since,
                                     deadline - time.monotonic())
    echo(f"{dags.DBT_BUILD}: {dbt['state']}; the models and dashboards follow from the marts")
    return str(dbt["state"])


def ingested_report(settings: Settings, interval: date) -> str:
    """Per table: rows read, rejected at ingest, quarantined by validation, published;
    the values the contracts normalized and the manifests' warnings."""
    lake = Lake.from_settings(settings)
    out = io.StringIO()
    out.write(f"{'table':<22}{'delivered':>12}{'rejected':>10}{'quarant.':>10}"
              f"{'published':>12}\n")
    notes = []
    for table in TABLES[SOURCE]:
        m = lake.read_json(f"curated/{SOURCE}/{table}/dt={interval}/_manifest.json")
        out.write(f"{table:<22}{m['delivered']:>12,}{m['rejected_at_ingest']:>10,}"
                  f"{m['quarantined_at_validation']:>10,}{m['published']:>12,}\n")
        raw = lake.read_json(f"raw/{SOURCE}/{table}/dt={interval}/_manifest.json")
        for column, counts in raw.get("normalized", {}).items():
            notes += [f"{table}.{column}: {k}: {n:,} rows" for k, n in counts.items()]
        notes += [f"{table}: {w}" for w in raw["warnings"]]
    return out.getvalue() + "\n".join(notes)
