"""The command line: the same commands after the split into groups, and a user's mistake
reported as one ``error:`` line with a non-zero exit, never a traceback (a bug keeps
its traceback; typer's usage errors keep exit 2). No process is started, no socket
opened: the call a command makes is replaced where it would start something."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lakeops import services
from lakeops.cli.app import app
from lakeops.cli.errors import one_line
from lakeops.core.settings import Settings
from lakeops.services import cluster
from lakeops.services.errors import ServiceStartError

COMMANDS = ["up", "down", "status", "generate", "ingest", "purge-landing", "validate",
            "demo", "features", "dbt", "sql", "compose-env", "compose-init", "check-dags",
            "airflow", "train", "score", "monitor", "load", "dashboards"]


def test_every_command_is_listed_in_its_order() -> None:
    root = typer.main.get_command(app)
    assert list(root.commands) == COMMANDS  # type: ignore[attr-defined]
    assert list(root.commands["load"].commands) == ["oulad"]  # type: ignore[attr-defined]
    assert list(root.commands["dashboards"].commands) == [  # type: ignore[attr-defined]
        "publish", "export"]


def test_cluster_profile_without_redis_names_the_make_target(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAKEOPS_PROFILE", "cluster")
    monkeypatch.setattr(cluster.shutil, "which", lambda name: None)  # no redis-server here

    def up(settings: Settings, timeout: float) -> None:  # builds the commands, starts none
        cluster.redis_command(settings)

    monkeypatch.setattr(services, "up", up)
    result = CliRunner().invoke(app, ["up"])

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.splitlines() == [result.stderr.strip()], "one line"
    assert result.stderr.startswith("error: the cluster profile needs Debian's package "
                                    "'redis-server'")
    assert "make cluster-packages" in result.stderr
    assert "sudo apt-get install redis-server" in result.stderr


def test_a_setting_that_cannot_work_names_its_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAKEOPS_AIRFLOW_PORT", "eighty")
    result = CliRunner().invoke(app, ["down"])

    assert result.exit_code == 1
    assert result.stderr.startswith("error: LAKEOPS_AIRFLOW_PORT='eighty': ")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output


def test_a_bug_keeps_its_traceback(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(settings: Settings) -> list[str]:
        raise KeyError("a bug")

    monkeypatch.setattr(services, "down", down)
    result = CliRunner().invoke(app, ["down"])

    assert isinstance(result.exception, KeyError)
    assert "error:" not in result.output


def test_a_usage_error_keeps_exit_2_and_names_what_is_known(settings: Settings) -> None:
    def words(output: str) -> str:  # typer frames a usage error in a box
        return " ".join(output.replace("\u2502", " ").split())

    result = CliRunner().invoke(app, ["ingest", "--domain", "shop", "--interval", "2024-10-01"])
    assert result.exit_code == 2
    assert "'shop' is no source; sources are education, business" in words(result.output)
    result = CliRunner().invoke(app, ["train", "-m", "student_at_risk", "--interval", "10/01"])
    assert result.exit_code == 2
    assert "'10/01' is not a day as YYYY-MM-DD" in words(result.output)


def test_load_oulad_refuses_a_wrong_path_before_starting_anything(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    def up(settings: Settings) -> None:
        raise AssertionError("nothing may start before the release is checked")

    monkeypatch.setattr(services, "up", up)
    result = CliRunner().invoke(app, ["load", "oulad", str(tmp_path / "missing.zip")])

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'missing.zip'}: no such file or "
                                    "folder; download anonymisedData.zip from https://")
    assert not settings.home.exists()


def test_a_long_message_is_its_first_line_and_the_log_it_names(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "sql.log"
    named = ServiceStartError(f"sql exited during start (Exited too quickly); see the end "
                              f"of {log}:\nTraceback (most recent call last):\n  ...")
    assert one_line(named) == (f"sql exited during start (Exited too quickly); see the end "
                               f"of {log}")
    quoted = ServiceStartError(f"supervisord did not start (exit 2):\n(no log at {log})")
    assert one_line(quoted) == f"supervisord did not start (exit 2) (see {log})"
