"""Superset in the embedded profile: one supervised program on ``LAKEOPS_SUPERSET_PORT``.

Superset 6 pins SQLAlchemy < 2 and Airflow needs 2, so it runs from its own environment
(``.venv-superset``, built by ``make setup``). The supervised command is this module run
by the core environment's Python (``python -m lakeops.services.superset``): it brings the
metadata database up to date (``superset db upgrade`` and ``superset init``, only when
Superset's version changed or the database is new), makes sure the admin account exists
with the generated password, then replaces itself (``execve``, same pid) with gunicorn
serving ``superset.app:create_app()`` from Superset's environment: the production WSGI
server Superset's own docs run it under, one worker with threads (a small machine).

Doing the preparation in the program rather than in ``lakeops up``'s serial prepare step
lets it overlap with Airflow's start; the health check (``/health``) waits for it.
Configuration: ``superset/superset_config.py`` (metadata DB and caches in the state
folder); the secret key and the admin password are generated into ``<home>/secrets``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from lakeops.core.keys import get_secret
from lakeops.core.settings import Settings, get_settings, repo_root

CONFIG = repo_root() / "superset" / "superset_config.py"
MARKER = ".lakeops-prepared"
ADMIN_MARKER = ".lakeops-admin"


def superset_venv() -> Path:
    return repo_root() / ".venv-superset"


def superset_bin(name: str) -> str:
    return str(superset_venv() / "bin" / name)


def superset_admin_password(settings: Settings) -> str:
    return get_secret(settings, "superset-admin-password")


def superset_env(settings: Settings) -> dict[str, str]:
    """The core environment's variables (the ``LAKEOPS_*`` settings), with Superset's
    environment first on PATH and its configuration, home and secret key."""
    from lakeops.services.airflow import base_env

    env = base_env(settings)
    env["PATH"] = os.pathsep.join([str(superset_venv() / "bin"), env["PATH"]])
    env.update(
        SUPERSET_CONFIG_PATH=str(CONFIG),
        LAKEOPS_SUPERSET_HOME=str(settings.superset_home),
        SUPERSET_SECRET_KEY=get_secret(settings, "superset-secret-key", nbytes=42),
        FLASK_APP="superset",
        SUPERSET_LOAD_EXAMPLES="no",
    )
    return env


def _version() -> str:
    out = subprocess.run(  # noqa: S603
        [superset_bin("python"), "-c",
         "import importlib.metadata as m; print(m.version('apache-superset'))"],
        capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _superset(env: dict[str, str], *args: str) -> None:
    print("superset", args[0], args[1] if len(args) > 1 else "", flush=True)
    subprocess.run([superset_bin("superset"), *args], env=env, check=True)  # noqa: S603


def prepare(settings: Settings, env: dict[str, str]) -> None:
    """Metadata database migrated and initialised for this Superset version; the admin
    account present with the generated password (reset when it was changed by hand)."""
    home = settings.superset_home
    home.mkdir(parents=True, exist_ok=True)
    marker, version = home / MARKER, _version()
    fresh = not (home / "superset.db").exists()
    if fresh or not marker.exists() or marker.read_text().strip() != version:
        _superset(env, "db", "upgrade")
        _superset(env, "init")
        marker.write_text(version + "\n")
    user, password = settings.superset_admin_user, superset_admin_password(settings)
    admin = home / ADMIN_MARKER  # who was set up with which password (its digest)
    digest = hashlib.sha256(f"{user}:{password}".encode()).hexdigest()
    if fresh or not admin.exists() or admin.read_text().strip() != digest:
        # create-admin leaves an existing account alone; reset-password pins its password
        _superset(env, "fab", "create-admin", "--username", user, "--firstname", "lakeops",
                  "--lastname", "admin", "--email", f"{user}@localhost",
                  "--password", password)
        _superset(env, "fab", "reset-password", "--username", user, "--password", password)
        admin.write_text(digest + "\n")


def gunicorn_command(settings: Settings) -> list[str]:
    return [superset_bin("gunicorn"), "--bind", f"{settings.host}:{settings.superset_port}",
            "--workers", "1", "--worker-class", "gthread", "--threads", "8",
            "--timeout", "120", "--limit-request-line", "0",
            "--limit-request-field_size", "0", "superset.app:create_app()"]


def main() -> None:
    settings = get_settings()
    env = superset_env(settings)
    prepare(settings, env)
    command = gunicorn_command(settings)
    sys.stdout.flush()
    os.execve(command[0], command, env)  # noqa: S606 - same pid, the one supervisord watches


if __name__ == "__main__":
    main()
