"""Wall time per stage of a run through Airflow, and per DAG from Airflow's own run records.

The demo prints and saves it (``lakeops demo``); the cluster benchmark takes the per-DAG
spans of the runs it waited for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Stopwatch:
    """Wall time per stage of the demo, and per DAG from Airflow's own run records."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self.stages: list[tuple[str, float]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.stages.append((name, time.monotonic() - began))

    def dag_spans(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per DAG: runs, seconds from the demo's start to its first run's start and to
        its last run's end, and the runs' summed duration."""
        by_dag: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            if run.get("start_date") and run.get("end_date"):
                by_dag.setdefault(run["dag_id"], []).append(run)
        spans = []
        for dag_id, dag_runs in sorted(by_dag.items()):
            starts = [datetime.fromisoformat(r["start_date"]) for r in dag_runs]
            ends = [datetime.fromisoformat(r["end_date"]) for r in dag_runs]
            spans.append({
                "dag_id": dag_id, "runs": len(dag_runs),
                "first_start_s": (min(starts) - self.started).total_seconds(),
                "last_end_s": (max(ends) - self.started).total_seconds(),
                "busy_s": sum((e - s).total_seconds() for s, e in zip(starts, ends, strict=True)),
            })
        return spans

    def table(self, runs: list[dict[str, Any]]) -> str:
        total = sum(s for _, s in self.stages)
        lines = [f"{'stage':<40}{'seconds':>9}"]
        lines += [f"{name:<40}{seconds:>9.1f}" for name, seconds in self.stages]
        lines.append(f"{'total (after setup)':<40}{total:>9.1f}")
        lines.append(f"\n{'DAG (runs since the demo started)':<34}{'runs':>5}{'start s':>9}"
                     f"{'end s':>8}{'busy s':>8}")
        lines += [f"{d['dag_id']:<34}{d['runs']:>5}{d['first_start_s']:>9.0f}"
                  f"{d['last_end_s']:>8.0f}{d['busy_s']:>8.0f}" for d in self.dag_spans(runs)]
        return "\n".join(lines)

    def save(self, runs: list[dict[str, Any]], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "started": self.started.isoformat(), "stages": dict(self.stages),
            "total_s": sum(s for _, s in self.stages), "dags": self.dag_spans(runs),
        }, indent=2) + "\n")
