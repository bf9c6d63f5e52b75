"""The platform's one client of Airflow's REST API, as the admin user, over the official
``apache-airflow-client`` package.

* the session: :func:`airflow_client` returns an ``ApiClient`` for the embedded Airflow,
  logged in with a JWT from ``POST /auth/token`` and the generated admin password
  (:func:`airflow_token`), fetched again when Airflow rejects it (expired, or signed with
  a since-changed secret); :func:`retry_busy` repeats a call while Airflow's SQLite
  metadata DB is busy (tenacity);
* the DAGs: :func:`wait_for_dag` (parsed and known to the API), :func:`unpause`,
  :func:`set_paused`, :func:`wait_and_unpause`;
* their runs, as JSON dicts: :func:`backfill`, :func:`trigger`, :func:`dag_runs`,
  :func:`runs_since`, :func:`list_runs`, :func:`task_instances`, and the waits
  :func:`wait_for_runs`, :func:`wait_for_run`, :func:`wait_for_newest_run`;
* asset events: :func:`queued_events`, :func:`trigger_instead_of_queued`,
  :func:`asset_events`.

Every wait on Airflow polls through :func:`poll`. The demo, ``lakeops load oulad``, the
CLI, the benchmarks and the tests drive Airflow through this module. The client package is
imported when a call needs it (a slow import): importing this module is cheap.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import tenacity

from lakeops.core.settings import Settings
from lakeops.services.airflow import airflow_admin_password
from lakeops.services.errors import ServiceError
from lakeops.services.health import connect_host

if TYPE_CHECKING:
    from airflow_client.client import ApiClient

T = TypeVar("T")

_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKEN_TTL_S = 3600.0


def _base_url(settings: Settings) -> str:
    return f"http://{connect_host(settings)}:{settings.airflow_port}"


def airflow_token(settings: Settings) -> str:
    """A fresh JWT for the admin user: ``POST /auth/token`` with the generated password."""
    response = httpx.post(
        f"{_base_url(settings)}/auth/token",
        json={
            "username": settings.airflow_admin_user,
            "password": airflow_admin_password(settings),
        },
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise ServiceError(
            f"Airflow login as {settings.airflow_admin_user!r} failed: "
            f"HTTP {response.status_code} {response.text[:200]}"
        )
    token = str(response.json()["access_token"])
    _TOKENS[(_base_url(settings), settings.airflow_admin_user)] = (token, time.monotonic())
    return token


def _cached_token(settings: Settings) -> str:
    cached = _TOKENS.get((_base_url(settings), settings.airflow_admin_user))
    if cached and time.monotonic() - cached[1] < _TOKEN_TTL_S:
        return cached[0]
    return airflow_token(settings)


@functools.cache
def _client_class() -> type[ApiClient]:
    from airflow_client.client import ApiClient

    class RefreshingApiClient(ApiClient):
        """Logs in again once when Airflow rejects the token (401; a malformed or expired
        JWT gets 403 "Invalid JWT token")."""

        lakeops_settings: Settings

        def call_api(self, method: str, url: str, header_params: Any = None,
                     body: Any = None, post_params: Any = None,
                     _request_timeout: Any = None) -> Any:
            response = super().call_api(method, url, header_params, body, post_params,
                                        _request_timeout)
            if not _rejected_token(response):
                return response
            token = airflow_token(self.lakeops_settings)
            self.configuration.access_token = token
            headers = {**(header_params or {}), "Authorization": f"Bearer {token}"}
            return super().call_api(method, url, headers, body, post_params, _request_timeout)

    return RefreshingApiClient


def _rejected_token(response: Any) -> bool:
    if response.status == 401:
        return True
    return response.status == 403 and b"JWT" in (response.read() or b"")


def airflow_client(settings: Settings) -> ApiClient:
    """An ``ApiClient`` for the embedded Airflow, logged in as the admin user.

    Use it with the client's API classes, e.g. ``DAGApi(airflow_client(s)).get_dag(id)``
    (a ``with`` block is fine; its connection pool goes with the object)."""
    from airflow_client.client import Configuration

    config = Configuration(host=_base_url(settings), access_token=_cached_token(settings))
    client = _client_class()(config)
    client.lakeops_settings = settings  # type: ignore[attr-defined]
    return client


def db_busy(exc: BaseException) -> bool:
    """Airflow's answer while its SQLite metadata DB is locked by another writer: 503
    "Database is locked", or a 500 "Database error" from its audit log."""
    from airflow_client.client.exceptions import ApiException

    if not isinstance(exc, ApiException):
        return False
    return exc.status == 503 or (exc.status == 500 and "Database" in str(exc.body or ""))


def retry_busy(call: Callable[..., T], *args: Any, attempts: int = 30, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, repeated (2 s apart, ``attempts`` times at most) while
    Airflow's metadata DB is busy; any other error is raised at once. Only for calls that
    are safe to repeat."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(db_busy),
        wait=tenacity.wait_fixed(2),
        stop=tenacity.stop_after_attempt(attempts),
        reraise=True,
    )
    return retrying(call, *args, **kwargs)


# -- polling ----------------------------------------------------------------------------

TERMINAL = {"success", "failed"}


def poll(check: Callable[[], T | None], *, timeout: float, interval: float = 3,
         describe: Callable[[], str]) -> T:
    """``check()`` every ``interval`` seconds until it returns something other than None,
    which is returned; :class:`TimeoutError` with ``describe()`` once ``timeout`` seconds
    have passed (``check`` runs at least once)."""
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(describe())
        time.sleep(interval)
    return found


class StatusLine:
    """A wait's progress: ``echo`` a status line when it differs from the last one."""

    def __init__(self, echo: Callable[[str], Any]) -> None:
        self.echo = echo
        self.last = ""

    def __call__(self, line: str) -> None:
        if line != self.last:
            self.echo(line)
            self.last = line


def _dicts(models: Iterable[Any]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json", by_alias=True) for m in models]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


# -- DAGs -------------------------------------------------------------------------------


def wait_for_dag(settings: Settings, dag_id: str, timeout: float = 180) -> None:
    """Until the dag-processor has parsed the DAG and the API knows it."""
    from airflow_client.client import DAGApi

    def known() -> bool | None:
        try:
            with airflow_client(settings) as client:
                DAGApi(client).get_dag(dag_id)
        except Exception:  # noqa: BLE001 - any error: not parsed yet
            return None
        return True

    poll(known, timeout=timeout, interval=2,
         describe=lambda: f"Airflow did not load DAG {dag_id} within {timeout:.0f}s; "
                          f"see {settings.log_dir}/airflow-dag-processor.log")


def set_paused(settings: Settings, dag_id: str, paused: bool) -> None:
    from airflow_client.client import DAGApi, DAGPatchBody

    with airflow_client(settings) as client:
        retry_busy(DAGApi(client).patch_dag, dag_id, DAGPatchBody(is_paused=paused))


def unpause(settings: Settings, dag_id: str) -> None:
    set_paused(settings, dag_id, False)


def wait_and_unpause(settings: Settings, dag_ids: Iterable[str]) -> None:
    """:func:`wait_for_dag`, then :func:`unpause`, for each of ``dag_ids`` in turn."""
    for dag_id in dag_ids:
        wait_for_dag(settings, dag_id)
        unpause(settings, dag_id)


# -- runs -------------------------------------------------------------------------------


def _running_backfill(exc: BaseException) -> bool:
    from airflow_client.client.exceptions import ApiException

    return (isinstance(exc, ApiException) and exc.status == 409
            and "already a running backfill" in str(exc.body))


def backfill(settings: Settings, dag_id: str, start: date, days: int) -> dict[str, Any]:
    """Ask the scheduler to run ``dag_id`` for each daily interval, re-running completed
    ones, so a re-run of the demo replaces rather than duplicates.

    The backfill is created while the DAG is still paused, then the DAG is unpaused: its
    runs exist by then, so the scheduler does not add a scheduled run of the latest
    interval beside the backfill's own (``catchup=False`` would; the two then processed
    one interval twice at once, and on SQLite once crashed the scheduler with a
    ``StaleDataError`` on ``dag_run``)."""
    from airflow_client.client import BackfillApi, BackfillPostBody, ReprocessBehavior

    body = BackfillPostBody(
        dag_id=dag_id, from_date=_midnight(start),
        to_date=_midnight(start + timedelta(days=days - 1)),
        reprocess_behavior=ReprocessBehavior.COMPLETED, max_active_runs=1,
    )
    with airflow_client(settings) as client:
        api = BackfillApi(client)

        def create() -> Any:
            try:
                return api.create_backfill(body)
            except Exception as exc:
                if _running_backfill(exc):
                    _cancel_backfills(api, dag_id)  # an earlier, interrupted demo's
                raise

        # a busy metadata DB (see db_busy) or the cancelled backfill: safe to repeat
        result = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: db_busy(e) or _running_backfill(e)),
            wait=tenacity.wait_fixed(2), stop=tenacity.stop_after_attempt(30), reraise=True,
        )(create)
    unpause(settings, dag_id)
    return dict(result.model_dump(mode="json", by_alias=True))


def _cancel_backfills(api: Any, dag_id: str) -> None:
    for b in api.list_backfills(dag_id, limit=100).backfills:
        if not b.completed_at:
            api.cancel_backfill(b.id)


def trigger(settings: Settings, dag_id: str, **body: Any) -> dict[str, Any]:
    """A manual run of ``dag_id``; ``body`` as ``TriggerDAGRunPostBody`` takes it (``conf``,
    ``note``, ``dag_run_id``, ``logical_date``, the data interval; no logical date unless
    given)."""
    from airflow_client.client import DagRunApi, TriggerDAGRunPostBody

    with airflow_client(settings) as client:
        run = retry_busy(DagRunApi(client).trigger_dag_run, dag_id,
                         TriggerDAGRunPostBody(**{"logical_date": None, **body}))
    return dict(run.model_dump(mode="json", by_alias=True))


def list_runs(settings: Settings, dag_id: str, **filters: Any) -> list[dict[str, Any]]:
    """The runs of ``dag_id`` (the newest 100), filtered as ``DagRunApi.get_dag_runs``
    takes it (``run_after_gte=``, ``logical_date_lte=``, ...)."""
    from airflow_client.client import DagRunApi

    with airflow_client(settings) as client:
        runs = retry_busy(DagRunApi(client).get_dag_runs, dag_id, limit=100, **filters)
    return _dicts(runs.dag_runs)


def dag_runs(settings: Settings, dag_id: str, start: date, days: int) -> list[dict[str, Any]]:
    """The runs of the daily intervals from ``start``, ``days`` of them."""
    return list_runs(settings, dag_id, logical_date_gte=_midnight(start),
                     logical_date_lte=_midnight(start + timedelta(days=days - 1)))


def runs_since(settings: Settings, dag_id: str, since: datetime) -> list[dict[str, Any]]:
    """The runs created at or after ``since`` (their ``run_after``)."""
    return list_runs(settings, dag_id, run_after_gte=since)


def get_run(settings: Settings, dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow_client.client import DagRunApi

    with airflow_client(settings) as client:
        run = retry_busy(DagRunApi(client).get_dag_run, dag_id, run_id)
    return dict(run.model_dump(mode="json", by_alias=True))


def task_instances(settings: Settings, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    from airflow_client.client import TaskInstanceApi

    with airflow_client(settings) as client:
        tis = retry_busy(TaskInstanceApi(client).get_task_instances, dag_id, run_id,
                         limit=1000)
    return _dicts(tis.task_instances)


def task_states(settings: Settings, dag_id: str, run_id: str) -> dict[str, str | None]:
    """Each task of the run and its state."""
    return {t["task_id"]: t["state"] for t in task_instances(settings, dag_id, run_id)}


def _state_counts(dag_id: str, runs: list[dict[str, Any]]) -> str:
    states = sorted(r["state"] for r in runs)
    return f"{dag_id}: " + ", ".join(f"{s}={states.count(s)}" for s in sorted(set(states)))


def wait_for_runs(settings: Settings, dag_id: str, start: date, days: int, timeout: float,
                  echo: Callable[[str], Any] = print) -> list[dict[str, Any]]:
    """Until the runs of the ``days`` daily intervals from ``start`` have all finished
    (:data:`TERMINAL`); echoes their states as they change."""
    status = StatusLine(echo)

    def finished() -> list[dict[str, Any]] | None:
        runs = dag_runs(settings, dag_id, start, days)
        status(_state_counts(dag_id, runs))
        done = len(runs) >= days and all(r["state"] in TERMINAL for r in runs)
        return runs if done else None

    return poll(finished, timeout=timeout, describe=lambda: (
        f"{dag_id}: runs not finished after {timeout:.0f}s: {status.last}"))


def wait_for_run(settings: Settings, dag_id: str, run_id: str, timeout: float,
                 interval: float = 2) -> dict[str, Any]:
    """Until the run has finished (:data:`TERMINAL`); the run."""

    def finished() -> dict[str, Any] | None:
        run = get_run(settings, dag_id, run_id)
        return run if run["state"] in TERMINAL else None

    return poll(finished, timeout=timeout, interval=interval, describe=lambda: (
        f"{dag_id}/{run_id} still {get_run(settings, dag_id, run_id)['state']} after "
        f"{timeout:.0f}s; tasks {task_states(settings, dag_id, run_id)}"))


def newest_run(settings: Settings, dag_id: str, since: datetime) -> dict[str, Any] | None:
    """The newest run created since ``since``, or None."""
    return max(runs_since(settings, dag_id, since),
               key=lambda r: str(r.get("run_after") or ""), default=None)


def wait_for_newest_run(settings: Settings, dag_id: str, since: datetime,
                        timeout: float) -> dict[str, Any]:
    """Until there is a run created since ``since`` and the newest has finished."""

    def finished() -> dict[str, Any] | None:
        run = newest_run(settings, dag_id, since)
        return run if run and run["state"] in TERMINAL else None

    return poll(finished, timeout=timeout,
                describe=lambda: f"{dag_id} did not finish within {timeout:.0f}s")


# -- asset events -----------------------------------------------------------------------


def queued_events(settings: Settings, dag_id: str) -> int:
    """Asset events queued for ``dag_id`` that no run has consumed yet (the scheduler
    creates the run they call for on one of its next loops)."""
    from airflow_client.client import AssetApi
    from airflow_client.client.exceptions import NotFoundException

    with airflow_client(settings) as client:
        try:
            return len(AssetApi(client).get_dag_asset_queued_events(dag_id).queued_events)
        except NotFoundException:
            return 0


def trigger_instead_of_queued(settings: Settings, dag_id: str, note: str) -> bool:
    """Drop ``dag_id``'s queued asset events and trigger one run instead (for a DAG
    scheduled on several assets, when only some of them will be published again); False
    when the scheduler took the events meanwhile (it then starts a run itself)."""
    from airflow_client.client import AssetApi
    from airflow_client.client.exceptions import NotFoundException

    with airflow_client(settings) as client:
        try:
            AssetApi(client).delete_dag_asset_queued_events(dag_id)
        except NotFoundException:
            return False
    trigger(settings, dag_id, note=note)
    return True


def asset_events(settings: Settings, uri: str) -> list[dict[str, Any]]:
    """Every event of the asset ``uri``."""
    from airflow_client.client import AssetApi

    with airflow_client(settings) as client:
        api = AssetApi(client)
        [asset] = [a for a in retry_busy(api.get_assets, uri_pattern=uri).assets
                   if a.uri == uri]
        events = retry_busy(api.get_asset_events, asset_id=asset.id).asset_events
    return _dicts(events)
