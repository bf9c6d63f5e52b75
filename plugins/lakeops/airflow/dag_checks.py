"""Checks every DAG file the way the dag-processor meets it: in a fresh interpreter.

A DAG file is parsed every ``min_file_process_interval`` by Airflow's dag-processor, so it
must wire tasks only: heavy libraries belong inside the task functions. Reading a file's
``import`` lines misses what arrives through ``lakeops.*``; importing the file in a new
interpreter and looking at ``sys.modules`` does not. :func:`check_file` does that and times
the parse (Airflow itself is imported first, as it is in the dag-processor), and
:func:`check_folder` runs it over ``dags/``; ``lakeops dags check`` prints the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# what parsing a DAG file must not load (each costs 0.1-5 s and tens of MB per parse)
HEAVY = ("duckdb", "pyarrow", "great_expectations", "pyspark", "mlflow", "evidently", "dbt",
         "sklearn", "pandas")

_PROBE = """
import json, runpy, sys, time
import airflow.sdk  # loaded in the dag-processor before any DAG file
before = set(sys.modules)
start = time.perf_counter()
namespace = runpy.run_path(sys.argv[1])
seconds = time.perf_counter() - start
from airflow.sdk import DAG
dag_ids = sorted({v.dag_id for v in namespace.values() if isinstance(v, DAG)})
heavy = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(sys.argv[2:]))
print(json.dumps({"seconds": seconds, "dag_ids": dag_ids, "heavy": heavy}))
"""


@dataclass(frozen=True)
class DagFileReport:
    path: Path
    seconds: float
    dag_ids: list[str]
    heavy: list[str]
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.heavy and not self.error


def check_file(path: Path, env: dict[str, str] | None = None,
               heavy: tuple[str, ...] = HEAVY) -> DagFileReport:
    """Parse ``path`` in a new interpreter; report its parse time, DAGs and heavy imports."""
    result = subprocess.run(  # noqa: S603 - our interpreter, our probe
        [sys.executable, "-c", _PROBE, str(path), *heavy],
        env=env or dict(os.environ), capture_output=True, text=True, timeout=300, check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        return DagFileReport(path, 0.0, [], [], f"exit {result.returncode}: {tail}")
    data = json.loads(lines[-1])
    return DagFileReport(path, float(data["seconds"]), list(data["dag_ids"]),
                         list(data["heavy"]))


def check_folder(folder: Path, env: dict[str, str] | None = None) -> list[DagFileReport]:
    """:func:`check_file` for every ``*.py`` DAG file of ``folder``."""
    return [check_file(path, env) for path in sorted(folder.glob("*.py"))]


def table(reports: list[DagFileReport]) -> str:
    lines = [f"{'DAG file':<24}{'parse s':>8}  {'DAGs':<40} problem"]
    for r in reports:
        problem = r.error or (f"imports {', '.join(r.heavy)} at parse time" if r.heavy else "")
        lines.append(f"{r.path.name:<24}{r.seconds:>8.2f}  {', '.join(r.dag_ids):<40} "
                     f"{problem}".rstrip())
    return "\n".join(lines)
