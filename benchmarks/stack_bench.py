"""Idle memory of the whole embedded stack, as proportional set size (PSS).

The budget (issue 12): the embedded profile's services together stay at or under 3 GB PSS
when idle. PSS splits every shared page among the processes that map it, so the services'
figures add up; the sum of resident set sizes (what ``top`` shows per process) counts a
shared library once per process and is printed beside it for contrast.

Two states of the same stack, in a scratch state folder on free loopback ports:

* ``after lakeops up`` - the baseline: every service started and healthy, no data, idle
  for :data:`IDLE_S`;
* ``after the demo`` - ``lakeops demo`` run through (ingest, Spark features, dbt, both models
  trained and scoring, the dashboards published and warmed), then idle for :data:`IDLE_S`.

Each figure is the median of :data:`SAMPLES` samples a few seconds apart. Reported: PSS per
service, the whole stack against the budget, and the growth from the baseline.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import save
from lakeops.services.ports import free_port

BUDGET_MB = 3 * 1024
IDLE_S = 60
SAMPLES = 5
PORTS = ("airflow", "mlflow", "flight", "superset", "docs", "evidently")


def _sample(settings) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Median over SAMPLES of PSS per service (and supervisord), plus the RSS sum."""
    from lakeops import services
    from lakeops.services.processes import tree_mb

    rounds: list[dict[str, float]] = []
    for _ in range(SAMPLES):
        statuses = services.status(settings)
        sample = services.memory(settings, statuses)
        sample["(sum of RSS)"] = sum(tree_mb(s.pid, "rss") for s in statuses)
        rounds.append(sample)
        time.sleep(3)
    names = sorted({n for r in rounds for n in r})
    return {n: statistics.median(r.get(n, 0.0) for r in rounds) for n in names}


def _lakeops(home: Path, *args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "lakeops"), *args], check=True,
                   env={**os.environ, "LAKEOPS_HOME": str(home)}, stdout=subprocess.DEVNULL)


def main(work: Path, *, results_dir: Path) -> dict:
    from lakeops import services
    from lakeops.core.settings import Settings

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {f"LAKEOPS_{name.upper()}_PORT": str(free_port()) for name in PORTS}
    os.environ.update(env)  # the Settings here and the `lakeops` commands agree on them
    settings = Settings(home=work)
    states: dict[str, dict[str, float]] = {}
    try:
        _lakeops(work, "up")
        time.sleep(IDLE_S)
        states["after lakeops up"] = _sample(settings)
        _lakeops(work, "demo")
        time.sleep(IDLE_S)
        states["after the demo"] = _sample(settings)
    finally:
        services.down(settings)
    return report(states, results_dir)


def report(states: dict[str, dict[str, float]], results_dir: Path) -> dict:
    names = sorted({n for s in states.values() for n in s if n != "(sum of RSS)"})
    print("\n== Stack idle memory (PSS, MB)")
    print(f"{'service':<24}" + "".join(f"{k:>20}" for k in states))
    for name in names:
        print(f"{name:<24}" + "".join(f"{s.get(name, 0):>20.0f}" for s in states.values()))
    totals = {k: sum(v for n, v in s.items() if n != "(sum of RSS)")
              for k, s in states.items()}
    print(f"{'whole stack (PSS)':<24}" + "".join(f"{t:>20.0f}" for t in totals.values()))
    print(f"{'(sum of RSS)':<24}"
          + "".join(f"{s.get('(sum of RSS)', 0):>20.0f}" for s in states.values()))
    base = totals.get("after lakeops up")
    for k, t in totals.items():
        print(f"  {k}: {t:,.0f} MB = {t / BUDGET_MB:.2f}x the 3 GB budget"
              + (f", {t / base:.2f}x the stack after `lakeops up`" if base else ""))
    data = {"title": "Stack idle memory", "budget_mb": BUDGET_MB, "states": states,
            "totals_mb": totals}
    save(results_dir, "stack", data)
    return data
