"""Result columns in the Arrow types Dremio clients read.

Dremio sends 32/64-bit integers, floats, decimals, dates and timestamps; DuckDB can
produce more (tiny/unsigned ints, enums, large or view strings...), which Dremio clients
do not expect. :func:`client_schema` is the schema the endpoint streams a result in; the
engine casts each batch to it.
"""

from __future__ import annotations

import pyarrow as pa


def client_type(t: pa.DataType) -> pa.DataType:
    """The type Dremio would send for a DuckDB column of type ``t``. Timestamps go out in
    nanoseconds: ``sqlalchemy-dremio`` maps result columns by their pandas dtype and
    knows only ns."""
    if pa.types.is_timestamp(t):
        return pa.timestamp("ns", t.tz)
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t) \
            or pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t) or pa.types.is_uint64(t):
        return pa.int64()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_dictionary(t):
        return client_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    return t


def client_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(client_type(f.type)) for f in schema])
