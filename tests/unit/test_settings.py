"""Settings come from LAKEOPS_* variables with safe local defaults; secrets are generated."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lakeops.core.keys import get_secret
from lakeops.core.settings import Profile, Settings


def test_local_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("LAKEOPS_HOME", "LAKEOPS_LAKE_URI", "LAKEOPS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.profile is Profile.LOCAL
    assert s.home == tmp_path / ".lakeops"
    assert s.lake == str(tmp_path / ".lakeops" / "lake")
    assert not s.lake_is_s3
    assert (s.airflow_port, s.mlflow_port, s.flight_port) == (8080, 5000, 32010)
    assert not s.home.exists(), "reading settings must not create folders"


def test_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEOPS_PROFILE", "compose")
    monkeypatch.setenv("LAKEOPS_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("LAKEOPS_LAKE_URI", "s3://lake/prefix/")
    monkeypatch.setenv("LAKEOPS_S3_SECRET_KEY", "hunter2")
    monkeypatch.setenv("LAKEOPS_AIRFLOW_PORT", "18080")
    s = Settings()
    assert s.profile is Profile.COMPOSE
    assert s.lake == "s3://lake/prefix" and s.lake_is_s3
    assert s.airflow_url == "http://127.0.0.1:18080"
    assert "hunter2" not in repr(s), "secrets must not show in reprs or logs"


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEOPS_PROFILE", "cloud")
    with pytest.raises(ValueError, match="profile"):
        Settings()


def test_secrets_are_generated_once_private(settings: Settings) -> None:
    first = get_secret(settings, "airflow-admin-password")
    assert len(first) >= 24
    assert get_secret(settings, "airflow-admin-password") == first
    assert get_secret(settings, "other") != first
    mode = (settings.secrets_dir / "airflow-admin-password").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(settings.secrets_dir.stat().st_mode) == 0o700
