"""Lake storage over a local folder (the tests taking ``any_settings`` run over S3 too, on
moto's server, in tests/integration/test_on_s3.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeops.core.settings import Settings
from lakeops.storage.lake import Lake, adopt_landing_inside_lake, partition_dir


def _table(n: int, offset: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(offset, offset + n), pa.int64()), "v": ["x"] * n})


def test_partition_roundtrip_and_replace(any_settings: Settings) -> None:
    lake = Lake.from_settings(any_settings)
    lake.write_partition("raw", "education/courses", "2024-10-01", _table(3))
    lake.write_partition("raw", "education/courses", "2024-10-02", _table(2, 10))
    # writing the same partition again replaces it: no duplicates
    lake.write_partition("raw", "education/courses", "2024-10-01", _table(4, 100))

    assert lake.partitions("raw", "education/courses") == ["2024-10-01", "2024-10-02"]
    assert lake.read_partition("raw", "education/courses", "2024-10-01")["id"].to_pylist() == [
        100, 101, 102, 103,
    ]
    whole = lake.read_table("raw", "education/courses")
    assert whole.num_rows == 6
    assert sorted(set(whole["dt"].to_pylist())) == ["2024-10-01", "2024-10-02"]


def test_files_json_move_checksum(any_settings: Settings) -> None:
    landing, lake = Lake.landing(any_settings), Lake.from_settings(any_settings)
    landing.write_bytes("landing/a/b/2024-10-01/f.csv", b"x,y\n1,2\n")
    assert landing.exists("landing/a/b/2024-10-01/f.csv")
    assert [f.path for f in landing.ls("landing/a/b/2024-10-01")] == [
        "landing/a/b/2024-10-01/f.csv"]
    digest = landing.sha256("landing/a/b/2024-10-01/f.csv")
    landing.move("landing/a/b/2024-10-01/f.csv", "landing/_archive/a/b/2024-10-01/f.csv")
    assert not landing.exists("landing/a/b/2024-10-01/f.csv")
    assert landing.sha256("landing/_archive/a/b/2024-10-01/f.csv") == digest
    lake.write_json("monitoring/m.json", {"rows": 3})
    assert lake.read_json("monitoring/m.json") == {"rows": 3}
    with landing.local_copy("landing/_archive/a/b/2024-10-01/f.csv") as local:
        assert Path(local).read_bytes() == b"x,y\n1,2\n"
    # the delivery is in the landing store only: nothing of it under the lake root
    assert not lake.exists("landing")
    assert [f.path for f in lake.ls("", recursive=True)] == ["monitoring/m.json"]


def test_unknown_zone_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown lake zone"):
        Lake.from_settings(settings).write_partition("nowhere", "t", "2024-10-01", _table(1))


def test_crashed_writer_leaves_nothing_visible(any_settings: Settings) -> None:
    lake = Lake.from_settings(any_settings)
    lake.write_partition("raw", "s/t", "2024-10-01", _table(5))
    path = f"raw/s/t/{partition_dir('2024-10-01')}/part-0.parquet"

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom):
        with lake.staged_file(path) as target:
            pq.write_table(_table(1000, 500), target)
            raise Boom  # the writer dies after writing, before publishing
    # the old partition is intact and nothing half-written is listed
    assert lake.read_partition("raw", "s/t", "2024-10-01").num_rows == 5
    assert [f.path for f in lake.ls("raw/s/t", recursive=True)] == [path]


def test_readers_never_see_a_partial_partition(settings: Settings) -> None:
    """A reader racing a writer of big partitions sees the old or the new file, whole."""
    lake = Lake.from_settings(settings)
    sizes = {20_000, 40_000}
    lake.write_partition("raw", "s/big", "2024-10-01", _table(20_000))
    stop = threading.Event()
    seen: set[int] = set()
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.add(lake.read_partition("raw", "s/big", "2024-10-01").num_rows)
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(20):
        lake.write_partition("raw", "s/big", "2024-10-01", _table(40_000 if i % 2 else 20_000))
    stop.set()
    thread.join()
    assert not errors
    assert seen <= sizes and seen


def test_a_landing_folder_left_inside_the_lake_is_moved_beside_it(settings: Settings) -> None:
    old = Path(settings.lake) / "landing" / "_archive" / "business" / "customers" / "2024-10-01"
    old.mkdir(parents=True)
    (old / "customers_20241001.csv").write_text("customer_id,email\n1,ada@example.org\n")
    done = adopt_landing_inside_lake(settings)
    assert done is not None and "moved 1 delivered file(s)" in done
    landing = Lake.landing(settings)
    assert landing.read_bytes("landing/_archive/business/customers/2024-10-01/"
                              "customers_20241001.csv").startswith(b"customer_id")
    assert not (Path(settings.lake) / "landing").exists()
    assert adopt_landing_inside_lake(settings) is None  # nothing left to move
