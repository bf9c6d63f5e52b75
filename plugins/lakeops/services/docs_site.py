"""The docs site: the lake's ``reports/`` zone over plain HTTP.

Great Expectations data docs, dbt docs and drift reports are written by their stages under
``<lake>/reports/<kind>/...``; this serves that zone read-only, so the Airflow UI can
link to it. Run it with ``python -m lakeops.services.docs_site`` (``lakeops up`` does; the compose
profile runs it as the ``docs`` service).

A local-folder lake is served from the folder; an ``s3://`` lake (MinIO) is read through
the lake's filesystem, object by object, streamed. A folder without an ``index.html``
gets a generated listing; requests that would resolve outside the reports zone (``..``,
symlinks pointing out) are refused with 404.

``/_assets/<lib>/<path>`` serves the front-end libraries the data docs load (installed at
set-up, see :mod:`lakeops.validate.docs_assets`) from the environment's assets folder, files only,
under the same rules: no listing, nothing outside that folder.
"""

from __future__ import annotations

import argparse
import html
import io
import mimetypes
import os
import shutil
import sys
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

import pyarrow.fs as pafs

from lakeops.core.settings import get_settings
from lakeops.storage.lake import Lake
from lakeops.validate import docs_assets

ZONE = "reports"
_CHUNK = 1 << 16
# mimetypes reads the machine's tables; these do not depend on them
_ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf",
                ".svg": "image/svg+xml", ".png": "image/png", ".map": "application/json"}


def _page(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


def _listing(entries: list[tuple[str, bool]]) -> str:
    """``(name, is_dir)`` entries as links, folders first; hidden names left out."""
    items = [
        f'<li><a href="{quote(name + ("/" if is_dir else ""))}">'
        f'{html.escape(name + ("/" if is_dir else ""))}</a></li>'
        for name, is_dir in sorted(entries, key=lambda e: (not e[1], e[0].lower()))
        if not name.startswith(".")
    ]
    return "<ul>" + "".join(items) + "</ul>" if items else "<p>No reports yet.</p>"


def _inside(root: str | os.PathLike[str], path: str) -> str | None:
    """``path`` resolved (symlinks followed) when it is ``root`` or below it, else None."""
    top = os.path.realpath(root)
    real = os.path.realpath(path)
    return real if real == top or real.startswith(top + os.sep) else None


def _asset(raw_path: str, assets: Path) -> Path | None:
    """The file under ``assets`` that the request path ``/_assets/...`` names, or None
    (no such file, a folder, a hidden name, ``..``, or a symlink resolving outside)."""
    parts = raw_path.removeprefix(docs_assets.ASSETS_PREFIX).split("/")
    if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\0" in p
           for p in parts):
        return None
    real = _inside(assets, os.path.join(assets, *parts))
    return Path(real) if real is not None and os.path.isfile(real) else None


def _is_asset(raw_path: str) -> bool:
    return raw_path.startswith(docs_assets.ASSETS_PREFIX)


def _asset_headers(handler: BaseHTTPRequestHandler, path: Path, size: int) -> None:
    handler.send_response(HTTPStatus.OK)
    handler.send_header("Content-Type", _ASSET_TYPES.get(path.suffix.lower())
                        or mimetypes.guess_type(path.name)[0] or "application/octet-stream")
    handler.send_header("Content-Length", str(size))
    handler.send_header("Cache-Control", "public, max-age=3600")
    handler.end_headers()


class ReportsHandler(SimpleHTTPRequestHandler):
    """Static files under one root folder, nothing outside it, listings for index pages."""

    server_version = "lakeops-docs"

    def __init__(self, *args: object, assets: Path, **kwargs: object) -> None:
        self.assets = assets
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        raw_path = unquote(urlsplit(self.path).path)
        if any(part == ".." for part in raw_path.replace("\\", "/").split("/")):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        if _is_asset(raw_path):
            return self._send_asset(raw_path)
        fs_path = self.translate_path(self.path)
        if not os.path.isdir(self.directory):
            if raw_path in ("", "/"):
                return self._send_html("lakeops reports", "<p>No reports yet.</p>")
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        if _inside(self.directory, fs_path) is None:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        return super().send_head()

    def _send_asset(self, raw_path: str) -> BinaryIO | None:
        asset = _asset(raw_path, self.assets)
        if asset is None:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        fh = open(asset, "rb")  # noqa: SIM115 - closed by http.server after copying
        try:
            _asset_headers(self, asset, os.fstat(fh.fileno()).st_size)
        except BaseException:
            fh.close()
            raise
        return fh

    def list_directory(self, path: str | os.PathLike[str]) -> io.BytesIO | None:
        try:
            entries = list(os.scandir(path))
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "No permission to list directory")
            return None
        shown = unquote(urlsplit(self.path).path)
        body = _listing([(e.name, e.is_dir()) for e in entries])
        return self._send_html(f"lakeops reports {shown}", body)

    def _send_html(self, title: str, body: str) -> io.BytesIO:
        page = _page(title, body)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        return io.BytesIO(page)


class LakeReportsHandler(BaseHTTPRequestHandler):
    """The reports zone of a lake on any filesystem (MinIO/S3 included), read through the
    lake's ``pyarrow.fs`` filesystem; nothing outside ``reports/`` is addressable."""

    server_version = "lakeops-docs"

    def __init__(self, *args: object, lake: Lake, assets: Path, **kwargs: object) -> None:
        self.lake = lake
        self.assets = assets
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(with_body=False)

    def _serve(self, *, with_body: bool) -> None:
        shown = unquote(urlsplit(self.path).path)
        parts = [p for p in shown.split("/") if p]
        if any(p in (".", "..") or "\\" in p for p in parts):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return
        if _is_asset(shown):
            self._send_asset(shown, with_body)
            return
        path = "/".join([ZONE, *parts])
        info = self.lake.fs.get_file_info(self.lake.full(path))
        if info.type == pafs.FileType.Directory:
            if not shown.endswith("/"):
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", quote(shown) + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            index = self.lake.fs.get_file_info(self.lake.full(path + "/index.html"))
            if index.type == pafs.FileType.File:
                self._send_file(index, with_body)
            else:
                selector = pafs.FileSelector(self.lake.full(path), allow_not_found=True)
                entries = [(i.base_name, i.type == pafs.FileType.Directory)
                           for i in self.lake.fs.get_file_info(selector)]
                self._send_page(f"lakeops reports {shown}", _listing(entries), with_body)
        elif info.type == pafs.FileType.File:
            self._send_file(info, with_body)
        elif not parts:
            self._send_page("lakeops reports", "<p>No reports yet.</p>", with_body)
        else:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")

    def _send_asset(self, shown: str, with_body: bool) -> None:
        asset = _asset(shown, self.assets)
        if asset is None:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return
        with open(asset, "rb") as fh:
            _asset_headers(self, asset, os.fstat(fh.fileno()).st_size)
            if with_body:
                shutil.copyfileobj(fh, self.wfile, _CHUNK)

    def _send_page(self, title: str, body: str, with_body: bool) -> None:
        page = _page(title, body)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        if with_body:
            self.wfile.write(page)

    def _send_file(self, info: pafs.FileInfo, with_body: bool) -> None:
        ctype = mimetypes.guess_type(info.base_name)[0] or "application/octet-stream"
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(info.size or 0))
        self.end_headers()
        if not with_body:
            return
        with self.lake.fs.open_input_stream(info.path, compression=None) as fh:
            while chunk := fh.read(_CHUNK):
                self.wfile.write(chunk)


def make_server(host: str, port: int, root: Path | Lake,
                assets: Path | None = None) -> ThreadingHTTPServer:
    """A server for the reports folder ``root``, or for the reports zone of the lake
    ``root``, bound to ``host:port`` (not yet serving); ``/_assets/`` is served from
    ``assets``, by default where set-up installed them."""
    assets = assets if assets is not None else docs_assets.assets_dir()
    if isinstance(root, Lake):
        if root.is_local:
            root = Path(root.full(ZONE))
        else:
            return ThreadingHTTPServer((host, port),
                                       partial(LakeReportsHandler, lake=root, assets=assets))
    return ThreadingHTTPServer((host, port),
                               partial(ReportsHandler, directory=str(root), assets=assets))


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m lakeops.services.docs_site",
                                     description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.docs_port)
    parser.add_argument("--root", type=Path, default=None, help="default: <lake>/reports")
    args = parser.parse_args(argv)
    root: Path | Lake = args.root.absolute() if args.root is not None \
        else Lake.from_settings(settings)
    server = make_server(args.host, args.port, root)
    shown = args.root or f"{settings.lake}/{ZONE}"
    print(f"serving {shown} on http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
