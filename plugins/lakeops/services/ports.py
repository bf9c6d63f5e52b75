"""Loopback ports: whether one is taken (before ``lakeops up`` starts anything) and a free
one (for a throw-away platform in a test or a benchmark, beside a running one)."""

from __future__ import annotations

import socket


def port_taken(host: str, port: int) -> bool:
    """Whether ``port`` on ``host`` is bound or answers (another process has it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        probe = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return sock.connect_ex((probe, port)) == 0


def free_port(block: int = 1) -> int:
    """A free loopback port whose next ``block - 1`` ports are free too (the cluster
    profile's Spark UIs take the master's port and one per worker)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        try:
            for port in range(base + 1, base + block):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
