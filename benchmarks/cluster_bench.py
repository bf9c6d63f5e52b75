"""The ingest -> features -> marts chain at full scale, on the cluster profile against the
embedded default, in the same run (issue 14).

Each profile gets a fresh state folder and free loopback ports, starts its services
(everything but Superset and Evidently, which the chain does not use) and is given the
same data in its landing inbox before the clock starts:

* education: the OULAD release's seven files (``lakeops generate --format
  oulad-release``, the release's size at scale 1) as the source's historical load, as
  ``lakeops load oulad`` delivers it;
* business: the generator's historical load of :data:`HISTORY_DAYS` days at the same scale.

Then, through the scheduler, as a user would: both ingest DAGs' runs of the interval are
submitted together, the feature DAGs and ``dbt_build`` follow from the published assets
(the model and dashboard DAGs stay paused). Reported per profile, from Airflow's own run
and task records:

* per DAG, its wall time (the run's start to its end) and its tasks' summed time; their
  ratio is the parallelism the executor achieved on that DAG;
* per stage (ingest, features, marts) the wall time from the chain's start, and the whole;
* the machine's busy CPU time over the chain (``/proc/stat``, all processes): near 100% of
  the cores, the chain is CPU-bound and a slower profile did more work, not more waiting;
* on the cluster, the tasks per Celery worker and the Spark applications the master ran;
* the peak PSS of every service during the chain (sampled every few seconds) - the figures
  the compose file's memory limits are sized from.

The baseline is the embedded profile's wall time of the same chain; each cluster figure is
a ratio against it. Both profiles have four task slots (LocalExecutor parallelism 4;
two Celery workers with two each) and Spark two cores (``local[*]`` on this 2-core
machine; two standalone workers of one core each).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from benchmarks import lakes
from benchmarks.harness import save
from lakeops.services.ports import free_port

INTERVAL = date(2025, 1, 1)  # a past day: Airflow backfills no future interval
HISTORY_DAYS = 42
PROFILES = ("local", "cluster")  # the embedded default is the local profile
UNUSED = ("superset", "evidently")  # the chain does not reach them (its DAGs stay paused)
TIMEOUT_S = 3 * 3600


def _settings(work: Path, profile: str):  # type: ignore[no-untyped-def]
    from lakeops.core.settings import Profile, Settings

    ports = {f"{name}_port": free_port() for name in
             ("airflow", "mlflow", "docs", "flight", "evidently", "superset", "postgres",
              "redis", "spark_master")}
    return Settings(profile=Profile(profile), home=work / profile, spark_ui_port=free_port(3),
                    **ports)


class PeakMemory(threading.Thread):
    """Samples every service's PSS until stopped; keeps each one's peak."""

    def __init__(self, settings: Any, every_s: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.settings, self.every_s = settings, every_s
        self.peak: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        from lakeops import services

        while not self.stop.wait(self.every_s):
            try:
                sample = services.memory(self.settings)
            except Exception:  # a service restarting between status and sampling
                continue
            for name, mb in sample.items():
                self.peak[name] = max(self.peak.get(name, 0.0), mb)
            self.peak["(whole stack)"] = max(self.peak.get("(whole stack)", 0.0),
                                             sum(sample.values()))


def _deliver(settings: Any, release: Path, scale: float) -> None:
    from lakeops.onboarding import oulad
    from lakeops.storage.lake import Lake
    from lakeops.synthetic.generate import generate

    landing = Lake.landing(settings)
    oulad.deliver(oulad.check_release(release), landing, INTERVAL)
    generate(landing, "business", INTERVAL, 1, scale=scale, seed=42, bad_records=0.002,
             history_days=HISTORY_DAYS)


def _tasks(settings: Any, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every task instance of ``runs``: DAG, task, host, seconds."""
    from lakeops.airflow import client

    out = []
    for run in runs:
        for ti in client.task_instances(settings, run["dag_id"], run["dag_run_id"]):
            if ti["start_date"] and ti["end_date"]:
                took = (datetime.fromisoformat(ti["end_date"])
                        - datetime.fromisoformat(ti["start_date"]))
                out.append({"dag_id": run["dag_id"], "task_id": ti["task_id"],
                            "map_index": ti["map_index"], "hostname": ti["hostname"],
                            "state": ti["state"], "seconds": took.total_seconds()})
    return out


def _spark_apps(settings: Any) -> list[dict[str, Any]]:
    import httpx

    from lakeops.services import cluster

    try:
        state = cluster.spark_master_state(settings)
    except httpx.HTTPError:
        return []
    return [{"name": a.get("name"), "cores": a.get("cores"),
             "seconds": a.get("duration", 0) / 1000} for a in state.get("completedapps", [])]


def _busy_s(before: Any, after: Any) -> float:
    """CPU seconds the whole machine spent busy (not idle or waiting on I/O) in between."""
    idle = ("idle", "iowait")
    return sum(getattr(after, f) - getattr(before, f) for f in after._fields if f not in idle)


def run_profile(work: Path, profile: str, release: Path, scale: float) -> dict[str, Any]:
    from lakeops import services
    from lakeops.airflow import client
    from lakeops.catalog import dags
    from lakeops.catalog.contracts import SOURCES
    from lakeops.demo.run import wait_for_transforms
    from lakeops.demo.stopwatch import Stopwatch
    from lakeops.services import cluster

    settings = _settings(work, profile)
    shutil.rmtree(settings.home, ignore_errors=True)
    chosen = [n for n in services.service_names(settings) if n not in UNUSED]
    print(f"[{profile}] starting {', '.join(chosen)}", flush=True)
    memory = PeakMemory(settings)
    try:
        services.up(settings, services=chosen, timeout=600)
        _deliver(settings, release, scale)
        client.wait_and_unpause(settings, [*dags.FEATURES, dags.DBT_BUILD])
        for source in SOURCES:
            client.wait_for_dag(settings, dags.ingest_dag(source))
        memory.start()
        cpu_before = psutil.cpu_times()
        watch = Stopwatch()
        since = datetime.now(UTC) - timedelta(seconds=1)
        for source in SOURCES:
            client.backfill(settings, dags.ingest_dag(source), INTERVAL, 1)
        deadline = time.monotonic() + TIMEOUT_S
        ingest_runs = [r for source in SOURCES
                       for r in client.wait_for_runs(settings, dags.ingest_dag(source),
                                                     INTERVAL, 1, deadline - time.monotonic())]
        runs = ingest_runs + wait_for_transforms(
            settings, INTERVAL, 1, since, deadline - time.monotonic(),
            echo=lambda line: print(f"[{profile}] {line}", flush=True))
        wall = time.monotonic() - (deadline - TIMEOUT_S)
        busy = _busy_s(cpu_before, psutil.cpu_times())
        memory.stop.set()
        failed = [f"{r['dag_id']}/{r['dag_run_id']}" for r in runs if r["state"] != "success"]
        return {"profile": profile, "wall_s": wall, "failed": failed, "cpu_busy_s": busy,
                "cores": psutil.cpu_count(),
                "dags": watch.dag_spans(runs), "tasks": _tasks(settings, runs),
                "spark_apps": _spark_apps(settings) if profile == "cluster" else [],
                "celery_tasks": cluster.tasks_received(settings) if profile == "cluster"
                else {},
                "peak_pss_mb": memory.peak}
    finally:
        memory.stop.set()
        services.down(settings)
        if profile == "cluster":
            shutil.rmtree(cluster.postgres_dir(settings), ignore_errors=True)


def _stage_walls(result: dict[str, Any]) -> dict[str, float]:
    """Seconds from the chain's start to the end of each stage's last run, and each stage's
    own span (its first run's start to its last run's end)."""
    from lakeops.catalog import dags

    stages = {"ingest": dags.INGEST, "features": dags.FEATURES, "marts": (dags.DBT_BUILD,)}
    out = {}
    for stage, dag_ids in stages.items():
        spans = [d for d in result["dags"] if d["dag_id"] in dag_ids]
        if spans:
            out[f"{stage} span"] = max(d["last_end_s"] for d in spans) \
                - min(d["first_start_s"] for d in spans)
    return out


def report(results: list[dict[str, Any]], scale: float, results_dir: Path) -> dict[str, Any]:
    base = next(i for i, r in enumerate(results) if r["profile"] == "local")
    print(f"\n== Cluster vs embedded: ingest -> features -> marts at scale {scale:g}")
    print(f"{'':<34}" + "".join(f"{r['profile']:>14}" for r in results) + f"{'x embedded':>12}")
    rows: dict[str, list[float]] = {
        "whole chain (s)": [r["wall_s"] for r in results],
        # how much of the machine the chain kept busy: near 1, it is CPU-bound, and a
        # slower profile did more work, not more waiting
        "CPU busy / (cores x wall)": [r["cpu_busy_s"] / (r["cores"] * r["wall_s"])
                                      for r in results],
        "CPU busy (core-s)": [r["cpu_busy_s"] for r in results],
    }
    walls = [_stage_walls(r) for r in results]
    for key in walls[0]:
        rows[f"{key} (s)"] = [w.get(key, float("nan")) for w in walls]
    dag_ids = sorted({d["dag_id"] for r in results for d in r["dags"]})
    for dag_id in dag_ids:
        per = [{d["dag_id"]: d for d in r["dags"]}.get(dag_id) for r in results]
        rows[f"{dag_id} runs (s)"] = [d["busy_s"] if d else float("nan") for d in per]
        busy = [sum(t["seconds"] for t in r["tasks"] if t["dag_id"] == dag_id)
                for r in results]
        rows[f"{dag_id} task-s / wall"] = [b / d["busy_s"] if d and d["busy_s"] else
                                           float("nan") for b, d in zip(busy, per, strict=True)]
    for label, values in rows.items():
        ratio = values[-1] / values[base] if values[base] else float("nan")
        print(f"{label:<34}" + "".join(f"{v:>14.{2 if v < 10 else 1}f}" for v in values)
              + f"{ratio:>12.2f}")
    for r in results:
        print(f"  {r['profile']}: {len(r['tasks'])} tasks"
              + (f", received per Celery worker {r['celery_tasks']}" if r["celery_tasks"] else "")
              + f"; failed runs: {r['failed'] or 'none'}")
        if r["spark_apps"]:
            print(f"  {r['profile']}: Spark apps on the master: "
                  + ", ".join(f"{a['name']} {a['seconds']:.0f}s/{a['cores']} cores"
                              for a in r["spark_apps"]))
    print("\npeak PSS during the chain (MB)")
    names = sorted({n for r in results for n in r["peak_pss_mb"]})
    for name in names:
        print(f"  {name:<32}" + "".join(f"{r['peak_pss_mb'].get(name, 0):>14.0f}"
                                        for r in results))
    data = {"title": "Cluster vs embedded chain", "scale": scale, "baseline": "local",
            "results": results}
    save(results_dir, "cluster", data)
    return data


def main(work: Path, scale: float = 1.0, profiles: tuple[str, ...] = PROFILES, *,
         results_dir: Path) -> dict:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    work.mkdir(parents=True, exist_ok=True)
    release = lakes.release_dir(work, scale)
    results = [run_profile(work, p, release, scale) for p in profiles]
    return report(results, scale, results_dir)
