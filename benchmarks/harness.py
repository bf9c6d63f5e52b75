"""Run contenders in fresh processes; time them and keep their peak memory; report and save
the figures (in the results folder ``python -m benchmarks`` names)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class Measurement:
    name: str
    seconds: float
    rows: int
    peak_rss_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


def measure(name: str, module: str, *args: str, env: dict[str, str] | None = None,
            repeat: int = 1) -> Measurement:
    """Run ``python -m <module> <args>`` in a fresh process. The child prints one JSON line
    ``{"rows": N, "seconds": S}`` timing only its work (not interpreter start-up); peak RSS
    is the child's own maximum resident set size from ``wait4``. With ``repeat`` > 1 the
    best time (and the largest peak) of that many fresh runs counts."""
    if repeat > 1:
        runs = [measure(name, module, *args, env=env) for _ in range(repeat)]
        best = min(runs, key=lambda m: m.seconds)
        return Measurement(name, best.seconds, best.rows, max(m.peak_rss_mb for m in runs))
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})}, text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: {module} exited {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    return Measurement(name, float(result["seconds"]), int(result["rows"]), usage.ru_maxrss / 1024)


def timed(fn, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """Child side: run ``fn`` and print the JSON line :func:`measure` reads."""
    start = time.perf_counter()
    rows = fn(*args, **kwargs)
    print(json.dumps({"rows": int(rows), "seconds": time.perf_counter() - start}))


def report(title: str, results: list[Measurement], floor: str, targets: dict[str, str],
           results_dir: Path) -> dict:
    """Print a table of results as ratios against ``floor``; save it in ``results_dir``
    (as ``<first word of the title>.json``)."""
    base = next(r for r in results if r.name == floor)
    print(f"\n== {title}")
    print(f"{'contender':<28}{'seconds':>9}{'rows/s':>14}{'peak MB':>9}{'x floor time':>14}")
    for r in results:
        print(f"{r.name:<28}{r.seconds:>9.2f}{r.rows_per_s:>14,.0f}{r.peak_rss_mb:>9.0f}"
              f"{r.seconds / base.seconds:>14.2f}")
    for label, text in targets.items():
        print(f"  {label}: {text}")
    data = {"title": title, "floor": floor, "results": [asdict(r) for r in results],
            "targets": targets}
    save(results_dir, title.split()[0].lower(), data)
    return data


def save(results_dir: Path, name: str, data: dict[str, Any]) -> None:
    """A benchmark's results as ``<results_dir>/<name>.json``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{name}.json").write_text(json.dumps(data, indent=2, default=str))
