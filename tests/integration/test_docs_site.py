"""The docs site, served: the GX data docs the platform renders and publishes (into a
local-folder lake and an S3 one on moto's server) reference nothing outside the site and
every asset they load is served; the front-end assets under ``/_assets/``; the reports
zone of a folder and of an S3 lake, nothing outside it; `lakeops up docs` over S3."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import boto3
import httpx
import pytest
from tests.support import EXTERNAL_REFS, docs_server, raw_get

from lakeops import services
from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.services.docs_site import make_server
from lakeops.services.ports import free_port
from lakeops.storage.lake import Lake
from lakeops.synthetic.generate import generate
from lakeops.validate import docs_assets, publish

DAY = "2024-10-01"
SOURCE = "business"
DOCS = "reports/data_docs"
LOCAL_REFS = re.compile(
    r"<(?P<tag>script|link|img)\b[^>]*?\s(?:src|href)=\"(?P<ref>[^\"#]+)\"[^>]*>"
    r"|url\('(?P<css>[^')]+)'\)",
    re.IGNORECASE,
)


# --------------------------------------------------------------- rendered by the platform


@pytest.fixture(scope="module", params=["local", "s3"])
def published(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """The data docs of one validated interval, rendered and published through the
    platform's own path (ingest, validate_interval) into a local-folder lake and into an
    S3 one (moto), where the docs site reads them object by object."""
    home = tmp_path_factory.mktemp(f"docs-{request.param}") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAKEOPS_HOME", str(home))
        mp.delenv("LAKEOPS_LAKE_URI", raising=False)
        if request.param == "s3":
            endpoint = request.getfixturevalue("moto_s3")
            bucket = "lake-docs-assets"
            for key, value in {"LAKEOPS_LAKE_URI": f"s3://{bucket}/lakeops",
                               "LAKEOPS_S3_ENDPOINT": endpoint,
                               "LAKEOPS_S3_ACCESS_KEY": "testing",
                               "LAKEOPS_S3_SECRET_KEY": "testing",
                               "LAKEOPS_S3_REGION": "us-east-1"}.items():
                mp.setenv(key, value)
            boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                         aws_secret_access_key="testing",
                         region_name="us-east-1").create_bucket(Bucket=bucket)
        settings = Settings()
        generate(Lake.landing(settings), SOURCE, date(2024, 10, 1), 1, scale=0.01, seed=5)
        for table in TABLES[SOURCE]:
            ingest.ingest_table(SOURCE, table, DAY, settings)
        publish.validate_interval(SOURCE, DAY, settings)
        yield Lake.from_settings(settings)


def _pages(lake: Lake) -> dict[str, str]:
    """Every HTML page and stylesheet of the published site, by path under ``reports/``."""
    pages = {f.path.removeprefix("reports/"): lake.read_bytes(f.path).decode()
             for f in lake.ls(DOCS, recursive=True) if f.path.endswith((".html", ".css"))}
    assert "data_docs/index.html" in pages
    assert any(p.startswith("data_docs/validations/") for p in pages)
    assert any(p.startswith("data_docs/expectations/") for p in pages)
    return pages


@pytest.mark.slow
def test_published_pages_reference_nothing_outside_the_docs_site(published: Lake) -> None:
    pages = _pages(published)

    leaks = {path: EXTERNAL_REFS.findall(text) for path, text in pages.items()}
    assert {path: found for path, found in leaks.items() if found} == {}
    for path, text in pages.items():
        assert "dataContextId" not in text and "great-expectations-web-assets" not in text, path
        assert "Stay current on everything GX" not in text, path


@pytest.mark.slow
def test_every_asset_the_pages_load_is_served(published: Lake) -> None:
    pages = {p: t for p, t in _pages(published).items() if p.endswith(".html")}
    served = docs_assets.assets_dir()
    assert docs_assets.installed(served), "front-end assets missing: run `make setup`"

    with docs_server(published) as base:
        wanted: set[str] = set()
        for path, text in pages.items():
            for m in LOCAL_REFS.finditer(text):
                wanted.add(urlsplit(urljoin(f"{base}/{path}", m["ref"] or m["css"])).path)
            for m in re.finditer(r"<script src=\"([^\"]+)\" integrity=\"([^\"]+)\"", text):
                body = httpx.get(f"{base}{m[1]}").content
                digest = base64.b64encode(hashlib.sha384(body).digest()).decode()
                assert m[2] == f"sha384-{digest}", m[1]  # browsers check the hash GX wrote

        assets = {w for w in wanted if w.startswith(docs_assets.ASSETS_PREFIX)}
        # every CDN link GX writes was replaced (none was dropped for want of a mapping)
        assert assets == {docs_assets.ASSETS_PREFIX + p for p in docs_assets.CDN.values()}
        fonts: set[str] = set()
        for path in sorted(wanted):
            response = httpx.get(f"{base}{path}")
            assert response.status_code == 200, path
            assert response.content, path
            kind = response.headers["content-type"]
            if path.endswith(".js"):
                assert kind.startswith("text/javascript"), (path, kind)
            elif path.endswith(".css"):
                assert kind.startswith("text/css"), (path, kind)
                fonts |= {urlsplit(urljoin(f"{base}{path}", u)).path for u in
                          re.findall(r"url\((?![\"']?data:)[\"']?([^\"')]+)", response.text)}
            elif path.endswith(".png"):
                assert kind == "image/png", (path, kind)
        assert any(f.endswith(".woff2") for f in fonts)
        for font in fonts:  # font-awesome's web fonts, beside its stylesheet
            response = httpx.get(f"{base}{font}")
            assert response.status_code == 200, font
            assert response.headers["content-type"].startswith(("font/", "image/")), font


@pytest.mark.slow
def test_cleaning_a_published_site_again_changes_nothing(published: Lake) -> None:
    if not published.is_local:
        pytest.skip("the local build folder of an S3 lake is cleaned before upload")
    root = published.local_path(DOCS)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert docs_assets.clean_site(root) == []
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


# ------------------------------------------------------------------ serving /_assets/


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    root = tmp_path / "assets"
    (root / "lib" / "dist").mkdir(parents=True)
    (root / "lib" / "dist" / "lib.min.js").write_text("var lib;")
    (root / "lib" / "dist" / "lib.min.css").write_text("a{}")
    (root / "lib" / "webfonts").mkdir()
    (root / "lib" / "webfonts" / "f.woff2").write_bytes(b"wOF2")
    (root / docs_assets.MANIFEST).write_text("{}")
    (tmp_path / "secret.txt").write_text("do not serve")
    (root / "escape").symlink_to(tmp_path)
    return root


def _check_assets(base: str) -> None:
    js = httpx.get(f"{base}/_assets/lib/dist/lib.min.js")
    assert js.status_code == 200 and js.text == "var lib;"
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert httpx.get(f"{base}/_assets/lib/dist/lib.min.css").headers["content-type"] \
        == "text/css; charset=utf-8"
    assert httpx.get(f"{base}/_assets/lib/webfonts/f.woff2").headers["content-type"] \
        == "font/woff2"
    head = httpx.head(f"{base}/_assets/lib/dist/lib.min.js")
    assert head.status_code == 200 and head.headers["content-length"] == "8"
    for path in ("/_assets/", "/_assets/lib/", "/_assets/lib/dist", "/_assets/missing.js",
                 f"/_assets/{docs_assets.MANIFEST}", "/_assets/escape/secret.txt",
                 "/_assets/../secret.txt", "/_assets/lib/%2e%2e/%2e%2e/secret.txt",
                 "/_assets/lib/dist/lib.min.js%00"):
        assert raw_get(base, path) == 404, path


def test_docs_site_serves_assets_read_only_of_a_folder(tmp_path: Path, assets: Path) -> None:
    reports = tmp_path / "lake" / "reports"
    (reports / "data_docs").mkdir(parents=True)
    (reports / "data_docs" / "index.html").write_text("<h1>docs</h1>")
    with docs_server(reports, assets) as base:
        _check_assets(base)
        assert httpx.get(f"{base}/data_docs/").text == "<h1>docs</h1>"
        assert "_assets" not in httpx.get(f"{base}/").text


def test_docs_site_serves_assets_before_any_report(tmp_path: Path, assets: Path) -> None:
    with docs_server(tmp_path / "missing", assets) as base:
        _check_assets(base)


def test_docs_site_serves_assets_beside_an_s3_lake(s3_settings: Settings,
                                                   assets: Path) -> None:
    lake = Lake.from_settings(s3_settings)
    lake.write_bytes("reports/data_docs/index.html", b"<h1>docs</h1>")
    with docs_server(lake, assets) as base:
        _check_assets(base)
        assert httpx.get(f"{base}/data_docs/").text == "<h1>docs</h1>"


# ------------------------------------------------------------------ serving the reports


@pytest.fixture
def docs_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "lake" / "reports"
    (root / "gx").mkdir(parents=True)
    (root / "gx" / "index.html").write_text("<h1>data docs</h1>")
    (root / "drift").mkdir()
    (root / "drift" / "2024-10-01.html").write_text("drift!")
    (tmp_path / "lake" / "secret.txt").write_text("do not serve")
    (root / "escape").symlink_to(tmp_path / "lake")
    with docs_server(root) as base:
        yield root, base


def test_docs_site_serves_reports_and_lists_folders(docs_root: tuple[Path, str]) -> None:
    _, base = docs_root

    index = httpx.get(f"{base}/")
    assert index.status_code == 200
    assert 'href="gx/"' in index.text and 'href="drift/"' in index.text
    assert httpx.get(f"{base}/gx/").text == "<h1>data docs</h1>"
    assert "2024-10-01.html" in httpx.get(f"{base}/drift/").text


def test_docs_site_refuses_paths_outside_reports(docs_root: tuple[Path, str]) -> None:
    _, base = docs_root

    assert raw_get(base, "/../secret.txt") == 404
    assert raw_get(base, "/gx/%2e%2e/%2e%2e/secret.txt") == 404
    assert raw_get(base, "/escape/secret.txt") == 404


def test_docs_site_without_reports_yet(tmp_path: Path) -> None:
    server = make_server("127.0.0.1", 0, tmp_path / "missing")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert httpx.get(f"{base}/").status_code == 200
        assert httpx.get(f"{base}/gx/index.html").status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def _put_reports(lake: Lake) -> None:
    lake.write_bytes("reports/gx/index.html", b"<h1>data docs</h1>")
    lake.write_bytes("reports/drift/2024-10-01.html", b"drift!")
    lake.write_bytes("reports/dbt_docs/catalog.json", b'{"nodes": {}}')
    lake.write_bytes("curated/secret.txt", b"do not serve")


def test_docs_site_serves_the_reports_zone_of_an_s3_lake(s3_settings: Settings) -> None:
    lake = Lake.from_settings(s3_settings)
    server = make_server("127.0.0.1", 0, lake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        empty = httpx.get(f"{base}/")
        assert empty.status_code == 200 and "No reports yet" in empty.text
        _put_reports(lake)

        index = httpx.get(f"{base}/")
        assert 'href="gx/"' in index.text and 'href="drift/"' in index.text
        assert httpx.get(f"{base}/gx/").text == "<h1>data docs</h1>"  # its index.html
        assert httpx.get(f"{base}/gx").headers["location"] == "/gx/"
        assert "2024-10-01.html" in httpx.get(f"{base}/drift/").text
        catalog = httpx.get(f"{base}/dbt_docs/catalog.json")
        assert catalog.json() == {"nodes": {}}
        assert catalog.headers["content-type"] == "application/json"
        head = httpx.head(f"{base}/drift/2024-10-01.html")
        assert head.status_code == 200 and head.headers["content-length"] == "6"
        assert httpx.get(f"{base}/drift/missing.html").status_code == 404
        assert raw_get(base, "/../curated/secret.txt") == 404
        assert raw_get(base, "/gx/%2e%2e/%2e%2e/curated/secret.txt") == 404
    finally:
        server.shutdown()
        server.server_close()


def test_lakeops_up_serves_the_docs_of_an_s3_lake(s3_settings: Settings) -> None:
    settings = s3_settings.model_copy(update={"docs_port": free_port()})
    _put_reports(Lake.from_settings(settings))
    try:
        started = services.up(settings, ["docs"], timeout=60)
        assert [s.name for s in started] == ["docs"] and started[0].healthy
        assert httpx.get(f"{settings.docs_url}/gx/").text == "<h1>data docs</h1>"
    finally:
        assert services.down(settings) == ["docs"]
