"""A source onboarded with a historical load: weeks of rows in its first interval's
delivery, taken by the same ingest and validation as a daily one, then daily deliveries
checked against a band the load does not distort."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest

from lakeops.catalog.contracts import TABLES, get_contract
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.ingest.errors import SchemaMismatch
from lakeops.landing.layout import LOAD_MARKER, is_delivered_file
from lakeops.storage.lake import Lake
from lakeops.synthetic.generate import generate
from lakeops.validate import audit, publish

pytestmark = pytest.mark.slow
START, HISTORY = date(2024, 11, 12), 20
DAY = START.isoformat()


def _ingest_and_validate(settings: Settings, source: str, day: str) -> dict[str, dict]:
    for table in TABLES[source]:
        ingest.ingest_table(source, table, day, settings)
    return publish.validate_interval(source, day, settings)


def test_the_first_delivery_carries_the_history_with_its_marker(settings: Settings) -> None:
    landing = Lake.landing(settings)
    generate(landing, "business", START, 2, scale=0.01, seed=3, history_days=HISTORY)

    for table in TABLES["business"]:
        marker = landing.read_json(f"landing/business/{table}/{DAY}/{LOAD_MARKER}")
        assert marker["kind"] == "history"
        assert marker["from"] == (START - timedelta(days=HISTORY)).isoformat()
        nxt = (START + timedelta(days=1)).isoformat()
        assert not landing.exists(f"landing/business/{table}/{nxt}/{LOAD_MARKER}")
    (orders,) = [f for f in landing.ls(f"landing/business/orders/{DAY}")
                 if is_delivered_file(f.path.rsplit("/", 1)[-1])]
    days = {json.loads(line)["order_ts"][:10]
            for line in landing.read_bytes(orders.path).decode().splitlines()}
    assert min(days) == marker["from"] and max(days) == DAY
    assert len(days) == HISTORY + 1


def test_ingest_and_validation_take_the_history_as_one_interval(settings: Settings) -> None:
    lake, landing = Lake.from_settings(settings), Lake.landing(settings)
    generate(landing, "business", START, 1, scale=0.01, seed=3, history_days=HISTORY)

    published = _ingest_and_validate(settings, "business", DAY)
    first = (START - timedelta(days=HISTORY)).isoformat()
    for table, record in published.items():
        assert record["history_from"] == first, table
        raw = lake.read_json(f"raw/business/{table}/dt={DAY}/_manifest.json")
        assert raw["history_from"] == first
        # the marker travels with the files, so a re-run still knows the load
        assert landing.exists(f"landing/_archive/business/{table}/{DAY}/{LOAD_MARKER}")
        assert (record["published"] + record["quarantined_at_validation"]
                + record["rejected_at_ingest"]) == record["delivered"]
    # weeks of orders are not "outside the interval": nothing is quarantined for it
    bad = lake.read_partition("quarantine", "business/orders", DAY,
                              name=audit.VALIDATE_FILE).to_pylist()
    assert not [r for r in bad if r["_rule"] == "order_ts.in_interval"]
    assert published["orders"]["published"] > 10 * 150  # ~200 orders a day at scale 0.01
    days = pq.read_table(lake.local_path(f"curated/business/orders/dt={DAY}/part-0.parquet"),
                         columns=["order_ts"])["order_ts"].to_pylist()
    assert min(days).date().isoformat() == first

    again = _ingest_and_validate(settings, "business", DAY)  # a re-run: the same result
    assert again == published


def test_rows_outside_the_declared_range_are_quarantined(settings: Settings) -> None:
    landing = Lake.landing(settings)
    generate(landing, "business", START, 1, scale=0.01, seed=3, history_days=HISTORY)
    for table in TABLES["business"]:  # declare a shorter history than delivered
        landing.write_json(f"landing/business/{table}/{DAY}/{LOAD_MARKER}",
                           {"kind": "history", "from": (START - timedelta(days=5)).isoformat()})

    summary = _ingest_and_validate(settings, "business", DAY)
    bad = Lake.from_settings(settings).read_partition(
        "quarantine", "business/orders", DAY, name=audit.VALIDATE_FILE).to_pylist()
    early = [r for r in bad if r["_rule"] == "order_ts.in_interval"]
    assert len(early) > summary["orders"]["published"]  # 15 of the 21 days are too early


def test_a_malformed_marker_is_a_clear_error_and_loses_nothing(settings: Settings) -> None:
    landing = Lake.landing(settings)
    generate(landing, "business", START, 1, scale=0.01, seed=3)
    marker = f"landing/business/orders/{DAY}/{LOAD_MARKER}"
    landing.write_json(marker, {"kind": "history", "from": "2030-01-01"})

    with pytest.raises(SchemaMismatch, match="not a historical-load marker.*2030"):
        ingest.ingest_table("business", "orders", DAY, settings)
    assert landing.exists(marker)
    assert [f for f in landing.ls(f"landing/business/orders/{DAY}")
            if is_delivered_file(f.path.rsplit("/", 1)[-1])]


def test_the_volume_band_after_a_history_counts_it_per_day(settings: Settings) -> None:
    """Three daily intervals after a 20-day load: the band is the daily median, so a
    normal day passes and a day with a tenth of the rows fails."""
    lake = Lake.from_settings(settings)
    generate(Lake.landing(settings), "education", START, 5, scale=0.01, seed=3,
             history_days=HISTORY)
    contract = get_contract("education", "studentVle")
    days = [(START + timedelta(days=i)).isoformat() for i in range(5)]
    for day in days:
        ingest.ingest_table("education", "studentVle", day, settings)
    history = audit.volume_history(lake, contract, days[4])
    daily = [lake.read_json(f"raw/education/studentVle/dt={d}/_manifest.json")["rows_written"]
             for d in days[:4]]
    assert history[:3] == daily[3:0:-1]
    assert history[3] == round(daily[0] / (HISTORY + 1))
    assert max(history) < 3 * min(history), "the load does not stand out per day"
