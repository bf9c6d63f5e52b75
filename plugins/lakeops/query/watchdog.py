"""The endpoint's watchdog: it interrupts a query past its time limit or whose client went
away.

DuckDB has no statement timeout, and gRPC only marks a call cancelled when its client
leaves; ``interrupt()`` stops the running query of one DuckDB connection. So every query
holding a slot is registered here as a :class:`Running` (its cursor, its deadline, its
Flight call), and one thread looks at them all a few times a second. The reason it
stopped one is kept on the query, for the engine to tell the client.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import duckdb


@dataclass
class Running:
    """A query holding a slot, watched by :class:`Watchdog`."""

    cursor: duckdb.DuckDBPyConnection
    deadline: float
    context: Any = None  # the Flight call; ``is_cancelled()`` once the client went away
    stopped: str | None = None  # why the watchdog interrupted it


class Watchdog(threading.Thread):
    """Interrupts a query past its time limit or whose client went away (DuckDB has no
    statement timeout; ``interrupt()`` stops the running query of one connection)."""

    def __init__(self, every_s: float = 0.1) -> None:
        super().__init__(name="sql-watchdog", daemon=True)
        self.every_s = every_s
        self._queries: dict[int, Running] = {}
        self._lock = threading.Lock()

    def watch(self, query: Running) -> None:
        with self._lock:
            self._queries[id(query)] = query

    def forget(self, query: Running) -> None:
        with self._lock:
            self._queries.pop(id(query), None)

    def run(self) -> None:
        while True:
            time.sleep(self.every_s)
            now = time.monotonic()
            with self._lock:
                queries = list(self._queries.values())
            for q in queries:
                if q.stopped:
                    continue
                if now > q.deadline:
                    q.stopped = "time"
                elif q.context is not None and q.context.is_cancelled():
                    q.stopped = "client"
                if q.stopped:
                    q.cursor.interrupt()
