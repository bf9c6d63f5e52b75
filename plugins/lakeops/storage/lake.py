"""Lake storage: one small API every stage uses to read and write the lake.

The lake is a local folder (embedded default) or ``s3://bucket/prefix`` (MinIO, moto in
tests), both reached through :mod:`pyarrow.fs`. Paths inside the lake are plain relative
strings such as ``raw/education/studentVle/dt=2024-10-01/part-0.parquet``.

The landing zone (deliveries as delivered, PII in clear) is *not* in the lake: it is a
:class:`Lake` of its own over ``settings.landing_root`` (:meth:`Lake.landing`), beside the
lake, with its own keys, so its paths still read ``landing/<source>/...`` but nothing
that reads the lake root (the SQL endpoint, Dremio) reaches them.

Atomic visibility. A partition is a folder ``<zone>/<source>/<table>/dt=<interval>/``
holding exactly one data file per writer role (``part-0.parquet`` by default). Files are
the unit of atomicity:

* on a local folder the file is written under ``_tmp/`` at the lake root (``landing/_tmp/``
  in the landing store) and renamed into place (``rename`` is atomic on one filesystem);
* on S3 an object appears only when its (multipart) upload completes.

So a reader sees the old file or the new one, never half of one, and a crashed writer
leaves at most an orphan in ``_tmp/`` (or an unfinished upload) that no reader lists.
Writing a partition again replaces its file, so re-runs never duplicate rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeops.core.lazy import lazy
from lakeops.core.settings import Settings
from lakeops.storage.object_store import ObjectStore

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
else:  # imported on first use, not when a DAG file that names a stage is parsed
    pa, pafs, pq = lazy("pyarrow"), lazy("pyarrow.fs"), lazy("pyarrow.parquet")

ZONES = (
    "landing",
    "raw",
    "curated",
    "quarantine",
    "features",
    "marts",
    "predictions",
    "monitoring",
    "reports",
)
TMP = "_tmp"
DATA_FILE = "part-0.parquet"


def partition_dir(interval: date | str) -> str:
    """Hive-style folder name of a daily data interval: ``dt=2024-10-01``."""
    return f"dt={interval.isoformat() if isinstance(interval, date) else interval}"


def table_path(zone: str, *parts: str) -> str:
    if zone not in ZONES:
        raise ValueError(f"unknown lake zone {zone!r}; zones are {', '.join(ZONES)}")
    return "/".join([zone, *parts])


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: datetime | None = field(default=None, compare=False)  # last written (UTC)


class Lake:
    """Read and write tables and files under one lake root."""

    def __init__(self, root: str, fs: pafs.FileSystem, base: str, *, tmp: str = TMP) -> None:
        self.root = root  # as the user wrote it: /abs/folder or s3://bucket/prefix
        self.fs = fs
        self._base = base.rstrip("/")  # root as ``fs`` spells it
        self.is_local = isinstance(fs, pafs.LocalFileSystem)
        self._tmp = tmp  # where local atomic writes are staged, relative to the root

    # construction -------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        """The lake (every zone but landing)."""
        return cls._open(settings.lake, ObjectStore.from_settings(settings))

    @classmethod
    def landing(cls, settings: Settings) -> Lake:
        """The landing store: the root *holding* ``landing/`` (``settings.landing_root``,
        beside the lake, never inside it), reached with the landing keys. Its paths read
        ``landing/<source>/<table>/<day>/...`` and ``landing/_archive/...``."""
        root = settings.landing_root
        return cls._open(root, ObjectStore.from_settings(settings, store="landing"),
                         tmp=f"landing/{TMP}")

    @classmethod
    def _open(cls, root: str, store: ObjectStore, *, tmp: str = TMP) -> Lake:
        if root.startswith("s3://"):
            return cls(root, pafs.S3FileSystem(**store.pyarrow_options()),
                       root.removeprefix("s3://"), tmp=tmp)
        base = str(Path(root).absolute())
        return cls(base, pafs.LocalFileSystem(), base, tmp=tmp)

    # paths --------------------------------------------------------------------------
    def full(self, path: str) -> str:
        """Path as the filesystem object spells it."""
        return f"{self._base}/{path.lstrip('/')}" if path else self._base

    def uri(self, path: str) -> str:
        """Address another engine (DuckDB, Spark, a user) can open."""
        return f"{self.root}/{path.lstrip('/')}"

    def local_path(self, path: str) -> Path:
        if not self.is_local:
            raise ValueError("local_path() needs a local-folder lake")
        return Path(self.full(path))

    # files --------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(self.full(path)).type != pafs.FileType.NotFound

    def is_dir(self, path: str) -> bool:
        return self.fs.get_file_info(self.full(path)).type == pafs.FileType.Directory

    def ls(self, path: str, *, recursive: bool = False) -> list[FileInfo]:
        """Files below ``path`` (relative to the lake root), sorted; [] when absent."""
        selector = pafs.FileSelector(self.full(path), allow_not_found=True, recursive=recursive)
        out = []
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                mtime = info.mtime.astimezone(UTC) if info.mtime else None
                out.append(FileInfo(self._relative(info.path), info.size or 0, mtime))
        return sorted(out, key=lambda f: f.path)

    def ls_dirs(self, path: str) -> list[str]:
        selector = pafs.FileSelector(self.full(path), allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(
            self._relative(i.path) for i in infos if i.type == pafs.FileType.Directory
        )

    def _relative(self, full: str) -> str:
        return full[len(self._base) :].lstrip("/")

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(self.full(path), compression=None) as fh:
            return bytes(fh.read())

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file atomically."""
        with self._atomic_target(path) as target:
            with self.fs.open_output_stream(target, compression=None) as fh:
                fh.write(data)

    def read_json(self, path: str) -> Any:
        return json.loads(self.read_bytes(path))

    def write_json(self, path: str, obj: Any) -> None:
        self.write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def put_file(self, local: Path | str, path: str) -> None:
        """Upload/move-in a local file atomically (the local file is left untouched)."""
        with self._atomic_target(path) as target:
            if self.is_local:
                shutil.copyfile(local, target)
            else:
                pafs.copy_files(str(local), target, destination_filesystem=self.fs)

    def move(self, src: str, dst: str) -> None:
        """Move a file inside the lake (rename locally; copy then delete on S3)."""
        self._ensure_parent(dst)
        if self.is_local:
            os.replace(self.full(src), self.full(dst))
        else:
            self.fs.copy_file(self.full(src), self.full(dst))
            self.fs.delete_file(self.full(src))

    def delete(self, path: str) -> None:
        info = self.fs.get_file_info(self.full(path))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.full(path))
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.full(path))

    def sha256(self, path: str) -> str:
        digest = hashlib.sha256()
        with self.fs.open_input_stream(self.full(path), compression=None) as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    @contextlib.contextmanager
    def local_copy(self, path: str) -> Iterator[Path]:
        """A local path to read ``path`` with any library: the file itself on a local lake,
        a temporary download on S3 (removed afterwards)."""
        if self.is_local:
            yield self.local_path(path)
            return
        with tempfile.TemporaryDirectory(prefix="lakeops-") as tmp:
            local = Path(tmp) / Path(path).name
            pafs.copy_files(self.full(path), str(local), source_filesystem=self.fs)
            yield local

    def _ensure_parent(self, path: str) -> None:
        if self.is_local:
            Path(self.full(path)).parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _atomic_target(self, path: str) -> Iterator[str]:
        """Yield where to write; on success the bytes appear at ``path`` in one step."""
        if not self.is_local:
            yield self.full(path)  # an S3 object is visible only once its upload completes
            return
        tmp_dir = Path(self.full(self._tmp))
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{uuid.uuid4().hex}-{Path(path).name}"
        try:
            yield str(tmp)
            self._ensure_parent(path)
            os.replace(tmp, self.full(path))
        finally:
            tmp.unlink(missing_ok=True)

    # tables -------------------------------------------------------------------------
    def write_table(self, path: str, table: pa.Table, **parquet_options: Any) -> int:
        """Write one Parquet file atomically; returns the rows written."""
        with self._atomic_target(path) as target:
            pq.write_table(table, target, filesystem=self.fs, **parquet_options)
        return table.num_rows

    def write_partition(
        self,
        zone: str,
        dataset: str,
        interval: date | str,
        table: pa.Table,
        *,
        name: str = DATA_FILE,
    ) -> str:
        """Replace ``<zone>/<dataset>/dt=<interval>/<name>`` with ``table``; returns its path.

        Other files of the partition with another writer role (``name``) are left alone.
        """
        path = table_path(zone, dataset, partition_dir(interval), name)
        self.write_table(path, table)
        return path

    @contextlib.contextmanager
    def staged_file(self, path: str) -> Iterator[Path]:
        """A local path for another engine (DuckDB, Spark) to write ``path`` to.

        On a local lake it lies under ``_tmp/`` and is renamed into place on success; on S3
        it is a temporary file uploaded on success. Either way readers never see it half
        written, and on error nothing appears at ``path``.
        """
        if self.is_local:
            with self._atomic_target(path) as target:
                yield Path(target)
            return
        with tempfile.TemporaryDirectory(prefix="lakeops-") as tmp:
            local = Path(tmp) / Path(path).name
            yield local
            self.put_file(local, path)

    def put_partition_file(
        self, local: Path | str, zone: str, dataset: str, interval: date | str,
        *, name: str = DATA_FILE,
    ) -> str:
        """Atomically place an already written local Parquet file as a partition's file."""
        path = table_path(zone, dataset, partition_dir(interval), name)
        self.put_file(local, path)
        return path

    def partitions(self, zone: str, dataset: str) -> list[str]:
        """Interval keys (``2024-10-01``) with data in a dataset, sorted."""
        keys = []
        for d in self.ls_dirs(table_path(zone, dataset)):
            leaf = d.rsplit("/", 1)[-1]
            if leaf.startswith("dt=") and self.ls(d):
                keys.append(leaf[3:])
        return sorted(keys)

    def _snapshot(self, path: str) -> pa.NativeFile:
        """A handle on one consistent version of a file, even if a writer replaces it while
        we read: one open descriptor locally, one whole GET on S3."""
        if self.is_local:
            return self.fs.open_input_file(self.full(path))
        return pa.BufferReader(self.read_bytes(path))

    def read_parquet(self, path: str) -> pa.Table:
        with self._snapshot(path) as fh:
            return pq.read_table(fh)

    def read_partition(
        self, zone: str, dataset: str, interval: date | str, *, name: str = DATA_FILE
    ) -> pa.Table:
        return self.read_parquet(table_path(zone, dataset, partition_dir(interval), name))

    def read_table(self, zone: str, dataset: str, *, name: str = DATA_FILE) -> pa.Table:
        """Every partition of a dataset, with its ``dt`` key as a column."""
        parts = []
        for key in self.partitions(zone, dataset):
            path = table_path(zone, dataset, partition_dir(key), name)
            if self.exists(path):
                t = self.read_parquet(path)
                parts.append(t.append_column("dt", pa.array([key] * t.num_rows, pa.string())))
        if not parts:
            raise FileNotFoundError(f"no partitions in {self.uri(table_path(zone, dataset))}")
        return pa.concat_tables(parts, promote_options="default")


def adopt_landing_inside_lake(settings: Settings) -> str | None:
    """Move a ``landing/`` folder an older version left inside a local lake to where
    landing lives now (beside the lake), so its deliveries are read again and no longer sit
    in the lake; returns what was done, or None when there was nothing to move. A file
    already at the new place is kept; the older copy stays where it was, reported."""
    if settings.lake_is_s3 or settings.landing_root.startswith("s3://"):
        return None
    old = Path(settings.lake) / "landing"
    if not old.is_dir():
        return None
    new = Path(settings.landing_root) / "landing"
    moved, kept = 0, []
    for path in sorted(p for p in old.rglob("*") if p.is_file()):
        target = new / path.relative_to(old)
        if target.exists():
            kept.append(str(path.relative_to(old)))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # same filesystem: <home>/lake and <home>
        moved += 1
    if not kept:
        shutil.rmtree(old)
    return (f"moved {moved} delivered file(s) from {old} (inside the lake) to {new}"
            + (f"; {len(kept)} left in place, already present there: {', '.join(kept[:5])}"
               if kept else ""))
