"""The unit tier keeps its promise: no process, no socket, under a second of CPU a test
(the guard and its reasons: tests/unit_tier.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.unit_tier import CPU_BUDGET_S, cpu_outside_imports, machine_probes, sealed


def _fail_if(tried: list[str], phase: str) -> None:
    if tried:
        pytest.fail(f"a unit test's {phase} used {', '.join(sorted(set(tried)))}: "
                    "tests that open sockets or start processes belong to tests/data or "
                    "tests/integration", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    machine_probes()
    with sealed() as tried:
        result = yield
    _fail_if(tried, "set-up")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with sealed() as tried, cpu_outside_imports() as cpu:
        result = yield
        used = cpu()
    _fail_if(tried, "call")
    if used > CPU_BUDGET_S:
        pytest.fail(f"the test used {used:.2f} s of CPU (a unit test's budget: "
                    f"{CPU_BUDGET_S:.0f} s): give it less work, or move it to tests/data",
                    pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Iterator[None]:
    with sealed() as tried:
        result = yield
    _fail_if(tried, "tear-down")
    return result
