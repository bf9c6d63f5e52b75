"""Source contracts: what each delivered table must look like.

A contract is a YAML file under ``expectations/contracts/<source>/<table>.yml``. It names
the columns (type, nullability, PII tag and what to do with it, allowed values and ranges),
the keys, the foreign keys, the delivery format and cadence. Ingestion enforces the schema
and pseudonymizes PII from it; the validation suites are generated from it.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakeops.core.settings import repo_root

if TYPE_CHECKING:  # pyarrow is imported where a schema is built: DAG files load contracts
    import pyarrow as pa

SOURCES = ("education", "business")

# Logical type -> (Arrow type factory and its arguments, DuckDB type). Dremio's names come
# with the SQL endpoint.
TYPES: dict[str, tuple[tuple[str, tuple[Any, ...]], str]] = {
    "string": (("string", ()), "VARCHAR"),
    "int32": (("int32", ()), "INTEGER"),
    "int64": (("int64", ()), "BIGINT"),
    "float64": (("float64", ()), "DOUBLE"),
    "decimal": (("decimal128", (12, 2)), "DECIMAL(12,2)"),
    "bool": (("bool_", ()), "BOOLEAN"),
    "date": (("date32", ()), "DATE"),
    "timestamp": (("timestamp", ("us",)), "TIMESTAMP"),
}


def arrow_type(logical: str) -> pa.DataType:
    """The Arrow type of a contract's logical type name."""
    import pyarrow as pa

    factory, args = TYPES[logical][0]
    return getattr(pa, factory)(*args)


class Format(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class Pii(StrEnum):
    NONE = "none"
    DIRECT = "direct"  # identifies a person on its own: name, email, phone, address
    QUASI = "quasi"  # identifies in combination: date of birth, postcode


class PiiAction(StrEnum):
    KEEP = "keep"
    HASH = "hash"  # keyed hash (HMAC-SHA256): joinable, not reversible without the key
    DROP = "drop"  # never enters the lake
    YEAR = "year"  # a date generalized to its year (int)


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    nullable: bool = True
    description: str = ""
    pii: Pii = Pii.NONE
    pii_action: PiiAction = PiiAction.KEEP
    allowed: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    # values this column's deliveries write for "missing", read as null; replaces the
    # delivery's ``missing_values`` for this column (OULAD's release writes "?" in a few
    # columns only: elsewhere a "?" is bad data and is rejected or quarantined)
    missing_values: list[str] | None = None
    # delivered text -> the contract's value, applied at ingest before any check (OULAD's
    # release writes the imd_band "10-20%" as "10-20"); counts per mapping go to the manifest
    normalize: dict[str, str] = Field(default_factory=dict)
    # a delivery may lack the column: it is read as null, with a warning in the manifest
    # (a column not marked optional that is missing refuses the file)
    optional: bool = False

    @model_validator(mode="after")
    def _check(self) -> Column:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")
        if self.optional and not self.nullable:
            raise ValueError(f"column {self.name}: an optional column must be nullable")
        if self.normalize and self.type != "string":
            raise ValueError(f"column {self.name}: normalize maps text, the column is {self.type}")
        if self.allowed is not None:
            unknown = sorted(set(self.normalize.values()) - set(self.allowed))
            if unknown:
                raise ValueError(f"column {self.name}: normalize maps to values not allowed: "
                                 f"{', '.join(unknown)}")
        if self.pii is not Pii.NONE and self.pii_action is PiiAction.KEEP:
            raise ValueError(f"column {self.name}: PII column needs pii_action hash|drop|year")
        if self.pii_action is PiiAction.YEAR and self.type not in ("date", "timestamp"):
            raise ValueError(f"column {self.name}: pii_action year needs a date")
        return self

    @property
    def arrow_type(self) -> pa.DataType:
        return arrow_type(self.type)

    @property
    def duckdb_type(self) -> str:
        return TYPES[self.type][1]

    @property
    def lake_name(self) -> str:
        """Name in the lake: a hashed column says so (``email`` -> ``email_hash``)."""
        if self.pii_action is PiiAction.HASH:
            return f"{self.name}_hash"
        if self.pii_action is PiiAction.YEAR:
            return f"{self.name}_year"
        return self.name

    @property
    def lake_arrow_type(self) -> pa.DataType:
        if self.pii_action is PiiAction.HASH:
            return arrow_type("string")
        if self.pii_action is PiiAction.YEAR:
            return arrow_type("int32")
        return self.arrow_type


class ForeignKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: list[str]
    references: str  # "<table>" of the same source
    ref_columns: list[str]


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Format
    cadence: str = "daily"
    kind: str = Field("increment", pattern="^(increment|snapshot)$")
    event_date: str | None = None  # column whose date places a row in its interval
    freshness_hours: int | None = 24  # None: no freshness rule (a dimension keeps old rows)
    # values a CSV delivery writes for "missing": read as null (a column can declare its own)
    missing_values: list[str] = Field(default_factory=lambda: [""])
    # the text encoding of CSV deliveries (those DuckDB reads natively); a file that does
    # not decode is refused whole, naming the file, line and encoding
    encoding: str = Field("utf-8", pattern="^(utf-8|utf-16|latin-1)$")


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    table: str
    description: str = ""
    owner: str = "data-platform"
    delivery: Delivery
    columns: list[Column]
    primary_key: list[str] = Field(default_factory=list)
    foreign_keys: list[ForeignKey] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Contract:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.table}: duplicate column names")
        for key in [*self.primary_key, *(c for fk in self.foreign_keys for c in fk.columns)]:
            if key not in names:
                raise ValueError(f"{self.table}: key column {key!r} is not a column")
        for key in self.primary_key:
            if self.column(key).pii_action is not PiiAction.KEEP:
                raise ValueError(f"{self.table}: key column {key!r} cannot be pseudonymized")
        return self

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    @property
    def dataset(self) -> str:
        """Dataset path inside a zone: ``<source>/<table>``."""
        return f"{self.source}/{self.table}"

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def delivery_schema(self) -> pa.Schema:
        """Schema as delivered (before pseudonymization)."""
        import pyarrow as pa

        return pa.schema([pa.field(c.name, c.arrow_type, c.nullable) for c in self.columns])

    def lake_schema(self) -> pa.Schema:
        """Schema of the ``raw/`` table: PII hashed, generalized or dropped."""
        import pyarrow as pa

        return pa.schema(
            [
                pa.field(c.lake_name, c.lake_arrow_type, c.nullable)
                for c in self.columns
                if c.pii_action is not PiiAction.DROP
            ]
        )

    def missing_values(self, column: Column) -> list[str]:
        """What a delivery writes for a missing value of ``column``."""
        if column.missing_values is not None:
            return column.missing_values
        return self.delivery.missing_values

    @property
    def pii_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pii is not Pii.NONE]


def contracts_dir() -> Path:
    return repo_root() / "expectations" / "contracts"


def load_contract_file(path: Path) -> Contract:
    with path.open() as fh:
        return Contract.model_validate(yaml.safe_load(fh))


@cache
def _load_all(directory: str) -> dict[str, dict[str, Contract]]:
    out: dict[str, dict[str, Contract]] = {}
    for path in sorted(Path(directory).glob("*/*.yml")):
        contract = load_contract_file(path)
        if contract.source != path.parent.name or contract.table != path.stem:
            raise ValueError(f"{path}: source/table must match its folder and file name")
        out.setdefault(contract.source, {})[contract.table] = contract
    return out


def load_contracts(source: str, directory: Path | None = None) -> dict[str, Contract]:
    """Contracts of one source, by table name, in file order."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; sources are {', '.join(SOURCES)}")
    found = _load_all(str(directory or contracts_dir())).get(source)
    if not found:
        raise FileNotFoundError(f"no contracts for source {source!r}")
    return found


def get_contract(source: str, table: str, directory: Path | None = None) -> Contract:
    contracts = load_contracts(source, directory)
    if table not in contracts:
        raise KeyError(f"no contract for {source}.{table}; known: {', '.join(contracts)}")
    return contracts[table]


# The tables of each source in dependency order (parents before children). A constant, so
# DAG files can wire one task per table without reading files at parse time; a unit test
# keeps it equal to the contracts on disk.
TABLES: dict[str, tuple[str, ...]] = {
    "education": (
        "courses",
        "assessments",
        "vle",
        "studentInfo",
        "studentRegistration",
        "studentAssessment",
        "studentVle",
    ),
    "business": ("customers", "products", "orders", "order_items", "payments"),
}
