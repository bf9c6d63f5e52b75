"""The GX data docs load nothing from third parties: the platform rewrites every page it
publishes to the front-end assets the docs site serves from set-up's npm packages, GX's
tracking logo is gone and GX analytics is off."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import boto3
import httpx
import pytest
from tests.conftest import docs_server, raw_get

from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.storage.lake import Lake
from lakeops.synthetic.generate import generate
from lakeops.validate import docs_assets, publish, suite

DAY = "2024-10-01"
SOURCE = "business"
DOCS = "reports/data_docs"

# anything a page could make a browser fetch or follow: src/href attributes (quoted or
# not), CSS url(...) and @import, pointing at another host
_EXTERNAL = r"(?:https?:)?//"
EXTERNAL_REFS = re.compile(
    rf"(?:\b(?:src|href|action|poster|data)\s*=\s*[\"']?\s*{_EXTERNAL}[^\s\"'>]*)"
    rf"|(?:url\(\s*[\"']?\s*{_EXTERNAL}[^)]*\))"
    rf"|(?:@import\s+[\"']\s*{_EXTERNAL}[^\"']*)",
    re.IGNORECASE,
)
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


def test_gx_analytics_is_off_in_the_platform_context(settings: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GX_ANALYTICS_ENABLED", raising=False)

    context = suite.gx_context(settings)

    assert context.config.analytics_enabled is False
    assert context.variables.analytics_enabled is False
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"


# ------------------------------------------------------------------------ the rewriting


GX_HEAD = """<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<script src='//cdn.jsdelivr.net/npm/vega-lite@5'></script>
<style>.navbar-brand a { background: url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png') 0 0; }</style>
<img class="NO-CACHE" src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20241001T000000Z&dataContextId=0c0ffee" alt="Great Expectations"/>
<p>Data Docs autogenerated using <a href="https://greatexpectations.io">Great Expectations</a>.</p>
<script src=https://example.org/new-in-a-later-gx.js></script>
<footer>
  <p>Stay current on everything GX with our newsletter <a href="https://greatexpectations.io/newsletter?utm_source=datadocs">Subscribe</a></p>
</footer>
<a href="../../index.html">Home</a>
"""  # noqa: E501


def test_clean_page_points_cdn_links_at_the_docs_site(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lakeops.validate.docs_assets"):
        clean = docs_assets.clean_page(GX_HEAD, "../../static/images/",
                                       frozenset({"logo-long.png"}))

    assert EXTERNAL_REFS.findall(clean) == []
    assert 'href="/_assets/bootstrap/dist/css/bootstrap.min.css"' in clean
    assert 'src="/_assets/vega/build/vega.min.js"' in clean
    assert 'src="/_assets/vega-lite/build/vega-lite.min.js"' in clean
    assert "url('../../static/images/logo-long.png')" in clean
    assert 'src="../../static/images/logo-long.png"' in clean  # no timestamp, no context id
    assert "<a>Great Expectations</a>" in clean
    assert "newsletter" not in clean
    assert '<a href="../../index.html">Home</a>' in clean
    assert "<script></script>" in clean  # a resource of no known replacement loads nothing
    assert "new-in-a-later-gx.js" in caplog.text  # ... and says so
    assert docs_assets.clean_page(clean) == clean


def test_clean_page_leaves_a_clean_page_alone() -> None:
    page = '<html><a href="#top">x</a><svg xmlns="http://www.w3.org/2000/svg"></svg></html>'
    assert docs_assets.clean_page(page) == page


def test_every_cdn_replacement_is_a_file_set_up_installs() -> None:
    by_lib = {p.lib: p for p in docs_assets.PACKAGES}
    for url, target in docs_assets.CDN.items():
        lib, _, rel = target.partition("/")
        assert lib in by_lib and by_lib[lib].keeps(rel), url
        if docs_assets.installed():
            assert (docs_assets.assets_dir() / target).is_file(), target


# ------------------------------------------------------------------------ the installer


def _fake_npm(tmp_path: Path, corrupt: str | None = None) -> Path:
    """An ``npm`` that packs, for each pinned package, a tarball holding its files (and one
    file more that is not served); ``corrupt`` names a package packed differently."""
    script = tmp_path / "npm"
    script.write_text(f"""#!{sys.executable}
import gzip, io, json, sys, tarfile
from pathlib import Path
args = sys.argv[1:]
dest = Path(args[args.index("--pack-destination") + 1])
files = json.loads({json.dumps(json.dumps({p.spec: p.files for p in docs_assets.PACKAGES}))})
out = []
for spec in args[args.index("--pack-destination") + 2:]:
    name = spec.replace("@", "").replace("/", "-") + ".tgz"
    # gzip's header carries a time unless given one: the same files, the same bytes
    with open(dest / name, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \\
            tarfile.open(fileobj=gz, mode="w") as tar:
        for f in [*files[spec], "src/unserved.js", "../escape.js"]:
            f = f + "x.woff2" if f.endswith("/") else f
            data = (spec + f + ("!" if spec == {corrupt!r} else "")).encode()
            info = tarfile.TarInfo("package/" + f)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.append({{"id": spec, "filename": name}})
print(json.dumps(out))
""")
    script.chmod(0o755)
    return script


def _pin_to(npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the fake tarballs' hashes, as the real pins are the registry's."""
    packs = tmp_path / "packs"
    packs.mkdir()
    made = docs_assets.npm_pack(str(npm), docs_assets.PACKAGES, packs)
    monkeypatch.setattr(docs_assets, "PACKAGES", tuple(
        type(p)(p.name, p.version, docs_assets.integrity_of(made[p.spec]), p.lib, p.files)
        for p in docs_assets.PACKAGES))


def test_install_unpacks_the_served_files_once(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    npm = _fake_npm(tmp_path)
    _pin_to(npm, tmp_path, monkeypatch)
    dest = tmp_path / "share" / "docs-assets"

    docs_assets.install(dest, npm=str(npm))

    assert docs_assets.installed(dest)
    assert (dest / "jquery" / "dist" / "jquery.min.js").read_text() == \
        "jquery@3.7.1dist/jquery.min.js"
    assert (dest / "fontawesome" / "webfonts" / "x.woff2").is_file()
    assert not list(dest.rglob("unserved.js")) and not (tmp_path / "share" / "escape.js").exists()
    manifest = json.loads((dest / docs_assets.MANIFEST).read_text())
    npm.write_text("#!/bin/sh\nexit 1\n")  # installed: npm is not asked again
    assert docs_assets.install(dest, npm=str(npm)) == dest
    assert json.loads((dest / docs_assets.MANIFEST).read_text()) == manifest


def test_install_refuses_a_package_that_is_not_the_pinned_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pin_to(_fake_npm(tmp_path), tmp_path, monkeypatch)
    dest = tmp_path / "docs-assets"

    with pytest.raises(RuntimeError, match="vega@5.33.1: integrity"):
        docs_assets.install(dest, npm=str(_fake_npm(tmp_path, corrupt="vega@5.33.1")))
    assert not dest.exists()
    assert not list(tmp_path.glob(".docs-assets-*"))  # nothing half-installed left behind


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
