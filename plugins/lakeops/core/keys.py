"""Secrets of the local profile, generated once into the state folder, never committed."""

from __future__ import annotations

import os
import secrets as _secrets
from pathlib import Path

from lakeops.core.settings import Settings


def _secret_path(settings: Settings, name: str) -> Path:
    return settings.secrets_dir / name


def get_secret(settings: Settings, name: str, *, nbytes: int = 24) -> str:
    """Return the named secret, generating it (mode 0600) on first use.

    An environment variable ``LAKEOPS_SECRET_<NAME>`` wins, so a deployment can inject it.
    """
    env = os.environ.get(f"LAKEOPS_SECRET_{name.upper().replace('-', '_')}")
    if env:
        return env
    path = _secret_path(settings, name)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    value = _secrets.token_urlsafe(nbytes)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    try:
        # link() fails if another process won the race: both then read the winner's value
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, readable by its owner only (mode 0600
    from the moment the bytes exist)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)  # an older tmp file may have had another mode
    os.replace(tmp, path)


def pii_key(settings: Settings) -> bytes:
    """Key of the keyed hash that pseudonymizes PII (HMAC-SHA256)."""
    return get_secret(settings, "pii-hmac-key", nbytes=32).encode()
