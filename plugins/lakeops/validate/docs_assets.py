"""The front-end assets of the GX data docs, served by the docs site instead of public CDNs.

Great Expectations renders its data docs pages with ``<script>``/``<link>`` tags pointing at
public CDNs and a logo ``<img>`` from GX's own bucket whose URL carries a timestamp and the
data context's id. Offline (this platform's machines have no internet at run time) the
pages render unstyled with an empty results table; online, every view of a report on
student data tells those third parties that someone looked. GX has no setting for either:
the URLs are hard-coded in its Jinja templates (``js_script_imports.j2``, ``page.j2``,
``index_page.j2``, ``top_navbar.j2``) and its default stylesheet, so the pages are rewritten
after GX writes them (:func:`clean_site`, called where :mod:`lakeops.validate.suite` publishes the
docs; idempotent, a clean page is left untouched).

The libraries come from the npm registry at set-up (``make setup`` runs
``python -m lakeops.validate.docs_assets install``), fetched with ``npm pack`` by exact version and
checked against the registry's sha512 pinned below, and unpacked into the environment
(``<venv>/share/lakeops/docs-assets``, or ``$LAKEOPS_DOCS_ASSETS``); nothing is copied into
the repository. npm rather than PyPI because only npm ships every one of them at the
versions GX's templates name (the XStatic packages on PyPI lack bootstrap-table,
bootstrap-dark and vega, and ship other bootstrap/jquery/font-awesome versions). Which
package supplies what (all at the version GX's templates ask for; vega, vega-lite and
vega-embed, which GX asks for by major version only, at the newest release of it):

* ``jquery`` 3.7.1 — ``jquery-3.7.1.min.js``
* ``popper.js`` 1.12.9 — ``umd/popper.min.js`` (bootstrap 4's tooltips/dropdowns)
* ``bootstrap`` 4.3.1 — ``bootstrap.min.css`` and ``bootstrap.min.js``
* ``bootstrap-table`` 1.19.1 — the results tables and their filter-control extension
  (GX links the extension's stylesheet of 1.19.0; the 1.19.1 one serves)
* ``bootstrap-datepicker`` 1.9.0 — the date filters of those tables
* ``@fortawesome/fontawesome-free`` 6.6.0 — ``all.min.css`` and its web fonts
* ``@forevolve/bootstrap-dark`` 1.1.0 — ``bootstrap-prefers-dark.css``
* ``vega`` 5.33.1, ``vega-lite`` 5.23.0, ``vega-embed`` 6.29.0 — the charts

popper.js and bootstrap keep the ``integrity`` hashes of GX's tags: the npm files are the
very bytes the CDNs serve, so a browser still checks them. GX's tracking logo becomes the
copy of the same logo that GX writes into the site's ``static/images/``; links to GX's web
site lose their ``href`` (they stay readable as text), GX's newsletter footer is dropped, and
the favicon link GX writes one folder too shallow into validation pages is corrected.

The docs site (:mod:`lakeops.services.docs_site`) serves the installed files read-only under
``/_assets/<lib>/<path>``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ASSETS_PREFIX = "/_assets/"
ENV_DIR = "LAKEOPS_DOCS_ASSETS"
MANIFEST = ".manifest.json"


@dataclass(frozen=True)
class Package:
    """One npm package: what to fetch, how to check it, which of its files to serve."""

    name: str
    version: str
    integrity: str  # the registry's ``dist.integrity``
    lib: str  # the folder under /_assets/
    files: tuple[str, ...]  # paths inside the package; one ending in "/" is a whole folder

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def keeps(self, rel: str) -> bool:
        if PurePosixPath(rel).parent == PurePosixPath(".") and rel.upper().startswith("LICENSE"):
            return True  # the licence travels with the files
        return any(rel == f or (f.endswith("/") and rel.startswith(f)) for f in self.files)


PACKAGES: tuple[Package, ...] = (
    Package("jquery", "3.7.1",
            "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
            "jquery", ("dist/jquery.min.js",)),
    Package("popper.js", "1.12.9",
            "sha512-s0EEi9xiSCdqz9lV4IiVH5yIZnDX/U1t0tCjB+0jXx9jW8lrR7kOpVupiUg175ogqVoudpDXHF1p6dKATCHMeg==",
            "popper.js", ("dist/umd/popper.min.js",)),
    Package("bootstrap", "4.3.1",
            "sha512-rXqOmH1VilAt2DyPzluTi2blhk17bO7ef+zLLPlWvG494pDxcM234pJ8wTc/6R40UWizAIIMgxjvxZg5kmsbag==",
            "bootstrap", ("dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js")),
    Package("bootstrap-table", "1.19.1",
            "sha512-WvV+l1AI/C+zThaKmfHmi/IuayVNB0qdFyEhFx1jyZhO0oLtNJNANkCR3rvJf6Dkh72dsLElxpE/bzK9seEQLA==",
            "bootstrap-table", ("dist/bootstrap-table.min.js", "dist/bootstrap-table.min.css",
                                "dist/extensions/filter-control/")),
    Package("bootstrap-datepicker", "1.9.0",
            "sha512-9rYYbaVOheGYxjOr/+bJCmRPihfy+LkLSg4fIFMT9Od8WwWB/MB50w0JO1eBgKUMbb7PFHQD5uAfI3ArAxZRXA==",
            "bootstrap-datepicker", ("dist/js/bootstrap-datepicker.min.js",
                                     "dist/css/bootstrap-datepicker.min.css")),
    Package("@fortawesome/fontawesome-free", "6.6.0",
            "sha512-60G28ke/sXdtS9KZCpZSHHkCbdsOGEhIUGlwq6yhY74UpTiToIh8np7A8yphhM4BWsvNFtIvLpi4co+h9Mr9Ow==",
            "fontawesome", ("css/all.min.css", "webfonts/")),
    Package("@forevolve/bootstrap-dark", "1.1.0",
            "sha512-A3ucpEpxPoTVO490lZZCfjPXxv832l7mm1IxX3bXyxvgwnPGXDLyh7dWrphXKO8YBAu3EswbBEu3VSW8NRMW3A==",
            "bootstrap-dark", ("dist/css/bootstrap-prefers-dark.css",)),
    Package("vega", "5.33.1",
            "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==",
            "vega", ("build/vega.min.js",)),
    Package("vega-lite", "5.23.0",
            "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
            "vega-lite", ("build/vega-lite.min.js",)),
    Package("vega-embed", "6.29.0",
            "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==",
            "vega-embed", ("build/vega-embed.min.js",)),
)

# Every CDN URL GX 1.x's templates write, and the file under /_assets/ that replaces it.
CDN: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "fontawesome/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        "popper.js/dist/umd/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        "bootstrap/dist/js/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        "bootstrap/dist/css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
}

# GX's image bucket: its logo URL is the tracking pixel; the site has the same logo locally
_GX_IMAGES_HOST = "great-expectations-web-assets."
_GX_LOGO = "logo-long.png"


def assets_dir() -> Path:
    """Where set-up installed the assets: beside the environment that runs the docs site, so
    ``make clean`` takes them along and every virtual environment has its own."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        return Path(configured)
    return Path(sys.prefix) / "share" / "lakeops" / "docs-assets"


def _wanted() -> list[dict[str, str]]:
    return [{"name": p.name, "version": p.version, "integrity": p.integrity, "lib": p.lib,
             "files": ",".join(p.files)} for p in PACKAGES]


def installed(dest: Path | None = None) -> bool:
    """Whether ``dest`` holds exactly the packages pinned here."""
    try:
        manifest = json.loads(((dest or assets_dir()) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return bool(manifest == {"packages": _wanted()})


def integrity_of(path: Path) -> str:
    """A file's hash as npm's ``dist.integrity`` spells it (``sha512-<base64>``)."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def npm_pack(npm: str, packages: Iterable[Package], into: Path) -> dict[str, Path]:
    """``npm pack`` every package into ``into``: the tarball of each spec, unpacked by nobody
    and fetched without installing any dependency (the bundles are self-contained)."""
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
           "npm_config_audit": "false", "npm_config_loglevel": "error"}
    specs = [p.spec for p in packages]
    done = subprocess.run(
        [npm, "pack", "--json", "--pack-destination", str(into), *specs],
        cwd=into, env=env, check=True, stdout=subprocess.PIPE, text=True,
    )
    return {entry["id"]: into / entry["filename"] for entry in json.loads(done.stdout)}


def _unpack(package: Package, tarball: Path, lib_dir: Path) -> int:
    """The files ``package`` keeps, out of its tarball (whose entries sit under one top
    folder, ``package/`` as a rule); regular files only, never outside ``lib_dir``."""
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts[1:]
            if not member.isfile() or not parts or any(p in ("", ".", "..") for p in parts):
                continue
            rel = "/".join(parts)
            if not package.keeps(rel):
                continue
            target = lib_dir.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                continue
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            count += 1
    missing = [f for f in package.files
               if not f.endswith("/") and not (lib_dir / f).is_file()]
    if missing:
        raise RuntimeError(f"{package.spec} has no {', '.join(missing)}")
    return count


def install(dest: Path | None = None, npm: str = "npm", force: bool = False) -> Path:
    """Fetch the pinned packages from the npm registry and install their served files into
    ``dest``; a ``dest`` that already holds them is left alone (set-up re-runs this)."""
    dest = dest or assets_dir()
    if installed(dest) and not force:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".docs-assets-", dir=dest.parent) as tmp:
        work = Path(tmp)
        downloads = work / "npm"
        downloads.mkdir()
        tarballs = npm_pack(npm, PACKAGES, downloads)
        staging = work / "assets"
        for package in PACKAGES:
            tarball = tarballs.get(package.spec)
            if tarball is None or not tarball.is_file():
                raise RuntimeError(f"npm pack did not fetch {package.spec}")
            got = integrity_of(tarball)
            if got != package.integrity:
                raise RuntimeError(f"{package.spec}: integrity {got} is not the pinned "
                                   f"{package.integrity}")
            _unpack(package, tarball, staging / package.lib)
        (staging / MANIFEST).write_text(json.dumps({"packages": _wanted()}, indent=1))
        old = work / "old"
        if dest.exists():
            dest.rename(old)
        staging.rename(dest)
    return dest


# -- rewriting the pages ------------------------------------------------------------------

_EXTERNAL = r"(?:https?:)?//"
_ATTR = re.compile(
    r"(?P<pre>\s)(?P<attr>src|href|xlink:href)\s*=\s*"
    rf"(?:(?P<q>[\"'])(?P<url>\s*{_EXTERNAL}[^\"']*)(?P=q)|(?P<bare>{_EXTERNAL}[^\s\"'>]+))",
    re.IGNORECASE,
)
_CSS_URL = re.compile(
    rf"url\(\s*(?P<q>[\"']?)(?P<url>{_EXTERNAL}[^\"')\s]*)(?P=q)\s*\)", re.IGNORECASE)
_CSS_IMPORT = re.compile(rf"@import\s+(?P<q>[\"']){_EXTERNAL}[^\"']*(?P=q)\s*;?", re.IGNORECASE)
_TAG_NAME = re.compile(r"<\s*([a-zA-Z][a-zA-Z0-9:-]*)")
# GX links the favicon of a validation page one folder too shallow: a 404 on every view
_FAVICON = re.compile(r"(?P<pre>\shref=[\"'])(?:\./|(?:\.\./)*)static/images/favicon\.ico(?=[\"'])")
_NEWSLETTER = re.compile(
    r"<footer>\s*<p>\s*Stay current on everything GX.*?</footer>\s*", re.DOTALL)


def _local(url: str, images: str, image_names: frozenset[str]) -> str | None:
    """The docs-site path that replaces ``url``, if there is one."""
    url = url.strip()
    if url.startswith("//"):  # protocol-relative
        url = "https:" + url
    elif url.lower().startswith("http:"):
        url = "https:" + url[5:]
    if url in CDN:
        return ASSETS_PREFIX + CDN[url]
    host = urlsplit(url).hostname or ""
    if host.startswith(_GX_IMAGES_HOST):
        name = PurePosixPath(urlsplit(url).path).name
        return images + (name if name in image_names else _GX_LOGO)
    return None


def _enclosing_tag(text: str, pos: int) -> str:
    match = _TAG_NAME.match(text, text.rfind("<", 0, pos))
    return match.group(1).lower() if match else ""


def clean_page(text: str, images: str = "static/images/",
               image_names: frozenset[str] = frozenset({_GX_LOGO})) -> str:
    """``text`` (HTML or CSS) without a reference to anything outside the docs site.

    ``images`` is the site's ``static/images/`` folder relative to the page; ``image_names``
    the images it holds. CDN assets become ``/_assets/...`` paths; GX's logo becomes the
    site's copy of it; other external links lose their ``href``; an external resource of
    no known replacement loses its ``src``/``href`` too, with a warning, so it loads nothing.
    """
    text = _NEWSLETTER.sub("", text)

    def attr(m: re.Match[str]) -> str:
        url = m.group("url") if m.group("url") is not None else m.group("bare")
        local = _local(url, images, image_names)
        if local is not None:
            return f'{m.group("pre")}{m.group("attr")}="{local}"'
        tag = _enclosing_tag(text, m.start())
        if tag != "a":
            log.warning("data docs: dropped the external %s of a <%s>: %s",
                        m.group("attr"), tag, url.strip())
        return ""

    def css_url(m: re.Match[str]) -> str:
        local = _local(m.group("url"), images, image_names)
        if local is None:
            log.warning("data docs: dropped an external url(): %s", m.group("url"))
            return "none"
        return f"url('{local}')"

    text = _ATTR.sub(attr, text)
    text = _FAVICON.sub(lambda m: f"{m.group('pre')}{images}favicon.ico", text)
    text = _CSS_URL.sub(css_url, text)
    return _CSS_IMPORT.sub("", text)


def clean_site(root: Path, since: float = 0.0) -> list[Path]:
    """Clean the HTML and CSS files of the data docs site ``root`` modified since ``since``
    (a ``time.time()``; the same second of slack as the upload to an S3 lake), in place and
    atomically, so the docs site never serves half a page. Returns the files changed."""
    images_dir = root / "static" / "images"
    names = frozenset(p.name for p in images_dir.iterdir()) if images_dir.is_dir() \
        else frozenset()
    changed = []
    for path in root.rglob("*"):
        if path.suffix.lower() not in (".html", ".htm", ".css") or path.name.startswith("."):
            continue
        try:
            if not path.is_file() or path.stat().st_mtime < since - 1:
                continue
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            continue
        images = os.path.relpath(images_dir, path.parent).replace(os.sep, "/") + "/"
        clean = clean_page(text, images, names)
        if clean == text:
            continue
        tmp = path.with_name(f".{path.name}.clean")
        tmp.write_text(clean, encoding="utf-8", errors="surrogateescape")
        os.replace(tmp, path)
        changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeops.validate.docs_assets",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="fetch the pinned npm packages (idempotent)")
    inst.add_argument("--dest", type=Path, default=None, help="default: " + str(assets_dir()))
    inst.add_argument("--npm", default="npm", help="the npm client to fetch with")
    inst.add_argument("--force", action="store_true", help="even if already installed")
    clean = sub.add_parser("clean", help="rewrite a data docs folder's pages, all of them")
    clean.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    if args.command == "install":
        dest = install(args.dest, npm=args.npm, force=args.force)
        print(f"docs assets in {dest}", file=sys.stderr)
    else:
        changed = clean_site(args.root)
        print(f"cleaned {len(changed)} file(s) under {args.root}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
