"""One running platform for the end-to-end modules: `make run`'s demo in a throw-away state
folder (every service on a free loopback port), shared by the demo's checks and the
browser's, and stopped as soon as the last test that uses it has run - not at the end of
the session, so the modules after it do not share the machine with an idle platform.

The scheduler is killed (SIGKILL) while the first ingest runs: supervisord brings it back
and the demo still completes (checked in test_demo)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from tests.e2e.shared_platform import (
    DAYS,
    START,
    kill_the_scheduler_once_ingest_runs,
)
from tests.support import platform_settings

from lakeops import services
from lakeops.core.settings import Settings
from lakeops.demo import run as demo

PLATFORM = "demo_platform"
_STOP: list[Callable[[], None]] = []


@pytest.fixture(scope="session")
def demo_platform(tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[Settings, str, list[str]]]:
    """(settings, the demo's report, every line it printed) of a finished demo whose
    services still run."""
    settings = platform_settings(tmp_path_factory.mktemp("demo"), airflow_parallelism=3)
    lines: list[str] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_the_scheduler_once_ingest_runs,
                              args=(settings, lines, stop), daemon=True)
    killer.start()
    _STOP.append(lambda: services.down(settings))
    try:
        report = demo.run_demo(settings, START, DAYS, scale=0.005, timeout=1500,
                               echo=lines.append, timings=settings.home / "timings.json")
        yield settings, report, lines
    finally:
        stop.set()
        services.down(settings)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The platform's tests run one after another (where the first of them is), so it
    can stop after the last."""
    users = [i for i in items if PLATFORM in getattr(i, "fixturenames", ())]
    if users:
        first = items.index(users[0])
        rest = [i for i in items if i not in users]
        items[:] = rest[:first] + users + rest[first:]


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if PLATFORM in getattr(item, "fixturenames", ()) and (
            nextitem is None or PLATFORM not in getattr(nextitem, "fixturenames", ())):
        while _STOP:
            _STOP.pop()()
