"""The embedded lakehouse SQL endpoint for real: started by `lakeops up` on a free port,
queried over Arrow Flight as Dremio's clients do, stopped by process id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest
from tests.support import platform_settings

from lakeops import services
from lakeops.core.settings import Settings, repo_root
from lakeops.query import Client, QueryError, connect, grants
from lakeops.query.grants import flight_password
from lakeops.services.ports import free_port
from lakeops.storage.lake import Lake

pytestmark = [pytest.mark.timeout(300)]
PII_CSV = "landing/_archive/business/customers/2024-10-01/customers_20241001.csv"
SUPERSET_PY = repo_root() / ".venv-superset" / "bin" / "python"


def _orders(ids: list[int], day: str) -> pa.Table:
    return pa.table({
        "order_id": pa.array(ids, pa.int64()),
        "order_ts": pa.array([datetime.fromisoformat(f"{day}T10:00:00")] * len(ids),
                             pa.timestamp("us")),
        "status": pa.array(["placed"] * len(ids)),
        "total_amount": pa.array([10.5 * i for i in ids], pa.float64()),
        "items": pa.array([1] * len(ids), pa.int8()),
    })


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = platform_settings(tmp_path_factory.mktemp("lakeops-sql"), flight_token_ttl_s=3)
    lake = Lake.from_settings(settings)
    for day, ids in (("2024-10-01", [1, 2, 3]), ("2024-10-02", [4, 5])):
        lake.write_partition("curated", "business/orders", day, _orders(ids, day))
    # a snapshot table (a full copy each day): only the newest copy is the table
    for day, names in (("2024-10-01", ["a", "b"]), ("2024-10-02", ["a", "b", "c"])):
        lake.write_partition("curated", "business/products", day,
                             pa.table({"product_id": list(range(len(names))), "name": names}))
    # zones only a data steward reads, and a delivery with PII in clear where an older
    # layout kept it: inside the lake folder
    lake.write_partition("raw", "business/orders", "2024-10-01", _orders([1, 2, 3, 99],
                                                                         "2024-10-01"))
    lake.write_partition("quarantine", "business/orders", "2024-10-01",
                         pa.table({"_rule": ["ingest.column_type"], "_record": ["{}"]}))
    pii = lake.local_path(PII_CSV)
    pii.parent.mkdir(parents=True)
    pii.write_text("customer_id,email\n1,ada@example.org\n")
    try:
        statuses = services.up(settings, services=["sql"], timeout=60)
        assert [(s.name, s.healthy) for s in statuses] == [("sql", True)], statuses
        yield settings
    finally:
        services.down(settings)


def test_queries_see_lake_tables_by_dremio_path(endpoint: Settings) -> None:
    with connect(endpoint) as client:
        rows = client.table("SELECT count(*) AS n, sum(total_amount) AS total "
                            "FROM lakehouse.curated.business.orders").to_pylist()
        assert rows == [{"n": 5, "total": 10.5 * 15}]
        # case-insensitive names, quoted parts, a dotted quoted schema as sqlalchemy-dremio writes
        q = client.table('SELECT max(order_id) AS m FROM "lakehouse"."curated".business."ORDERS"')
        assert q.column("m").to_pylist() == [5]
        products = client.table('SELECT name FROM "lakehouse.curated.business"."products" '
                                "ORDER BY name")
        assert products.column("name").to_pylist() == ["a", "b", "c"]


def test_a_new_partition_is_visible_to_the_next_query(endpoint: Settings) -> None:
    lake = Lake.from_settings(endpoint)
    with connect(endpoint) as client:
        before = client.table("SELECT count(*) AS n FROM lakehouse.curated.business.orders")
        lake.write_partition("curated", "business/orders", "2024-10-03", _orders([6], "2024-10-03"))
        time.sleep(2.5)  # the endpoint re-lists the lake at most every 2 s
        after = client.table("SELECT count(*) AS n, max(dt) AS newest "
                             "FROM lakehouse.curated.business.orders").to_pylist()
    assert before.column("n").to_pylist() == [5]
    assert after[0]["n"] == 6 and str(after[0]["newest"]) == "2024-10-03"


def test_results_stream_in_dremio_client_types(endpoint: Settings) -> None:
    with connect(endpoint) as client:
        reader = client.reader("SELECT order_id, order_ts, items FROM "
                               "lakehouse.curated.business.orders ORDER BY order_id")
        schema = reader.schema
        batches = list(client.batches("SELECT * FROM range(300000) t(i)"))
    assert schema.field("order_ts").type == pa.timestamp("ns")
    assert schema.field("items").type == pa.int32()  # no tinyint on the wire
    assert len(batches) > 1 and sum(b.num_rows for b in batches) == 300000


def test_metadata_statements_answer_like_dremio(endpoint: Settings) -> None:
    with connect(endpoint) as client:
        schemas = client.table("SHOW SCHEMAS").column("SCHEMA_NAME").to_pylist()
        tables = client.table("SELECT TABLE_NAME FROM INFORMATION_SCHEMA.\"TABLES\" "
                              "WHERE TABLE_SCHEMA = 'lakehouse.curated.business' "
                              "ORDER BY TABLE_NAME").column("TABLE_NAME").to_pylist()
        described = client.table('DESCRIBE "lakehouse.curated.business"."orders"').to_pylist()
    assert "lakehouse.curated.business" in schemas
    assert tables == ["orders", "products"]
    types = {r["COLUMN_NAME"]: r["DATA_TYPE"] for r in described}
    assert types == {"order_id": "BIGINT", "order_ts": "TIMESTAMP",
                     "status": "CHARACTER VARYING", "total_amount": "DOUBLE",
                     "items": "INTEGER", "dt": "DATE"}


@pytest.mark.parametrize(("sql", "says"), [
    ("CREATE TABLE x AS SELECT 1", "read-only"),
    ("COPY (SELECT 1) TO 'out.csv'", "read-only"),
    ("INSTALL httpfs", "read-only"),
    ("ATTACH 'other.duckdb'", "read-only"),
    ("SELECT 1; DROP VIEW x", "one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "not granted: read_csv"),
    ("SELECT * FROM lakehouse.curated.business.nosuch", "'nosuch' not found"),
])
def test_writes_and_files_outside_the_lake_are_refused(endpoint: Settings, sql: str,
                                                      says: str) -> None:
    with connect(endpoint) as client, pytest.raises(QueryError, match=says):
        client.table(sql)


def test_no_anonymous_or_wrong_credentials(endpoint: Settings) -> None:
    raw = fl.FlightClient(f"grpc+tcp://127.0.0.1:{endpoint.flight_port}")
    with pytest.raises(fl.FlightUnauthenticatedError, match="authentication required"):
        raw.get_flight_info(fl.FlightDescriptor.for_command("SELECT 1"))
    with pytest.raises(QueryError, match="authentication failed"):
        Client(endpoint, password="not-the-password")
    forged = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer forged")])
    with pytest.raises(fl.FlightUnauthenticatedError, match="expired or unknown"):
        raw.get_flight_info(fl.FlightDescriptor.for_command("SELECT 1"), forged)


def test_an_expired_token_is_renewed_once(endpoint: Settings) -> None:
    with connect(endpoint) as client:
        token = client.authorization
        time.sleep(endpoint.flight_token_ttl_s + 0.5)
        assert client.table("SELECT 42 AS x").column("x").to_pylist() == [42]
        assert client.authorization != token  # authenticated again


def test_concurrent_clients_do_not_wait_for_each_other(endpoint: Settings) -> None:
    slow_done = threading.Event()

    def slow() -> None:
        with connect(endpoint) as client:
            client.table("SELECT sum(i * i) FROM range(1500000000) t(i)")
        slow_done.set()

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)
    with connect(endpoint) as client:
        quick = client.table("SELECT count(*) AS n FROM lakehouse.curated.business.orders")
    assert not slow_done.is_set(), "the quick query should not wait for the slow one"
    assert quick.num_rows == 1
    worker.join(120)


def test_lakeops_sql_prints_and_saves(endpoint: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "LAKEOPS_HOME": str(endpoint.home),
           "LAKEOPS_FLIGHT_PORT": str(endpoint.flight_port)}
    lakeops = str(Path(sys.executable).parent / "lakeops")
    shown = subprocess.run([lakeops, "sql", "SELECT order_id FROM orders ORDER BY 1 LIMIT 2",
                            "--schema", "lakehouse.curated.business"],
                           env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.split()[:3] == ["order_id", "1", "2"]
    out = tmp_path / "orders.csv"
    subprocess.run([lakeops, "sql", "SELECT * FROM lakehouse.curated.business.orders",
                    "--out", str(out)], env=env, check=True, capture_output=True)
    assert len(out.read_text().strip().splitlines()) == 1 + 6  # header + every order
    bad = subprocess.run([lakeops, "sql", "DELETE FROM x"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode == 1 and "read-only" in bad.stderr
    raw = "SELECT count(*) AS n FROM lakehouse.raw.business.orders"
    refused = subprocess.run([lakeops, "sql", raw], env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and "not granted" in refused.stderr
    steward = subprocess.run([lakeops, "sql", raw, "--user", "steward"], env=env,
                             capture_output=True, text=True, check=True)
    assert steward.stdout.split()[:2] == ["n", "4"]


@pytest.mark.skipif(not SUPERSET_PY.exists(), reason="the Superset environment is built by "
                    "`make setup`")
def test_sqlalchemy_dremio_flight_dialect_works_unchanged(endpoint: Settings) -> None:
    """Superset's driver, in Superset's environment, against the running endpoint."""
    script = r"""
import json, sys
import sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
inspector = sa.inspect(engine)
schemas = inspector.get_schema_names()
tables = inspector.get_table_names(schema="lakehouse.curated.business")
columns = [(c["name"], type(c["type"]).__name__)
           for c in inspector.get_columns("orders", schema="lakehouse.curated.business")]
with engine.connect() as conn:
    rows = conn.execute(sa.text(
        'SELECT order_id, order_ts FROM "lakehouse"."curated"."business"."orders" '
        'ORDER BY order_id LIMIT 2')).fetchall()
    # a chart whose date filter leaves no row: the driver builds its table from the
    # batches alone, so an empty result must still be one (empty) batch
    none = conn.execute(sa.text(
        'SELECT order_id FROM "lakehouse"."curated"."business"."orders" '
        "WHERE order_ts >= TO_TIMESTAMP('2031-01-01 00:00:00.000', "
        "'YYYY-MM-DD HH24:MI:SS.FFF')")).fetchall()
print(json.dumps({"schemas": schemas, "tables": tables, "columns": columns,
                  "rows": [[r[0], str(r[1])] for r in rows], "none": len(none)}))
"""
    password = flight_password(endpoint)
    uri = (f"dremio+flight://{endpoint.flight_user}:{password}@127.0.0.1:"
           f"{endpoint.flight_port}/?UseEncryption=false")
    done = subprocess.run([str(SUPERSET_PY), "-c", script, uri], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert "lakehouse.curated.business" in got["schemas"]
    assert sorted(got["tables"]) == ["orders", "products"]
    assert ["order_id", "BIGINT"] in got["columns"] and ["order_ts", "TIMESTAMP"] in got["columns"]
    assert got["rows"] == [[1, "2024-10-01 10:00:00"], [2, "2024-10-01 10:00:00"]]
    assert got["none"] == 0


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from datetime import UTC, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "endpoint.crt", folder / "endpoint.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_when_configured(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    settings = platform_settings(tmp_path / "home", flight_tls=True, flight_tls_cert=cert,
                                 flight_tls_key=key)
    try:
        statuses = services.up(settings, services=["sql"], timeout=60)
        assert statuses[0].healthy and statuses[0].url.startswith("grpc+tls://")
        with connect(settings) as client:  # trusts the configured certificate
            assert client.table("SELECT 7 AS x").column("x").to_pylist() == [7]
        with pytest.raises(QueryError):  # plain TCP is not served
            Client(settings, tls=False)
    finally:
        services.down(settings)


def test_the_endpoint_serves_an_s3_lake(s3_settings: Settings) -> None:
    """The same endpoint over a lake in S3 (moto standing in for MinIO): httpfs from the
    installed wheel, one secret scoped to the lake, nothing else in the bucket reachable."""
    settings = s3_settings.model_copy(update={"flight_port": free_port()})
    lake = Lake.from_settings(settings)
    lake.write_partition("curated", "business/orders", "2024-10-01", _orders([1, 2, 3],
                                                                             "2024-10-01"))
    bucket = settings.lake.removeprefix("s3://").split("/")[0]
    outside = f"s3://{bucket}/elsewhere/orders.parquet"
    pq.write_table(_orders([9], "2024-10-01"), outside.removeprefix("s3://"),
                   filesystem=lake.fs)
    try:
        statuses = services.up(settings, services=["sql"], timeout=90)
        assert [(s.name, s.healthy) for s in statuses] == [("sql", True)], statuses
        with connect(settings) as client:
            def orders() -> int:
                return client.table("SELECT count(*) AS n FROM "
                                    "lakehouse.curated.business.orders").column("n")[0].as_py()

            assert orders() == 3
            lake.write_partition("curated", "business/orders", "2024-10-02",
                                 _orders([4, 5], "2024-10-02"))
            time.sleep(2.5)  # the lake is re-listed at most every 2 s
            assert orders() == 5
            inside = lake.uri("curated/business/orders/dt=2024-10-01/part-0.parquet")
            for path in (inside, outside):  # by name only, even inside a granted zone
                with pytest.raises(QueryError, match="not granted: read_parquet"):
                    client.table(f"SELECT * FROM read_parquet('{path}')")
            with pytest.raises(QueryError, match="duckdb_secrets"):
                client.table("SELECT * FROM duckdb_secrets()")
    finally:
        services.down(settings)


# -- who may read what ---------------------------------------------------------------------


def _as(settings: Settings, user: str) -> Client:
    return Client(settings, user=user, password=grants.password(settings, user))


def test_the_analyst_reads_published_zones_only(endpoint: Settings) -> None:
    with _as(endpoint, "analyst") as analyst:
        assert analyst.table("SELECT count(*) AS n FROM lakehouse.curated.business.orders"
                             " WHERE dt <= DATE '2024-10-02'").column("n").to_pylist() == [5]
        for zone in ("raw", "quarantine"):
            with pytest.raises(QueryError, match=f"not granted: .*'{zone}' zone.*'analyst'"):
                analyst.table(f"SELECT * FROM lakehouse.{zone}.business.orders")
        # the DuckDB view name itself, quoted, is no way round
        with pytest.raises(QueryError, match="not granted: .*'raw' zone"):
            analyst.table('SELECT * FROM "lakehouse.raw.business.orders"')
        with pytest.raises(QueryError, match="not granted: .*'raw' zone"):
            analyst.table('DESCRIBE "lakehouse.raw.business"."orders"')
        schemas = analyst.table("SHOW SCHEMAS").column("SCHEMA_NAME").to_pylist()
        listed = analyst.table('SELECT DISTINCT TABLE_SCHEMA FROM INFORMATION_SCHEMA."TABLES"'
                               ).column("TABLE_SCHEMA").to_pylist()
    assert schemas == ["lakehouse.curated.business"]
    assert listed == ["lakehouse.curated.business"]


def test_the_steward_also_reads_raw_and_quarantine(endpoint: Settings) -> None:
    with _as(endpoint, "steward") as steward:
        raw = steward.table("SELECT count(*) AS n FROM lakehouse.raw.business.orders")
        rules = steward.table("SELECT _rule FROM lakehouse.quarantine.business.orders")
        schemas = steward.table("SHOW SCHEMAS").column("SCHEMA_NAME").to_pylist()
    assert raw.column("n").to_pylist() == [4]
    assert rules.column("_rule").to_pylist() == ["ingest.column_type"]
    assert schemas == ["lakehouse.curated.business", "lakehouse.quarantine.business",
                       "lakehouse.raw.business"]


@pytest.mark.parametrize("user", ["analyst", "steward"])
@pytest.mark.parametrize(("sql", "says"), [
    ("SELECT email FROM read_csv('{pii}')", "not granted: read_csv"),
    ("SELECT * FROM '{pii}'", "not granted: .* names a file"),
    ("SELECT * FROM read_text('{pii}')", "not granted: read_text"),
    ("SELECT * FROM read_blob('{pii}')", "not granted: read_blob"),
    ("SELECT * FROM glob('{lake}/*')", "not granted: glob"),
    ("SELECT (SELECT count(*) FROM glob('{lake}/landing/*')) AS n", "not granted: glob"),
    ("SELECT * FROM read_parquet('{lake}/curated/business/orders/*/*.parquet')",
     "not granted: read_parquet"),
    ("SELECT * FROM query('SELECT * FROM read_csv(''{pii}'')')", "query\\(\\) is not available"),
    ("SELECT * FROM duckdb_views()", "duckdb_views\\(\\) is not available"),
    ("SELECT * FROM information_schema.views", "not found"),
])
def test_files_are_refused_for_every_user(endpoint: Settings, user: str, sql: str,
                                          says: str) -> None:
    """The pseudonymization cannot be undone through SQL: no user reads a delivery."""
    lake = Lake.from_settings(endpoint)
    text = sql.format(pii=lake.uri(PII_CSV), lake=lake.uri("").rstrip("/"))
    with _as(endpoint, user) as client, pytest.raises(QueryError, match=says):
        client.table(text)


def test_each_user_has_its_own_password(endpoint: Settings) -> None:
    analyst, steward = (grants.password(endpoint, u) for u in ("analyst", "steward"))
    assert analyst != steward and len(steward) >= 24
    with pytest.raises(QueryError, match="authentication failed for 'steward'"):
        Client(endpoint, user="steward", password=analyst)
    with connect(endpoint) as default:  # the platform's clients connect as the analyst
        assert default.user == "analyst"


# -- limits ----------------------------------------------------------------------------------

SLOW = "SELECT sum(a.range * b.range) AS s FROM range(200000) a, range(200000) b"
HUNGRY = "SELECT len(list(i)) AS n FROM range(100000000) t(i)"  # a list cannot spill


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One query at a time, 64 MB each, 4 s each, 1 s wait for a turn."""
    settings = platform_settings(tmp_path_factory.mktemp("lakeops-sql-limits"),
                                 sql_max_concurrent=1, sql_memory_mb=256, sql_query_memory_mb=64,
                                 sql_query_timeout_s=4, sql_queue_timeout_s=1)
    Lake.from_settings(settings).write_partition("curated", "business/orders", "2024-10-01",
                                                 _orders([1, 2, 3], "2024-10-01"))
    try:
        services.up(settings, services=["sql"], timeout=60)
        yield settings
    finally:
        services.down(settings)


def _serves(settings: Settings) -> None:
    """The endpoint still answers, from the same process it started with."""
    with connect(settings) as client:
        assert client.table("SELECT count(*) AS n FROM lakehouse.curated.business.orders"
                            ).column("n").to_pylist() == [3]
    status = {s.name: s for s in services.status(settings)}["sql"]
    assert status.healthy and status.restarts == 0, status


def test_a_query_over_its_memory_limit_fails_clearly(limited: Settings) -> None:
    with connect(limited) as client, pytest.raises(
            QueryError, match="more memory than the per-query limit of 64 MB"):
        client.table(HUNGRY)
    _serves(limited)


def test_a_query_over_its_time_limit_is_cancelled(limited: Settings) -> None:
    started = time.monotonic()
    with connect(limited) as client, pytest.raises(
            QueryError, match="cancelled after 4 s: over the per-query time limit"):
        client.table(SLOW)
    assert time.monotonic() - started < 8
    _serves(limited)


def test_queries_over_the_concurrency_cap_wait_then_fail_clearly(limited: Settings) -> None:
    errors: list[str] = []

    def hold() -> None:
        with connect(limited) as client:
            try:
                client.table(SLOW)  # holds the only slot until its time limit
            except QueryError as exc:
                errors.append(str(exc))

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(1.0)
    with connect(limited) as client, pytest.raises(QueryError, match="endpoint is busy: 1 "):
        client.table("SELECT 1 AS one")
    holder.join(30)
    assert errors and "time limit" in errors[0]
    _serves(limited)


def test_a_query_whose_client_went_away_is_cancelled(limited: Settings) -> None:
    """The client process dies mid-query: its slot is free long before the time limit."""
    env = {**os.environ, "LAKEOPS_HOME": str(limited.home),
           "LAKEOPS_FLIGHT_PORT": str(limited.flight_port)}
    client = subprocess.Popen([str(Path(sys.executable).parent / "lakeops"), "sql", SLOW],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.0)  # connected and running (the handshake takes well under a second)
        assert client.poll() is None
    finally:
        client.kill()
        client.wait()
    killed = time.monotonic()
    with connect(limited) as other:  # waits at most 1 s for the slot
        assert other.table("SELECT 1 AS one").column("one").to_pylist() == [1]
    # the dead client's query would have held the slot for 2 s more
    assert time.monotonic() - killed < 1.8
    _serves(limited)
