"""Dashboards as code: ``superset/assets/`` is an unzipped Superset asset bundle
(databases, datasets, charts, dashboards, each by a stable UUID) that
``lakeops dashboards publish`` imports and ``lakeops dashboards export`` writes back.

Superset's own import/export API does the work (``POST /api/v1/assets/import/`` with
``overwrite``, ``GET /api/v1/assets/export/``): the same bundle format its UI exports, so
a change made in the UI is exported, reviewed and committed like any other file. What is
hand-written here is only what the API leaves to its caller:

* the bundle's database points at the SQL endpoint of *this* profile: its
  ``sqlalchemy_uri`` host and port are rewritten from the settings at publish time, and
  the password (generated per state folder, never in a file) is passed as the import's
  ``passwords`` field;
* export strips what is machine-specific (the host and port, the export timestamp) so an
  unchanged dashboard exports to unchanged files;
* publishing is skipped when the bundle's digest equals the last published one (kept in
  the state folder), so the DAG task that publishes after every marts refresh is cheap.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from lakeops.core.settings import Settings, repo_root

ASSETS = repo_root() / "superset" / "assets"
ROOT = "lakeops_assets"  # the folder inside the zip Superset expects
URI_HOST = re.compile(r"^(?P<scheme>[a-z+]+)://(?P<user>[^:@/]+)(?::[^@/]*)?@[^/:]+:\d+")
PLACEHOLDER_HOST = "sql-endpoint"
PLACEHOLDER_PORT = 32010
PLACEHOLDER_USER = "analyst"  # the embedded endpoint's reader; a profile sets its own
STATE = "dashboards-published.json"


class DashboardError(RuntimeError):
    """Superset refused the bundle or could not be reached; its answer is in the message."""


@contextmanager
def superset_client(settings: Settings) -> Iterator[httpx.Client]:
    """A client logged in to Superset as the admin, with the CSRF token its import needs."""
    with httpx.Client(base_url=settings.superset_url, timeout=120) as client:
        _login(client, settings)
        yield client


def _login(client: httpx.Client, settings: Settings) -> None:
    from lakeops.services.superset import superset_admin_password

    r = client.post("/api/v1/security/login", json={
        "username": settings.superset_admin_user,
        "password": superset_admin_password(settings), "provider": "db", "refresh": False})
    if r.status_code != 200:
        raise DashboardError(f"Superset login failed: HTTP {r.status_code} {r.text[:200]}")
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    csrf = client.get("/api/v1/security/csrf_token/")
    csrf.raise_for_status()
    client.headers["X-CSRFToken"] = csrf.json()["result"]
    client.headers["Referer"] = settings.superset_url


def bundle_files(src: Path = ASSETS) -> dict[str, bytes]:
    """The bundle's YAML files under ``src`` by their path in it, in path order: what
    :func:`bundle` zips and :func:`digest` hashes."""
    return {p.relative_to(src).as_posix(): p.read_bytes()
            for p in sorted(src.rglob("*")) if p.is_file() and p.suffix == ".yaml"}


def _point(uri: str, host: str, port: int, password: str | None = None,
           user: str | None = None) -> str:
    """``dremio+flight://user[:password]@host:port/...`` with another host and port (and
    password placeholder, and user): the bundle's database pointed at a profile's SQL
    endpoint on publish, and back at the placeholder endpoint on export."""
    secret = "" if password is None else f":{password}"
    return URI_HOST.sub(
        lambda m: f"{m['scheme']}://{user or m['user']}{secret}@{host}:{port}", uri, count=1)


def bundle(settings: Settings, files: dict[str, bytes]) -> tuple[bytes, dict[str, str]]:
    """The zip Superset imports from the bundle's ``files`` and the ``passwords`` field for
    its databases (pointed at this profile's SQL endpoint; the password is passed apart)."""
    from lakeops.query import grants

    if "metadata.yaml" not in files:
        raise DashboardError("not an asset bundle: no metadata.yaml")
    passwords = {}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            if name.startswith("databases/"):
                db = yaml.safe_load(data)
                # the profile's endpoint and user: the embedded endpoint as `analyst`,
                # Dremio in the compose profile as its user (LAKEOPS_FLIGHT_USER)
                db["sqlalchemy_uri"] = _point(db["sqlalchemy_uri"],
                                              settings.flight_host or settings.host,
                                              settings.flight_port, "XXXXXXXXXX",
                                              settings.flight_user)
                data = yaml.safe_dump(db, sort_keys=False).encode()
                passwords[name] = grants.password(settings, settings.flight_user)
            zf.writestr(f"{ROOT}/{name}", data)
    return buf.getvalue(), passwords


def dashboard_docs(src: Path = ASSETS) -> list[dict[str, Any]]:
    """The bundle's dashboards as their YAML files say (by file name)."""
    return [yaml.safe_load(path.read_text())
            for path in sorted((src / "dashboards").glob("*.yaml"))]


def urls(settings: Settings, src: Path = ASSETS) -> dict[str, str]:
    """Each dashboard of the bundle (by title) and where Superset shows it."""
    return {doc["dashboard_title"]: (f"{settings.superset_url}/superset/dashboard/"
                                     f"{doc.get('slug') or doc['uuid']}/")
            for doc in dashboard_docs(src)}


def digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name, data in files.items():
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def publish(settings: Settings, src: Path = ASSETS, *, force: bool = False) -> dict[str, Any]:
    """Import the bundle with overwrite (publishing twice changes nothing); skipped when
    this bundle was published to this Superset already, unless ``force``."""
    state = settings.superset_home / STATE
    files = bundle_files(src)
    current = digest(files)
    if not force and state.exists() and json.loads(state.read_text()).get("digest") == current:
        return {"published": False, "reason": "unchanged since the last publish",
                "digest": current}
    try:
        data, passwords = bundle(settings, files)
    except DashboardError as exc:
        raise DashboardError(f"{src}: {exc}") from None
    with superset_client(settings) as client:
        r = client.post("/api/v1/assets/import/", files={
            "bundle": ("lakeops_assets.zip", data, "application/zip")},
            data={"passwords": json.dumps(passwords), "overwrite": "true"})
    if r.status_code != 200:
        raise DashboardError(f"Superset refused the bundle: HTTP {r.status_code} "
                             f"{r.text[:2000]}")
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"digest": current}) + "\n")
    return {"published": True, "digest": current,
            "files": sorted(n for n in files if n != "metadata.yaml")}


def _scrub(name: str, data: bytes) -> bytes:
    """What is machine-specific out of an exported file."""
    doc = yaml.safe_load(data)
    if name == "metadata.yaml":
        doc.pop("timestamp", None)
    if name.startswith("databases/") and "sqlalchemy_uri" in doc:
        doc["sqlalchemy_uri"] = _point(doc["sqlalchemy_uri"], PLACEHOLDER_HOST,
                                       PLACEHOLDER_PORT, user=PLACEHOLDER_USER)
    return yaml.safe_dump(doc, sort_keys=False).encode()


def _stable_name(name: str, data: bytes) -> str:
    """A file name that does not depend on the exporting Superset's row ids (``_<id>``
    suffixes): a dataset by its schema's last part and table, anything else by its name
    without the id. Import goes by UUID, so names are for the reader of the repo."""
    if name.startswith("datasets/"):
        doc = yaml.safe_load(data)
        folder = name.rsplit("/", 1)[0]
        return f"{folder}/{str(doc['schema']).rsplit('.', 1)[-1]}.{doc['table_name']}.yaml"
    return re.sub(r"_\d+\.yaml$", ".yaml", name)


def export(settings: Settings, dest: Path = ASSETS) -> list[str]:
    """Write Superset's current dashboards (with their charts, datasets and databases)
    into ``dest``, replacing its YAML files; returns the files written."""
    with superset_client(settings) as client:
        r = client.get("/api/v1/assets/export/")
    if r.status_code != 200:
        raise DashboardError(f"Superset's export failed: HTTP {r.status_code} {r.text[:500]}")
    parts = [r.content]
    files: dict[str, bytes] = {}
    for part in parts:
        with zipfile.ZipFile(io.BytesIO(part)) as zf:
            for info in zf.infolist():
                name = info.filename.split("/", 1)[1]
                data = _scrub(name, zf.read(info))
                files[_stable_name(name, data)] = data
    files.setdefault("metadata.yaml", yaml.safe_dump(
        {"version": "1.0.0", "type": "assets"}, sort_keys=False).encode())
    files["metadata.yaml"] = yaml.safe_dump(
        {**yaml.safe_load(files["metadata.yaml"]), "type": "assets"}, sort_keys=False).encode()
    for old in dest.rglob("*.yaml"):
        old.unlink()
    for name, data in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return sorted(files)


def warm(settings: Settings, *, strict: bool = True) -> dict[str, Any]:
    """Run every dashboard's chart queries once so their results are in Superset's cache
    when a user opens them after a refresh (Superset's own warm-up: the chart data of each
    chart, ``force`` to replace what the previous marts left). ``strict``: a chart whose
    query fails raises; otherwise it is listed (after the first dbt build, the tables the
    models write - predictions, drift, decisions - do not exist yet)."""
    warmed, failed = 0, []
    with superset_client(settings) as client:
        charts = client.get("/api/v1/chart/", params={"q": "(page_size:100)"}).json()
        for chart in charts.get("result", []):
            r = client.get(f"/api/v1/chart/{chart['id']}/data/", params={"force": "true"})
            if r.status_code == 200:
                warmed += 1
            else:
                failed.append(f"{chart.get('slice_name')}: HTTP {r.status_code}")
    if failed and strict:
        raise DashboardError("charts whose queries failed: " + "; ".join(failed))
    return {"charts_warmed": warmed, "failed": failed}

