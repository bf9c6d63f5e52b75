"""The services' declarations, without starting any: which entries a name selects, the
environment of the Airflow processes, the menu links and access table the entries give,
and what the cluster profile adds. What starts supervisord, a stand-in service or the docs
site is in tests/integration (test_supervision, test_docs_site)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakeops import services
from lakeops.core.settings import Settings
from lakeops.services import specs


@pytest.fixture
def svc_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", airflow_parallelism=3)


def _sh(script: str) -> Callable[[Settings], list[str]]:
    return lambda s: ["sh", "-c", script]


# --------------------------------------------------------------------------- names


def test_unknown_service_is_rejected(svc_settings: Settings) -> None:
    with pytest.raises(ValueError, match="kafka"):
        services.up(svc_settings, ["kafka"])


def test_any_airflow_component_brings_the_whole_group() -> None:
    names = [s.name for s in specs.select(["airflow-scheduler"])]
    assert names == [s.name for s in specs.SERVICES if s.group == "airflow"]
    assert [s.name for s in specs.select(["airflow", "docs"])][0] == "docs"


def test_unreadable_state_counts_as_nothing_running(svc_settings: Settings) -> None:
    svc_settings.run_dir.mkdir(parents=True)
    (svc_settings.run_dir / "supervisord.json").write_text("{not json")

    assert all(s.pid is None and not s.healthy for s in services.status(svc_settings))
    assert services.down(svc_settings) == []


# --------------------------------------------------------------------------- entries


def test_menu_links_and_access_table_come_from_the_entries(
    svc_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    superset = specs.Service(
        "superset", _sh("sleep 300"), port_setting="superset_port", title="Superset",
        login=lambda s: "user admin", links=(specs.Link("Superset", "/superset/welcome/"),),
    )
    monkeypatch.setattr(specs, "SERVICES", (*specs.SERVICES, superset))
    for key, value in services.lakeops_env(svc_settings).items():
        monkeypatch.setenv(key, value)

    importlib.reload(importlib.import_module("lakeops.airflow.ui"))  # the class, anew
    plugin = importlib.reload(importlib.import_module("lakeops_airflow_plugin"))
    views = {v["name"]: v for v in plugin.LakeopsPlugin.external_views}
    assert views["Superset"] == {
        "name": "Superset", "href": f"{svc_settings.url(svc_settings.superset_port)}"
        "/superset/welcome/", "destination": "nav", "category": "browse"}
    assert views["MLflow"]["href"] == f"{svc_settings.mlflow_url}/"
    assert views["dbt docs"]["href"] == f"{svc_settings.docs_url}/dbt_docs/index.html"

    from lakeops.cli.app import app

    printed = CliRunner().invoke(app, ["status"]).output
    assert "superset" in printed and "restarts" in printed and "uptime" in printed
    from lakeops.cli.platform import print_access

    capsys.readouterr()
    print_access(svc_settings)
    table = capsys.readouterr().out
    assert f"Superset     {svc_settings.url(svc_settings.superset_port)}  user admin" in table
    assert f"Airflow UI   {svc_settings.airflow_url}  user admin  password " in table
    assert f"SQL (Flight) grpc+tcp://127.0.0.1:{svc_settings.flight_port}" in table


# --------------------------------------------------------------------------- environment


def test_airflow_env_runs_localexecutor_on_sqlite_in_the_state_folder(
    svc_settings: Settings,
) -> None:
    env = services.airflow_env(svc_settings)
    home = svc_settings.airflow_home

    assert env["AIRFLOW_HOME"] == str(home)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home}/airflow.db"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "3"
    assert int(env["AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG"]) <= 3
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(svc_settings.dags_folder)
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(svc_settings.plugins_folder)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        f"http://127.0.0.1:{svc_settings.airflow_port}/execution/"
    )
    assert env["AIRFLOW__API__WORKERS"] == "1"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(str(home))
    # tasks see the same state folder
    assert env["LAKEOPS_HOME"] == str(svc_settings.home)
    assert env["LAKEOPS_AIRFLOW_PORT"] == str(svc_settings.airflow_port)
    # secrets are generated once and stable
    assert (
        env["AIRFLOW__API_AUTH__JWT_SECRET"]
        == (services.airflow_env(svc_settings)["AIRFLOW__API_AUTH__JWT_SECRET"])
    )
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] != env["AIRFLOW__API__SECRET_KEY"]


def test_lakeops_env_rebuilds_the_same_settings(
    svc_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEOPS_HOME", "/somewhere/else")
    monkeypatch.setenv("LAKEOPS_SECRET_PII_HMAC_KEY", "injected")
    env = services.airflow_env(svc_settings)
    assert env["LAKEOPS_HOME"] == str(svc_settings.home)  # the settings win
    assert env["LAKEOPS_SECRET_PII_HMAC_KEY"] == "injected"  # injected secrets pass through

    for key, value in services.lakeops_env(svc_settings).items():
        monkeypatch.setenv(key, value)
    assert Settings().model_dump() == svc_settings.model_dump()


def test_fernet_key_is_valid(svc_settings: Settings) -> None:
    from cryptography.fernet import Fernet

    Fernet(services.airflow_env(svc_settings)["AIRFLOW__CORE__FERNET_KEY"])


# --------------------------------------------------------------------------- cluster profile


def test_the_cluster_profile_adds_the_production_engines(tmp_path: Path) -> None:
    """LAKEOPS_PROFILE=cluster: Postgres and Redis first, the Spark cluster, the embedded
    services, the Celery workers last; the scheduler leaves tasks to Celery."""
    from lakeops.core.settings import Profile

    settings = Settings(home=tmp_path, profile=Profile.CLUSTER, cluster_celery_workers=3)
    names = specs.service_names(settings)
    assert names[:5] == ("postgres", "redis", "spark-master", "spark-worker-1",
                         "spark-worker-2")
    assert names[-3:] == ("airflow-worker-1", "airflow-worker-2", "airflow-worker-3")
    assert set(specs.service_names(Settings(home=tmp_path))) < set(names)
    scheduler = next(s for s in specs.entries(settings) if s.name == "airflow-scheduler")
    assert "lakeops.airflow.warm" not in scheduler.command(settings)
    # `lakeops up airflow` brings the Celery workers; `up spark` the master and workers
    assert {s.name for s in specs.select(["airflow"], settings)} >= {
        "airflow-worker-1", "airflow-scheduler"}
    assert [s.name for s in specs.select(["spark"], settings)] == [
        "spark-master", "spark-worker-1", "spark-worker-2"]


def test_the_cluster_profile_configures_celery_postgres_and_spark(tmp_path: Path) -> None:
    from lakeops.core.settings import Profile
    from lakeops.services import cluster

    settings = Settings(home=tmp_path, profile=Profile.CLUSTER, postgres_port=6543,
                        redis_port=6390, spark_master_port=7177)
    env = services.airflow_env(settings)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"  # 2 workers x 2 slots
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
        "postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@127.0.0.1:6543/airflow")
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6390/0"
    assert settings.spark_master == "spark://127.0.0.1:7177"
    mlflow = next(s for s in specs.entries(settings) if s.name == "mlflow")
    assert "postgresql://mlflow:" in " ".join(mlflow.command(settings))
    # each database's password is generated once and kept in the state folder
    assert cluster.postgres_password(settings, "airflow") == \
        cluster.postgres_password(settings, "airflow") != cluster.postgres_password(settings)
    local = Settings(home=tmp_path)
    assert services.airflow_env(local)["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert local.spark_master == "local[*]"


def test_a_cluster_service_brings_what_it_needs(tmp_path: Path) -> None:
    from lakeops.core.settings import Profile

    settings = Settings(home=tmp_path, profile=Profile.CLUSTER)
    assert [s.name for s in specs.select(["mlflow"], settings)] == ["postgres", "mlflow"]
    assert {"postgres", "redis"} <= {s.name for s in specs.select(["airflow"], settings)}
    assert [s.name for s in specs.select(["mlflow"], Settings(home=tmp_path))] == ["mlflow"]
