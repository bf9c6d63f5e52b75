"""The embedded lakehouse SQL endpoint for real: started by `lakeops up` on a free port,
queried over Arrow Flight as Dremio's clients do, stopped by process id."""

from __future__ import annotations

import json
import os
import socket
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

from lakeops import services
from lakeops.lake import Lake
from lakeops.query import Client, QueryError, connect
from lakeops.query.server import flight_password
from lakeops.settings import Settings, repo_root

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SUPERSET_PY = repo_root() / ".venv-superset" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    settings = Settings(home=tmp_path_factory.mktemp("lakeops-sql"), flight_port=free_port(),
                        flight_token_ttl_s=3)
    lake = Lake.from_settings(settings)
    for day, ids in (("2024-10-01", [1, 2, 3]), ("2024-10-02", [4, 5])):
        lake.write_partition("curated", "business/orders", day, _orders(ids, day))
    # a snapshot table (a full copy each day): only the newest copy is the table
    for day, names in (("2024-10-01", ["a", "b"]), ("2024-10-02", ["a", "b", "c"])):
        lake.write_partition("curated", "business/products", day,
                             pa.table({"product_id": list(range(len(names))), "name": names}))
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
    ("SELECT * FROM read_csv('/etc/passwd')", "Cannot access file"),
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
        token = client._headers[0]
        time.sleep(endpoint.flight_token_ttl_s + 0.5)
        assert client.table("SELECT 42 AS x").column("x").to_pylist() == [42]
        assert client._headers[0] != token  # authenticated again


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
print(json.dumps({"schemas": schemas, "tables": tables, "columns": columns,
                  "rows": [[r[0], str(r[1])] for r in rows]}))
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
    settings = Settings(home=tmp_path / "home", flight_port=free_port(), flight_tls=True,
                        flight_tls_cert=cert, flight_tls_key=key)
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
            assert client.table(f"SELECT count(*) AS n FROM read_parquet('{inside}')")[
                "n"][0].as_py() == 3
            with pytest.raises(QueryError, match="(?i)permission|disabled"):
                client.table(f"SELECT * FROM read_parquet('{outside}')")
            with pytest.raises(QueryError, match="duckdb_secrets"):
                client.table("SELECT * FROM duckdb_secrets()")
    finally:
        services.down(settings)
