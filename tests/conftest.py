"""Every tier's set-up: a test environment that touches nothing of the user's, each test
marked with its tier (the folder it lives in), and the settings of a throw-away state
folder. Helpers a test calls itself are in ``tests/support.py``."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lakeops.core.settings import Settings

# Airflow reads its home when first imported: never let a test touch ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    _airflow_home = tempfile.mkdtemp(prefix="lakeops-test-airflow-")
    os.environ["AIRFLOW_HOME"] = _airflow_home
    atexit.register(shutil.rmtree, _airflow_home, ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# no library sends usage reports from a test run (Cosmos, dbt, GX)
for _name, _value in {"DO_NOT_TRACK": "1", "SCARF_NO_ANALYTICS": "true",
                      "GX_ANALYTICS_ENABLED": "false",
                      "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False"}.items():
    os.environ.setdefault(_name, _value)
# py4j logs its shutdown at INFO after pytest has closed the captured streams
logging.getLogger("py4j").setLevel(logging.WARNING)

TESTS = Path(__file__).resolve().parent
# the folders under tests/, each a tier of the same name (declared in pyproject.toml)
TIERS = ("unit", "dags", "data", "model", "integration", "e2e")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets its tier's marker from its folder, so ``-m unit`` and the like select
    by tier; a test outside every tier folder is a mistake, said at collection."""
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: every test lives in the folder of its "
                                    f"tier, one of tests/{{{','.join(TIERS)}}}")
        item.add_marker(tier)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a throw-away local profile; the environment agrees with it, so code
    that calls ``get_settings()`` itself sees the same state folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("LAKEOPS_HOME", str(home))
    monkeypatch.delenv("LAKEOPS_LAKE_URI", raising=False)
    return Settings(home=home)


@pytest.fixture
def any_settings(settings: Settings) -> Settings:
    """The settings of a test that holds for any lake: a local folder here;
    tests/integration/test_on_s3.py runs the same tests with a lake on S3 (moto's
    server), where this fixture is the S3 one."""
    return settings
