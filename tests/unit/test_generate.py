"""The generator: deterministic, incremental, realistic shapes, knobs that do what they say."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from lakeops.catalog.contracts import TABLES, Format, get_contract
from lakeops.core.settings import Settings
from lakeops.landing.layout import LOAD_MARKER
from lakeops.storage.lake import Lake
from lakeops.synthetic.generate import generate
from lakeops.synthetic.release import generate_release

START = date(2024, 10, 1)


def _lake(tmp_path: Path, name: str) -> Lake:
    """The landing store of a fresh state folder, where deliveries are generated."""
    return Lake.landing(Settings(home=tmp_path / name))


def _read(lake: Lake, source: str, table: str, day: date, *beside: str) -> pa.Table:
    """The day's delivered file (``beside`` names files delivered next to it)."""
    contract = get_contract(source, table)
    (f,) = [f for f in lake.ls(f"landing/{source}/{table}/{day}")
            if f.path.rsplit("/", 1)[-1] not in beside]
    data = lake.read_bytes(f.path)
    if contract.delivery.format is Format.PARQUET:
        return pq.read_table(io.BytesIO(data))
    if contract.delivery.format is Format.JSONL:
        return pa.Table.from_pylist([json.loads(x) for x in data.decode().splitlines()])
    return pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in contract.column_names}))


def _files(lake: Lake) -> dict[str, bytes]:
    return {f.path: lake.read_bytes(f.path) for f in lake.ls("landing", recursive=True)}


@pytest.mark.parametrize("domain", list(TABLES))
def test_same_seed_same_bytes_and_days_are_incremental(tmp_path: Path, domain: str) -> None:
    a, b, c = (_lake(tmp_path, n) for n in "abc")
    generate(a, domain, START, 2, scale=0.005, seed=9, bad_records=0.01)
    generate(b, domain, START, 4, scale=0.005, seed=9, bad_records=0.01)
    generate(c, domain, START, 2, scale=0.005, seed=10, bad_records=0.01)
    fa, fb = _files(a), _files(b)
    assert fa and all(fb[p] == data for p, data in fa.items()), "first days must not change"
    assert len(fb) == 2 * len(fa)
    assert _files(c) != fa, "another seed gives other data"


def test_the_historical_load_delivers_the_latest_row_of_each_key(tmp_path: Path) -> None:
    """A withdrawal's change record replaces the registration it changes in the history
    delivery: one row per key, the withdrawal's date on it; the same seed gives the same
    bytes (the delivery does not depend on how the rows were grouped)."""
    a, b = _lake(tmp_path, "a"), _lake(tmp_path, "b")
    for lake in (a, b):
        generate(lake, "education", START, 1, scale=0.005, seed=4, history_days=30)
    assert _files(a) == _files(b)
    regs = _read(a, "education", "studentRegistration", START, LOAD_MARKER).to_pylist()
    key = ("code_module", "code_presentation", "id_student")
    assert len({tuple(r[k] for k in key) for r in regs}) == len(regs), "one row per key"
    withdrawn = [r for r in regs if r["date_unregistration"] not in (None, "")]
    assert withdrawn, "the history's withdrawals are delivered"


@pytest.mark.parametrize("domain", list(TABLES))
def test_every_table_delivered_daily_with_the_contract_columns(tmp_path: Path,
                                                               domain: str) -> None:
    lake = _lake(tmp_path, "x")
    generate(lake, domain, START, 2, scale=0.005)
    for table in TABLES[domain]:
        for day in (START, date(2024, 10, 2)):
            (f,) = lake.ls(f"landing/{domain}/{table}/{day}")
            ext = get_contract(domain, table).delivery.format.value
            assert f.path.endswith(f"{table}_{day.strftime('%Y%m%d')}.{ext}")
        got = _read(lake, domain, table, START)
        assert got.column_names == get_contract(domain, table).column_names


def test_education_referential_integrity_and_scale(tmp_path: Path) -> None:
    lake = _lake(tmp_path, "edu")
    result = generate(lake, "education", START, 3, scale=0.02)
    vle = set(_read(lake, "education", "vle", START)["id_site"].to_pylist())
    regs = _read(lake, "education", "studentRegistration", START)
    students = set(regs["id_student"].to_pylist())
    clicks = pa.concat_tables(_read(lake, "education", "studentVle", date(2024, 10, d))
                              for d in (1, 2, 3))
    assert set(clicks["id_site"].to_pylist()) <= vle
    assert set(clicks["id_student"].to_pylist()) <= students | set(
        _read(lake, "education", "studentRegistration", date(2024, 10, 2))["id_student"]
        .to_pylist()) | set(
        _read(lake, "education", "studentRegistration", date(2024, 10, 3))["id_student"]
        .to_pylist())
    keys = list(zip(*(clicks[c].to_pylist() for c in ("id_student", "id_site", "date")),
                    strict=True))
    assert len(keys) == len(set(keys)), "clickstream primary key is unique"
    # about OULAD x scale: 32.6k students, ~39k clicks rows a day at scale 1
    assert 0.8 * 652 <= len(students) <= 652
    assert 0.5 * 0.02 * 39_000 < result.rows["studentVle"] / 3 < 1.5 * 0.02 * 39_000


def test_business_totals_add_up(tmp_path: Path) -> None:
    lake = _lake(tmp_path, "biz")
    generate(lake, "business", START, 2, scale=0.01)
    orders = _read(lake, "business", "orders", START).to_pylist()
    items = _read(lake, "business", "order_items", START).to_pylist()
    payments = _read(lake, "business", "payments", START).to_pylist()
    sums: dict[int, Decimal] = {}
    for it in items:
        line = Decimal(it["unit_price"]) * int(it["quantity"])
        assert Decimal(it["line_amount"]) == line
        sums[int(it["order_id"])] = sums.get(int(it["order_id"]), Decimal(0)) + line
    customers = {int(c) for c in _read(lake, "business", "customers", START)["customer_id"]
                 .to_pylist()}
    for o in orders:
        assert Decimal(str(o["total_amount"])) == sums[o["order_id"]]
        assert o["customer_id"] in customers
    captured = {p["order_id"] for p in payments if p["status"] != "failed"}
    assert captured == {o["order_id"] for o in orders}


SHOP_SCALE, SHOP_DAYS = 0.005, 60


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict[int, dict]]:
    """Sixty days of the shop: every order (with its day index) and every customer."""
    lake = Lake.landing(Settings(home=tmp_path_factory.mktemp("shop")))
    generate(lake, "business", START, SHOP_DAYS, scale=SHOP_SCALE, seed=3)
    orders, customers = [], {}
    for d in range(SHOP_DAYS):
        day = START + timedelta(days=d)
        for c in _read(lake, "business", "customers", day).to_pylist():
            customers[int(c["customer_id"])] = {**c, "delivered": day}
        orders += [{**o, "day": d} for o in _read(lake, "business", "orders", day).to_pylist()]
    return orders, customers


def test_customers_come_back_some_often_most_now_and_then(
        shop: tuple[list[dict], dict[int, dict]]) -> None:
    orders, customers = shop
    first = Counter(o["customer_id"] for o in orders if o["day"] < 30)
    second = Counter(o["customer_id"] for o in orders if o["day"] >= 30)
    repeat = sum(n > 1 for n in first.values()) / len(first)
    lapsed = sum(c not in second for c in first) / len(first)
    assert 0.2 < repeat < 0.8, "a good share, far from all, order twice in a month"
    assert 0.1 < lapsed < 0.7, "some customers of one month do not order in the next"
    counts = sorted(Counter(o["customer_id"] for o in orders).values())
    assert counts[-1] >= 5 * counts[len(counts) // 2], "a few heavy buyers"
    assert len(customers) > 10 * len(orders) / SHOP_DAYS, "many more customers than orders"
    # business customers order more often than consumers
    per_segment = {s: sum(counts) / len(counts) for s, counts in _by_segment(
        Counter(o["customer_id"] for o in orders), customers).items()}
    assert per_segment["enterprise"] > per_segment["consumer"]


def _by_segment(counts: Counter, customers: dict[int, dict]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for cid, c in customers.items():
        out.setdefault(c["segment"], []).append(counts.get(cid, 0))
    return out


def test_daily_orders_keep_the_volume_and_the_weekend_uplift(
        shop: tuple[list[dict], dict[int, dict]]) -> None:
    orders, _ = shop
    per_day = Counter(o["day"] for o in orders)
    assert len(per_day) == SHOP_DAYS
    assert 0.9 < sum(per_day.values()) / SHOP_DAYS / (20_000 * SHOP_SCALE) < 1.1
    weekend = [n for d, n in per_day.items() if (START + timedelta(days=d)).weekday() >= 5]
    weekday = [n for d, n in per_day.items() if (START + timedelta(days=d)).weekday() < 5]
    assert 1.2 < (sum(weekend) / len(weekend)) / (sum(weekday) / len(weekday)) < 1.55


def test_every_order_comes_from_a_customer_signed_up_by_then(
        shop: tuple[list[dict], dict[int, dict]]) -> None:
    orders, customers = shop
    for o in orders:
        customer = customers[o["customer_id"]]  # delivered on or before the order's day
        assert customer["delivered"] <= START + timedelta(days=o["day"])
        assert date.fromisoformat(customer["signup_date"]) <= customer["delivered"]
    signups = [date.fromisoformat(c["signup_date"]) for c in customers.values()]
    assert all(c["delivered"] == START or date.fromisoformat(c["signup_date"]) == c[
        "delivered"] for c in customers.values()), "a day's sign-ups signed up that day"
    assert min(signups) < START - timedelta(days=365), "the day-0 accounts go back years"
    new = {cid for cid, c in customers.items() if c["delivered"] > START}
    assert new and any(o["customer_id"] in new for o in orders), "new customers order"


def test_engagement_drop_hits_one_cohort_after_the_drift_day(tmp_path: Path) -> None:
    base, drift = _lake(tmp_path, "base"), _lake(tmp_path, "drift")
    generate(base, "education", START, 6, scale=0.02, seed=1)
    generate(drift, "education", START, 6, scale=0.02, seed=1, drift="engagement_drop",
             drift_day=3)

    def clicks(lake: Lake, day: int, module: str) -> int:
        t = _read(lake, "education", "studentVle", date(2024, 10, day + 1))
        return sum(int(c) for m, c in zip(t["code_module"].to_pylist(),
                                          t["sum_click"].to_pylist(), strict=True) if m == module)

    for day in (0, 1, 2):
        assert clicks(drift, day, "AAA") == clicks(base, day, "AAA")
    after_base = sum(clicks(base, d, "AAA") for d in (3, 4, 5))
    after_drift = sum(clicks(drift, d, "AAA") for d in (3, 4, 5))
    assert after_drift < 0.6 * after_base
    assert sum(clicks(drift, d, "BBB") for d in (3, 4, 5)) == sum(
        clicks(base, d, "BBB") for d in (3, 4, 5))


def test_price_change_raises_one_category(tmp_path: Path) -> None:
    lake = _lake(tmp_path, "p")
    generate(lake, "business", START, 3, scale=0.01, drift="price_change", drift_day=2)
    before = _read(lake, "business", "products", START).to_pylist()
    after = _read(lake, "business", "products", date(2024, 10, 3)).to_pylist()
    for b, a in zip(before, after, strict=True):
        ratio = a["unit_price"] / b["unit_price"]
        assert (abs(ratio - Decimal("1.25")) < Decimal("0.01")) == (b["category"] == "electronics")


def test_bad_records_are_planted_as_well_formed_lines(tmp_path: Path) -> None:
    lake = _lake(tmp_path, "bad")
    result = generate(lake, "education", START, 2, scale=0.01, bad_records=0.05)
    assert result.bad_rows["studentVle"] > 0
    clicks = _read(lake, "education", "studentVle", START)  # still parses as CSV
    values = clicks["sum_click"].to_pylist() + clicks["id_student"].to_pylist()
    assert "abc" in values or None in values
    with pytest.raises(ValueError, match="does not apply"):
        generate(lake, "education", START, 1, drift="price_change")


# -- the OULAD release format -----------------------------------------------------------------

RELEASE_HEADERS = {
    "courses.csv": '"code_module","code_presentation","module_presentation_length"',
    "assessments.csv": '"code_module","code_presentation","id_assessment","assessment_type",'
                       '"date","weight"',
    "vle.csv": '"id_site","code_module","code_presentation","activity_type","week_from",'
               '"week_to"',
    "studentInfo.csv": '"code_module","code_presentation","id_student","gender","region",'
                       '"highest_education","imd_band","age_band","num_of_prev_attempts",'
                       '"studied_credits","disability","final_result"',
    "studentRegistration.csv": '"code_module","code_presentation","id_student",'
                               '"date_registration","date_unregistration"',
    "studentAssessment.csv": '"id_assessment","id_student","date_submitted","is_banked",'
                             '"score"',
    "studentVle.csv": '"code_module","code_presentation","id_student","id_site","date",'
                      '"sum_click"',
}
# file -> the columns the release writes ? in (each must have some at this scale and seed)
RELEASE_UNKNOWN = {"assessments.csv": {"date"}, "vle.csv": {"week_from", "week_to"},
                   "studentInfo.csv": {"imd_band"},
                   "studentRegistration.csv": {"date_registration"},
                   "studentAssessment.csv": {"score"}}
RELEASE_SCALE = 0.005


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("release") / "oulad"  # created by the generator
    return out, generate_release(out, scale=RELEASE_SCALE, seed=42)


def _release_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_release_files_headers_and_quoting(release: tuple[Path, dict[str, int]]) -> None:
    out, rows = release
    assert sorted(p.name for p in out.iterdir()) == sorted(RELEASE_HEADERS)
    assert list(rows) == list(RELEASE_HEADERS)
    quoted = re.compile(r'"[^"]*"(,"[^"]*")*')
    for name, header in RELEASE_HEADERS.items():
        data = (out / name).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
        assert data.endswith(b"\n")
        lines = data.decode("utf-8").split("\n")[:-1]
        assert lines[0] == header
        assert len(lines) - 1 == rows[name] > 0
        fields = header.count(",") + 1
        for line in lines[1:]:
            assert quoted.fullmatch(line) and line.count('","') == fields - 1, (name, line)


def test_release_missing_values_are_written_as_the_release_does(
        release: tuple[Path, dict[str, int]]) -> None:
    out, _ = release
    for name in RELEASE_HEADERS:
        table = _release_rows(out / name)
        unknown = {c for row in table for c, v in row.items() if v == "?"}
        assert unknown == RELEASE_UNKNOWN.get(name, set()), name
        empty = {c for row in table for c, v in row.items() if v == ""}
        assert empty == ({"date_unregistration"} if name == "studentRegistration.csv"
                         else set()), name
    info = (out / "studentInfo.csv").read_bytes()
    assert b'"10-20"' in info and b"10-20%" not in info
    assert b'"90-100%"' in info or b'"0-10%"' in info


def test_release_one_row_per_student_without_contact_columns(
        release: tuple[Path, dict[str, int]]) -> None:
    out, _ = release
    info = _release_rows(out / "studentInfo.csv")
    regs = _release_rows(out / "studentRegistration.csv")
    assert not {"first_name", "last_name", "email", "date_of_birth", "address"} & set(info[0])
    key = ("code_module", "code_presentation", "id_student")
    assert [tuple(r[k] for k in key) for r in info] == [tuple(r[k] for k in key) for r in regs]
    assert len({r["id_student"] for r in info}) == len(info) == round(32_593 * RELEASE_SCALE)
    for i, r in zip(info, regs, strict=True):  # the final state: a withdrawal's date
        assert (i["final_result"] == "Withdrawn") == (r["date_unregistration"] != "")
    presentations = {(r["code_module"], r["code_presentation"])
                     for r in _release_rows(out / "courses.csv")}
    assert {c for _, c in presentations} <= {"2013B", "2013J", "2014B", "2014J"}
    assert {(r["code_module"], r["code_presentation"]) for r in info} == presentations
    days = {int(r["date"]) for r in _release_rows(out / "studentVle.csv")}
    assert min(days) == 0 and max(days) > 200, "the whole presentation"


def test_release_zip_holds_the_same_files(release: tuple[Path, dict[str, int]],
                                          tmp_path: Path) -> None:
    out, rows = release
    assert generate_release(tmp_path, scale=RELEASE_SCALE, seed=42, as_zip=True) == rows
    assert [p.name for p in tmp_path.iterdir()] == ["anonymisedData.zip"]
    with zipfile.ZipFile(tmp_path / "anonymisedData.zip") as zf:
        assert zf.namelist() == list(RELEASE_HEADERS)
        for member in zf.infolist():
            assert member.compress_type == zipfile.ZIP_DEFLATED
            assert zf.read(member) == (out / member.filename).read_bytes(), member.filename


def test_release_same_seed_same_bytes(release: tuple[Path, dict[str, int]],
                                      tmp_path: Path) -> None:
    out, _ = release
    generate_release(tmp_path / "same", scale=RELEASE_SCALE, seed=42)
    generate_release(tmp_path / "other", scale=RELEASE_SCALE, seed=43)
    for name in RELEASE_HEADERS:
        assert (tmp_path / "same" / name).read_bytes() == (out / name).read_bytes(), name
    assert (tmp_path / "other" / "studentVle.csv").read_bytes() != (
        out / "studentVle.csv").read_bytes()


def test_release_has_the_daily_formats_numbers(release: tuple[Path, dict[str, int]],
                                               tmp_path: Path) -> None:
    out, _ = release
    lake = _lake(tmp_path, "daily")
    generate(lake, "education", START, 1, scale=RELEASE_SCALE, seed=42)
    (f,) = lake.ls(f"landing/education/studentVle/{START}")
    daily = pacsv.read_csv(io.BytesIO(lake.read_bytes(f.path)))
    cols = ("id_student", "id_site", "sum_click")
    first_day = [tuple(r[c] for c in cols) for r in _release_rows(out / "studentVle.csv")
                 if r["date"] == "0"]
    assert first_day == [tuple(str(v) for v in row) for row in zip(
        *(daily[c].to_pylist() for c in cols), strict=True)]
