"""The data docs' front-end assets installer: set-up's pinned npm packages, checked against
their pinned hashes, unpacked to the files the docs site serves, once (npm is a stand-in
script here, run as the installer runs npm)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lakeops.validate import docs_assets


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
