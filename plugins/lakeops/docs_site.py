"""The docs site of the embedded default: the lake's ``reports/`` zone over plain HTTP.

Great Expectations data docs, dbt docs and drift reports are written by their stages under
``<lake>/reports/<kind>/...``; this serves that folder read-only, so the Airflow UI can
link to it. Run it with ``python -m lakeops.docs_site`` (``lakeops up`` does).

Only a local-folder lake is supported for now: an ``s3://`` lake needs its reports synced
to a local folder (pass ``--root``) or a static-site bucket in front of MinIO.

A folder without an ``index.html`` gets a generated listing; requests that would resolve
outside the reports folder (``..``, symlinks pointing out) are refused with 404.
"""

from __future__ import annotations

import argparse
import html
import io
import os
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from lakeops.settings import get_settings


def reports_root(lake: str) -> Path:
    """The ``reports/`` zone of a local-folder lake."""
    if lake.startswith("s3://"):
        raise ValueError(f"the docs site serves a local-folder lake only, not {lake}")
    return Path(lake) / "reports"


class ReportsHandler(SimpleHTTPRequestHandler):
    """Static files under one root folder, nothing outside it, listings for index pages."""

    server_version = "lakeops-docs"

    def _inside_root(self, fs_path: str) -> bool:
        root = os.path.realpath(self.directory)
        real = os.path.realpath(fs_path)
        return real == root or real.startswith(root + os.sep)

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        raw_path = unquote(urlsplit(self.path).path)
        if any(part == ".." for part in raw_path.replace("\\", "/").split("/")):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        fs_path = self.translate_path(self.path)
        if not os.path.isdir(self.directory):
            if raw_path in ("", "/"):
                return self._send_html("lakeops reports", "<p>No reports yet.</p>")
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        if not self._inside_root(fs_path):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        return super().send_head()

    def list_directory(self, path: str | os.PathLike[str]) -> io.BytesIO | None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: (not e.is_dir(), e.name.lower()))
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "No permission to list directory")
            return None
        shown = unquote(urlsplit(self.path).path)
        items = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            name = entry.name + ("/" if entry.is_dir() else "")
            items.append(f'<li><a href="{quote(name)}">{html.escape(name)}</a></li>')
        body = "<ul>" + "".join(items) + "</ul>" if items else "<p>No reports yet.</p>"
        return self._send_html(f"lakeops reports {shown}", body)

    def _send_html(self, title: str, body: str) -> io.BytesIO:
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
        ).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        return io.BytesIO(page)


def make_server(host: str, port: int, root: Path) -> ThreadingHTTPServer:
    """A server for ``root`` bound to ``host:port`` (not yet serving)."""
    handler = partial(ReportsHandler, directory=str(root))
    return ThreadingHTTPServer((host, port), handler)


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m lakeops.docs_site", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.docs_port)
    parser.add_argument("--root", type=Path, default=None, help="default: <lake>/reports")
    args = parser.parse_args(argv)
    try:
        root = args.root if args.root is not None else reports_root(settings.lake)
    except ValueError as exc:
        parser.error(str(exc))
    server = make_server(args.host, args.port, root.absolute())
    print(f"serving {root} on http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
