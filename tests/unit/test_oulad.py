"""`lakeops load oulad`: the release is recognised (folder or zip), refused clearly when it
is not the release, and delivered as one historical load."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pytest

from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.landing.layout import LOAD_MARKER
from lakeops.onboarding import oulad
from lakeops.onboarding.oulad_release import RELEASE_ZIP
from lakeops.storage.lake import Lake

FIXTURE = Path(__file__).parents[1] / "data" / "oulad_release"


def _lines(table: str) -> int:
    return len((FIXTURE / f"{table}.csv").read_text().splitlines()) - 1


def _zip(tmp_path: Path, prefix: str = "") -> Path:
    path = tmp_path / RELEASE_ZIP
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(FIXTURE.glob("*.csv")):
            zf.write(f, f"{prefix}{f.name}")
        zf.writestr("__MACOSX/._courses.csv", b"junk")
    return path


@pytest.mark.parametrize("shape", ["folder", "zip", "zip with a folder"])
def test_the_release_is_recognised_and_counted(tmp_path: Path, shape: str) -> None:
    path = {"folder": lambda: FIXTURE, "zip": lambda: _zip(tmp_path),
            "zip with a folder": lambda: _zip(tmp_path, "anonymisedData/")}[shape]()

    release = oulad.check_release(path)

    assert {t: f.rows for t, f in release.files.items()} == {
        t: _lines(t) for t in TABLES["education"]}
    report = release.report()
    assert "studentVle.csv" in report and "10,655,280" in report  # the release's own count


def test_what_is_not_the_release_is_refused_naming_why(tmp_path: Path) -> None:
    folder = tmp_path / "release"
    shutil.copytree(FIXTURE, folder)
    (folder / "vle.csv").unlink()
    with pytest.raises(oulad.NotTheRelease, match=r"vle.csv missing"):
        oulad.check_release(folder)

    shutil.copy(FIXTURE / "vle.csv", folder / "vle.csv")
    text = (folder / "studentVle.csv").read_text().replace('"sum_click"', '"clicks"', 1)
    (folder / "studentVle.csv").write_text(text)
    with pytest.raises(oulad.NotTheRelease, match=r"studentVle.csv is not the release's "
                       r"studentVle.csv: header .*clicks; the release's is .*sum_click"):
        oulad.check_release(folder)

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(oulad.NotTheRelease, match="neither a folder nor a zip"):
        oulad.check_release(tmp_path / "notes.txt")


def test_the_cli_refuses_a_wrong_path_before_starting_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process: starting any program or opening any socket would fail the test (the
    unit tier's guard, tests/unit/conftest.py)."""
    from typer.testing import CliRunner

    from lakeops.cli.app import app

    monkeypatch.setenv("LAKEOPS_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["load", "oulad", str(tmp_path / "missing.zip")])
    assert result.exit_code == 2
    assert "no such file or folder; download anonymisedData.zip from https://" in \
        result.stderr
    assert not (tmp_path / "home").exists()  # no service was started


def test_delivery_is_one_historical_load_of_the_files_as_released(
        settings: Settings, tmp_path: Path) -> None:
    release = oulad.check_release(_zip(tmp_path))
    landing = Lake.landing(settings)

    marker = oulad.deliver(release, landing, date(2024, 10, 6))

    # the fixture's clickstream runs from day -10 to day 40
    assert marker["kind"] == "history" and marker["days"] == 51
    assert marker["from"] == "2024-08-17"
    for table in TABLES["education"]:
        folder = f"landing/education/{table}/2024-10-06"
        assert landing.read_bytes(f"{folder}/{table}.csv") == \
            (FIXTURE / f"{table}.csv").read_bytes()
        assert json.loads(landing.read_bytes(f"{folder}/{LOAD_MARKER}")) == marker
