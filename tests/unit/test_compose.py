"""The production profile as far as it can be checked without a Docker engine: the compose
file, its generated secrets, and the settings every lakeops container builds from it.

Nothing here starts a container (this machine has no Docker engine); the tests catch a
compose file and a code base that drifted apart: a secret nobody generates, a setting
that does not exist, a Dremio source under another name than the SQL the users write."""

from __future__ import annotations

import io
import json
import re
import stat
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from tests.support import (
    COMPOSE_FILE,
    REQUIRED,
    compose_env,
    compose_file,
    compose_worker_settings,
)

from lakeops.core.settings import Profile, Settings, repo_root
from lakeops.query.catalog import SPACE
from lakeops.services import airflow_admin_password
from lakeops.services.compose import dremio_source, read_env_file, write_env_file
from lakeops.storage.lake import Lake
from lakeops.storage.object_store import ObjectStore
from lakeops.transform.dbt import profiles
from lakeops.transform.spark import submit, submit_command, submit_env

ROOT = repo_root()


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / ".env"
    write_env_file(path)
    return read_env_file(path)


@pytest.fixture
def worker_settings(secrets: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings exactly as the Airflow worker container builds them."""
    return compose_worker_settings(secrets, monkeypatch)


def test_compose_env_generates_exactly_the_secrets_the_compose_file_requires(
        tmp_path: Path) -> None:
    required = set(REQUIRED.findall(COMPOSE_FILE.read_text()))
    path = tmp_path / ".env"
    path.write_text("# mine\nMINIO_ROOT_PASSWORD=chosen-by-the-operator\n")

    added = write_env_file(path)
    values = read_env_file(path)
    assert set(added) == required - {"MINIO_ROOT_PASSWORD"}
    assert set(values) == required
    assert values["MINIO_ROOT_PASSWORD"] == "chosen-by-the-operator"
    assert "# mine" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(len(v) >= 16 for v in values.values())
    Fernet(values["AIRFLOW_FERNET_KEY"].encode())  # Airflow refuses anything else
    assert re.search(r"[A-Za-z]", values["DREMIO_PASSWORD"])
    assert re.search(r"\d", values["DREMIO_PASSWORD"])

    assert write_env_file(path) == []  # a second run changes nothing
    assert read_env_file(path) == values


def test_the_env_file_stays_out_of_git_and_of_the_build_context() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".venv", ".lakeops", ".git"} <= set(ignored)


def test_the_worker_environment_builds_the_production_settings(
        worker_settings: Settings, secrets: dict[str, str]) -> None:
    s = worker_settings
    compose = compose_file()
    services = compose["services"]
    env = compose_env("airflow-worker", secrets)

    unknown = {k for k in env if k.startswith("LAKEOPS_") and not k.startswith("LAKEOPS_SECRET_")
               and k.removeprefix("LAKEOPS_").lower() not in Settings.model_fields}
    assert not unknown, f"compose sets settings that do not exist: {unknown}"
    assert s.profile is Profile.COMPOSE and s.dbt_target_name == "dremio"
    assert s.lake == "s3://lakeops" and s.lake_is_s3
    assert Lake.from_settings(s).uri("curated") == "s3://lakeops/curated"

    # the object store: the lake's own MinIO user (created by minio-init) is the key the
    # lake, Spark and MLflow use; MinIO's root user stays with minio and minio-init
    assert s.s3_endpoint == "http://minio:9000"
    assert s.s3_access_key is not None and s.s3_secret_key is not None
    assert s.s3_access_key.get_secret_value() == "lakeops-lake" == env["AWS_ACCESS_KEY_ID"]
    assert s.s3_secret_key.get_secret_value() == secrets["MINIO_LAKE_PASSWORD"] == env[
        "AWS_SECRET_ACCESS_KEY"]
    holders = {name for name, svc in services.items()
               if "MINIO_ROOT_PASSWORD" in json.dumps(svc.get("environment", {}))}
    assert holders == {"minio", "minio-init"}

    # Spark: the master named in settings is the one the cluster runs
    assert s.spark_master == "spark://spark-master:7077"
    assert "7077" in services["spark-master"]["command"]
    assert s.spark_master in services["spark-worker"]["command"]

    # SQL: Dremio answers on the Flight port the client uses, as the user init creates
    assert s.flight_host == "dremio" and f"127.0.0.1:{s.flight_port}:32010" in services[
        "dremio"]["ports"][1]
    assert s.flight_password is not None
    assert s.flight_password.get_secret_value() == secrets["DREMIO_PASSWORD"]

    # the Airflow UI's links reach the published Airflow and docs ports
    assert f"127.0.0.1:{s.airflow_port}:8080" in services["airflow-api-server"]["ports"]
    assert f"127.0.0.1:{s.docs_port}:8090" in services["docs"]["ports"]

    # Airflow: the password file init writes is the one the api-server reads
    assert str(s.airflow_home) == env["AIRFLOW_HOME"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(
        s.airflow_home / "simple_auth_manager_passwords.json")
    assert airflow_admin_password(s) == secrets["AIRFLOW_ADMIN_PASSWORD"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0] == s.airflow_admin_user


def test_the_landing_zone_has_its_own_bucket_and_keys(worker_settings: Settings,
                                                     secrets: dict[str, str]) -> None:
    s = worker_settings
    services = compose_file()["services"]
    assert s.landing_root == "s3://lakeops-landing"
    assert Lake.landing(s).uri("landing/_archive") == "s3://lakeops-landing/landing/_archive"
    landing, lake = ObjectStore.from_settings(s, "landing"), ObjectStore.from_settings(s)
    assert (landing.access_key, landing.secret_key) == (
        "lakeops-landing", secrets["MINIO_LANDING_PASSWORD"])
    assert landing.access_key != lake.access_key
    assert secrets["MINIO_LANDING_PASSWORD"] != secrets["MINIO_LAKE_PASSWORD"]
    assert landing.endpoint == lake.endpoint == "http://minio:9000"
    # only the Airflow side (ingest, retention) holds the landing keys
    for name in ("spark-master", "spark-worker", "mlflow", "docs"):
        env = compose_env(name, secrets)
        assert not any(k.startswith("LAKEOPS_LANDING") for k in env), name
        assert secrets["MINIO_LANDING_PASSWORD"] not in env.values(), name
    # minio-init: both buckets, a user per bucket whose policy names that bucket only
    init = services["minio-init"]
    script = init["command"][0]
    assert "local/lakeops local/lakeops-landing" in script
    assert "lakeops-init" in services and services["lakeops-init"]["depends_on"][
        "minio-init"] == {"condition": "service_completed_successfully"}
    for user, bucket in (("lakeops-lake", "lakeops"), ("lakeops-landing", "lakeops-landing")):
        assert f"policy attach local {user} --user {user}" in script
        policy = json.loads((ROOT / "docker" / "minio" / (
            "lake-policy.json" if bucket == "lakeops" else "landing-policy.json")).read_text())
        resources = {r for st in policy["Statement"] for r in st["Resource"]}
        assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}


def test_dbt_and_dremio_agree_on_the_lakehouse_names(worker_settings: Settings,
                                                     secrets: dict[str, str]) -> None:
    dremio = profiles(worker_settings)["lakeops"]["outputs"]["dremio"]
    assert profiles(worker_settings)["lakeops"]["target"] == "dremio"
    assert dremio["software_host"] == "dremio" and dremio["port"] == 9047
    assert "127.0.0.1:9047:9047" in compose_file()["services"]["dremio"]["ports"][0]

    source = dremio_source(worker_settings)
    # marts built by dbt-dremio and the curated tables are lakehouse.<zone>...: the same
    # names the embedded endpoint serves
    assert source["name"] == SPACE == dremio["object_storage_source"] == "lakehouse"
    assert dremio["object_storage_path"] == "marts"
    config = source["config"]
    assert config["rootPath"] == "/lakeops" and config["whitelistedBuckets"] == ["lakeops"]
    assert config["accessKey"] == "lakeops-lake"
    assert config["accessSecret"] == secrets["MINIO_LAKE_PASSWORD"]
    # the landing bucket is outside Dremio's source, and its keys cannot reach it
    landing_bucket = worker_settings.landing_root.removeprefix("s3://").split("/")[0]
    assert landing_bucket not in config["whitelistedBuckets"]
    assert not f"/{landing_bucket}/".startswith(config["rootPath"].rstrip("/") + "/")
    assert config["accessKey"] != ObjectStore.from_settings(worker_settings,
                                                            "landing").access_key
    assert config["secure"] is False and config["compatibilityMode"] is True
    props = {p["name"]: p["value"] for p in config["propertyList"]}
    assert props["fs.s3a.endpoint"] == "minio:9000"
    assert props["fs.s3a.path.style.access"] == "true"
    assert source["metadataPolicy"]["autoPromoteDatasets"] is True


def test_the_dremio_source_needs_an_s3_lake(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LAKEOPS_LAKE_URI"):
        dremio_source(Settings(home=tmp_path))


def test_spark_reads_the_s3_lake_through_s3a_without_keys_on_the_command_line(
        worker_settings: Settings, secrets: dict[str, str]) -> None:
    cmd = submit_command("business_features", "2024-10-01", worker_settings)
    assert cmd[cmd.index("--master") + 1] == "spark://spark-master:7077"
    confs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--conf"]
    assert "spark.hadoop.fs.s3a.endpoint=http://minio:9000" in confs
    assert "spark.hadoop.fs.s3a.path.style.access=true" in confs
    assert "spark.hadoop.fs.s3a.connection.ssl.enabled=false" in confs
    assert not any(secrets["MINIO_LAKE_PASSWORD"] in a for a in cmd)
    env = submit_env(worker_settings)
    assert env["AWS_ACCESS_KEY_ID"] == "lakeops-lake"
    assert env["AWS_SECRET_ACCESS_KEY"] == secrets["MINIO_LAKE_PASSWORD"]


def test_spark_on_an_s3_lake_without_hadoop_aws_says_why(worker_settings: Settings) -> None:
    # pyspark's wheel ships no hadoop-aws (only the compose image adds it)
    with pytest.raises(RuntimeError, match="hadoop-aws"):
        submit("business_features", "2024-10-01", worker_settings)


def test_a_local_lake_gets_no_s3a_settings(tmp_path: Path) -> None:
    cmd = submit_command("business_features", "2024-10-01", Settings(home=tmp_path))
    assert not any("s3a" in a for a in cmd)


def test_every_image_is_pinned_and_every_file_the_build_needs_exists() -> None:
    compose = compose_file()
    services = compose["services"]
    for name, service in services.items():
        image = service.get("image", "")
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert tag and tag != "latest", f"{name}: image {image!r} is not pinned"
        if "build" in service:
            dockerfile = ROOT / service["build"]["context"] / service["build"]["dockerfile"]
            assert dockerfile.exists(), f"{name}: {dockerfile} missing"
            for line in dockerfile.read_text().splitlines():
                if line.startswith("COPY "):
                    for src in line.split()[1:-1]:
                        assert (ROOT / src).exists(), f"{dockerfile.name} copies {src}"
        for dep in service.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for volume in service.get("volumes", []):
            src = volume.split(":")[0]
            if src.startswith("."):
                assert (ROOT / src).exists(), f"{name} mounts missing {src}"
            else:
                assert src in compose["volumes"], f"{name}: volume {src} not declared"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_the_compose_lock_keeps_the_core_pins() -> None:
    def pins(path: Path) -> dict[str, str]:
        found = {}
        for line in path.read_text().splitlines():
            if "==" in line and not line.lstrip().startswith("#"):
                name, _, version = line.strip().partition("==")
                found[name.lower()] = version
        return found

    core = pins(ROOT / "requirements" / "core.lock")
    extra = pins(ROOT / "requirements" / "compose.lock")
    differ = {n: (core[n], v) for n, v in extra.items() if n in core and core[n] != v}
    assert not differ, f"compose.lock moved core pins: {differ}"
    assert {"apache-airflow-providers-celery", "psycopg2-binary", "redis"} <= set(extra)


def test_the_worker_publishes_the_bundle_to_superset_against_dremio(
        worker_settings: Settings, secrets: dict[str, str]) -> None:
    """publish_dashboards in the compose profile: the zip it imports points the bundle's
    database at Dremio's Flight port as Dremio's user, the password passed apart (never
    in a file of the zip), and it logs in to the superset service with the admin password
    the superset container created its admin with."""
    import zipfile

    from lakeops.dashboards import bundle as dashboards
    from lakeops.services.superset import superset_admin_password

    zipped, passwords = dashboards.bundle(worker_settings, dashboards.bundle_files())
    with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
        texts = {n: zf.read(n).decode() for n in zf.namelist()}
    (db_name,) = [n for n in texts if "/databases/" in n]
    uri = yaml.safe_load(texts[db_name])["sqlalchemy_uri"]
    assert uri.startswith("dremio+flight://lakeops:XXXXXXXXXX@dremio:32010/"), uri
    assert list(passwords.values()) == [secrets["DREMIO_PASSWORD"]]
    assert not any(secrets["DREMIO_PASSWORD"] in t for t in texts.values())
    assert worker_settings.superset_url == "http://superset:8088"
    superset = compose_env("superset", secrets)
    assert superset_admin_password(worker_settings) == superset["SUPERSET_ADMIN_PASSWORD"]
    # the superset container runs the embedded profile's configuration file
    assert superset["SUPERSET_CONFIG_PATH"] == "/opt/superset/superset_config.py"
    dockerfile = (COMPOSE_FILE.parent / "docker" / "superset.Dockerfile").read_text()
    assert "COPY superset/superset_config.py /opt/superset/superset_config.py" in dockerfile


SCHEMA = ROOT / "docker" / "compose-spec.schema.json"


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    """docker/compose-spec.schema.json: the Compose Specification's JSON schema (see
    docker/README.md for its source), so the file is checked without a Docker engine."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(
        yaml.safe_load(COMPOSE_FILE.read_text())), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message[:200]}" for e in errors]


def test_every_long_running_service_has_a_health_check_and_a_memory_limit() -> None:
    """depends_on can wait for readiness, and no service can take the machine's memory."""
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    running = {name: s for name, s in services.items() if s.get("restart") != "no"}
    assert len(running) == 14, sorted(running)
    for name, service in running.items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no health check"
        assert re.fullmatch(r"\d+[mg]", str(service.get("mem_limit", ""))), \
            f"{name}: no memory limit"
    # a dependency on a long-running service waits for it to be healthy
    for name, service in services.items():
        needs = service.get("depends_on", {})
        for dep, spec in (needs.items() if isinstance(needs, dict) else ()):
            if dep in running:
                assert spec["condition"] == "service_healthy", (name, dep, spec)


def test_compose_runs_as_many_workers_as_the_cluster_profile(tmp_path: Path) -> None:
    """Two Celery and two Spark workers, as LAKEOPS_PROFILE=cluster runs them natively. A
    replicated service has no fixed host or container name (its replicas would share
    it), and the host Airflow records for a task - where the api-server fetches a running
    task's log - is an address every container reaches (the callable must import)."""
    import importlib

    services = compose_file()["services"]
    native = Settings(profile=Profile.CLUSTER, home=tmp_path)
    assert services["airflow-worker"]["deploy"]["replicas"] == native.cluster_celery_workers
    assert services["spark-worker"]["deploy"]["replicas"] == native.cluster_spark_workers
    for name in ("airflow-worker", "spark-worker"):
        assert not {"hostname", "container_name"} & set(services[name]), name
    module, _, attr = services["airflow-worker"]["environment"][
        "AIRFLOW__CORE__HOSTNAME_CALLABLE"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), attr))


def _program(command: list[str]) -> list[str]:
    """What a command runs, without its interpreter, install path or options:
    ``.../python -m airflow scheduler --skip-serve-logs`` -> ``[airflow, scheduler]``."""
    words = [Path(command[0]).name, *command[1:]]
    if words[0].startswith("python") and words[1] == "-m":
        words = words[2:]
    program = [words[0]]
    for word in words[1:]:
        if word.startswith("-") or "://" in word:
            break
        program.append(word)
    return program


def test_compose_runs_the_programs_the_cluster_profile_runs(tmp_path: Path) -> None:
    """One topology, two launchers: each engine compose starts is the program (and
    subcommand) the cluster profile starts natively and tests - the Celery workers through
    lakeops.airflow.warm in both - so what the native run proves holds for compose."""
    from lakeops.services import specs

    settings = Settings(profile=Profile.CLUSTER, home=tmp_path)
    native = {s.name: s.command(settings) for s in specs.entries(settings)}
    composed = compose_file()["services"]
    pairs = {"airflow-api-server": "airflow-api-server", "airflow-scheduler":
             "airflow-scheduler", "airflow-dag-processor": "airflow-dag-processor",
             "airflow-triggerer": "airflow-triggerer", "airflow-worker-1": "airflow-worker",
             "spark-master": "spark-master", "spark-worker-1": "spark-worker",
             "mlflow": "mlflow", "docs": "docs"}
    for name, service in pairs.items():
        assert _program(composed[service]["command"]) == _program(native[name]), name
    assert _program(composed["airflow-worker"]["command"]) == [
        "lakeops.airflow.warm", "celery", "worker"]
