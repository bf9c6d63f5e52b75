"""Pseudonymization: the keyed hash (HMAC-SHA256) the lake stores in place of a PII value.

The same value always hashes to the same pseudonym under one key (the state folder's
``secrets/pii-hmac-key``, or ``LAKEOPS_SECRET_PII_HMAC_KEY`` where a deployment injects it), so
tables still join on a pseudonymized column, while the value itself cannot be read back
without the key. Ingest computes it in DuckDB through the SQL function
:data:`PSEUDONYM_FUNCTION`, registered on its connection by :func:`register_pseudonym`, and
keeps a PII-bearing table's unreadable lines out of the lake (:func:`withhold_pii`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from lakeops.catalog.contracts import Contract
from lakeops.core.lazy import lazy

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
else:  # imported when a task runs, not when a DAG file is parsed
    pa = lazy("pyarrow")

# the SQL function's name in a connection :func:`register_pseudonym` prepared
PSEUDONYM_FUNCTION = "lakeops_pseudonym"


def pseudonymize(value: str, key: bytes) -> str:
    """The keyed hash the lake stores for a PII value (normalized: trimmed, lowercase)."""
    return hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()


def register_pseudonym(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Make :func:`pseudonymize` under ``key`` callable in ``con``'s SQL as
    ``lakeops_pseudonym(VARCHAR)`` (NULL stays NULL)."""
    def pseudonym(values: pa.Array) -> pa.Array:
        out = [None if v is None else pseudonymize(v, key) for v in values.to_pylist()]
        return pa.array(out, pa.string())

    con.create_function(
        PSEUDONYM_FUNCTION, pseudonym, ["VARCHAR"], "VARCHAR",  # type: ignore[call-overload]
        type="arrow", null_handling="special",
    )


def withhold_pii(contract: Contract, rejects: list[dict[str, Any]]) -> None:
    """A line the reader rejected is raw text; for a PII-bearing table it is not copied into
    the lake, only pointed at (the delivery itself is archived as delivered)."""
    if not contract.pii_columns:
        return
    for r in rejects:
        r["_record"] = (
            f"<withheld: {contract.name} carries PII; see line {r['_line']} of the archived "
            f"delivery {r['_source_file']}>"
        )
