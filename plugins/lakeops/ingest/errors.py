"""Why ingest refuses a delivery as a whole, and how such a refusal fails an Airflow task.

Each error leaves the delivery where it is, as delivered, and writes nothing to the lake.
Rows the pipeline can single out are never an error: they go to the quarantine with the
rule they broke (:mod:`lakeops.ingest.rules`).
"""

from __future__ import annotations


class IngestError(Exception):
    """A delivery the pipeline cannot take as a whole (the files are kept as delivered)."""


class DeliveryMissing(IngestError):
    """Nothing was delivered for the interval (at ingest), or not within
    ``LAKEOPS_DELIVERY_TIMEOUT_S`` of the run's start (the sensor)."""


class SchemaMismatch(IngestError):
    """A file lacks a column the contract requires, or cannot be read at all."""


class UndecodableDelivery(SchemaMismatch):
    """A CSV file holds bytes its contract's encoding cannot decode: the file is refused
    whole (a line of it is not the text the delivery claims to be), nothing is written."""


class DeliveryPurged(IngestError):
    """The interval's delivery was purged by the retention rule; only its manifest is left.
    Waiting or retrying cannot help: the file has to be delivered again."""


_FAILING_AT_ONCE: dict[type[IngestError], type[IngestError]] = {}


def fail_fast(exc: IngestError) -> IngestError:
    """``exc`` as an instance of its class that is also Airflow's ``AirflowFailException``
    when Airflow is installed, so a task or sensor raising it fails at once, without retry
    or further waiting (Airflow is imported here, when raised, so this module stays
    importable without it)."""
    cls = type(exc)
    if cls not in _FAILING_AT_ONCE:
        try:
            from airflow.sdk.exceptions import AirflowFailException
        except ImportError:  # the CLI or a test without Airflow
            return exc
        _FAILING_AT_ONCE[cls] = type(cls.__name__, (cls, AirflowFailException),
                                     {"__module__": cls.__module__})
    return _FAILING_AT_ONCE[cls](*exc.args)
