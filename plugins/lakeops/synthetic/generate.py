"""Synthetic daily deliveries: OULAD-shaped education data and a shop's business data.

``generate(landing, domain, start, days, ...)`` writes, for every table of the domain and
every day, one delivery file at ``landing/<source>/<table>/<YYYY-MM-DD>/<table>_<YYYYMMDD>.
<ext>`` in the contract's format (CSV, JSON lines, Parquet) into the landing store
(``Lake.landing(settings)``, beside the lake, never inside it). Every table is delivered
every day: a snapshot repeats the whole reference table, an increment carries that day's
rows and is header-only (CSV) or empty (JSON lines) on a day without rows, so "nothing
happened" differs from "nothing arrived".

Determinism: the population (students, registrations, submissions, customers, products,
daily volumes) comes from generators seeded by ``seed`` alone (a block of 64 days' customer
sign-ups by ``(seed, block)``), and each day's events from one seeded by ``(seed, day)``. So
a seed gives byte-identical files, and generating days 0-4 then 0-9 gives the same first
five days.

Education (scale 1.0 = OULAD's size: ~32.6k students, ~10.6M clickstream rows over a
269-day presentation). Every module presentation starts on ``start``: OULAD's relative day
columns equal the delivery day index. 90 % of students register before the start (their
studentInfo and studentRegistration rows arrive on day 0), the rest in the first 25 days.
A withdrawal arrives as a new studentRegistration row for the same key carrying
``date_unregistration`` on the day it happens (a change record, as real feeds send).
``final_result`` carries the simulated outcome, as OULAD's studentInfo does.

Release format: ``generate_release(out, scale=, seed=, as_zip=)`` writes the same education
world (same seed, same numbers) the way the published OULAD release lays it out, all at once
rather than by day: ``courses.csv``, ``assessments.csv``, ``vle.csv``, ``studentInfo.csv``,
``studentRegistration.csv``, ``studentAssessment.csv``, ``studentVle.csv`` in a folder, or
zipped as ``anonymisedData.zip``. The release's columns in its order (no contact columns in
studentInfo), every field and header quoted, LF line ends; ``?`` for a missing imd_band,
exam date, score, registration date (~0.15 % of students, at least one) or planned week, an
empty ``date_unregistration`` for a student who did not withdraw, imd band ``10-20`` without
its percent sign; the release's module presentations (AAA..GGG in 2013B..2014J). One
studentInfo and one studentRegistration row per student (the final state), every submission,
and every clickstream row of days 0..268, written a day at a time (memory does not grow with
the scale).

Business: a shop with ~20,000 orders a day at scale 1.0 (25 % more on weekend days).
Customers arrive as a snapshot of the existing accounts on day 0 (~20x the daily orders,
signed up in the four years before), then as each day's sign-ups (~1,700 a day at scale
1.0). Each customer orders at a rate of their own, gamma-distributed: a consumer every 10
days on average, most far less often and a few heavy buyers far more; small businesses
twice and enterprises four times as often. 60 % of sign-ups place an order on the day, and
a customer lapses for good at some point (after each order with a chance of 1 in 21, and
besides about once in 540 days); sign-ups replace the lapsed, so the volumes hold. A day's
orders go to the customers active that day in proportion to their rates. So about half of
the customers who order in a month order more than once in it, and about 40 % of them do
not order in the next month. The product catalogue is a daily Parquet snapshot; orders
(JSON lines) come with their items (CSV) and payments (JSON lines; a failed payment is
followed by a captured retry).

Knobs: ``drift`` — ``engagement_drop`` (education: students of the first module click
~60 % less from ``drift_day``) or ``price_change`` (business: electronics cost 25 % more
from ``drift_day``); ``bad_records`` — the fraction of increment rows replaced by bad ones
(unparseable numbers, nulls in required columns, out-of-range values, unknown categories,
duplicate keys, orphan foreign keys), each still a well-formed line of its file.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lakeops.catalog.contracts import TABLES, Contract, Format, get_contract
from lakeops.ingest.stage import LOAD_MARKER
from lakeops.onboarding.oulad import RELEASE, RELEASE_ZIP
from lakeops.storage.lake import Lake

OULAD_STUDENTS = 32_593
PRESENTATION_DAYS = 269
MODULES = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG")
ACTIVITY_TYPES = (
    ("resource", 0.30), ("oucontent", 0.15), ("url", 0.12), ("subpage", 0.10),
    ("forumng", 0.06), ("quiz", 0.05), ("homepage", 0.03), ("glossary", 0.02),
    ("oucollaborate", 0.02), ("page", 0.02), ("dataplus", 0.02), ("ouelluminate", 0.02),
    ("externalquiz", 0.02), ("questionnaire", 0.01), ("ouwiki", 0.01), ("sharedsubpage", 0.01),
    ("dualpane", 0.01), ("repeatactivity", 0.01), ("folder", 0.01), ("htmlactivity", 0.01),
)
REGIONS = (
    "East Anglian Region", "East Midlands Region", "Ireland", "London Region", "North Region",
    "North Western Region", "Scotland", "South East Region", "South Region",
    "South West Region", "Wales", "West Midlands Region", "Yorkshire Region",
)
EDUCATION = (("Lower Than A Level", 0.40), ("A Level or Equivalent", 0.43),
             ("HE Qualification", 0.145), ("No Formal quals", 0.011),
             ("Post Graduate Qualification", 0.014))
IMD = tuple(f"{i * 10}-{i * 10 + 10}%" for i in range(10))
AGE = (("0-35", 0.70), ("35-55", 0.29), ("55<=", 0.01))
RESULTS = (("Pass", 0.38), ("Withdrawn", 0.31), ("Fail", 0.22), ("Distinction", 0.09))
ENGAGEMENT = {"Distinction": 1.6, "Pass": 1.2, "Fail": 0.6, "Withdrawn": 0.5}
FIRST = ("Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Freya", "Leo",
         "Sophia", "Harry", "Grace", "Oscar", "Lily", "Jack", "Aoife", "Cian", "Niamh", "Rhys")
LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Patel", "Murphy", "Walsh", "Evans", "Thomas", "Roberts", "Khan", "Lewis", "Byrne")
STREETS = ("High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue",
           "Victoria Road", "Green Lane", "Manor Road", "Kings Road", "Queens Walk")
TOWNS = ("Milton Keynes", "Leeds", "Bristol", "Glasgow", "Cardiff", "Norwich", "York",
         "Dublin", "Belfast", "Leicester", "Brighton", "Oxford")
DOMAINS = ("example.org", "example.com", "mail.example.net")
CATEGORIES = ("books", "electronics", "home", "garden", "toys", "sports", "clothing", "grocery")
PRICE_RANGE = {"books": (4, 40), "electronics": (15, 900), "home": (5, 300),
               "garden": (5, 250), "toys": (3, 120), "sports": (8, 400),
               "clothing": (6, 180), "grocery": (1, 30)}
TEXT_ATTRS = ("gender", "region", "highest_education", "imd_band", "age_band", "disability")
HORIZON = 3_660  # days of pre-drawn daily volumes: ten years of deliveries


@dataclass
class GenerateResult:
    domain: str
    start: date
    days: int
    rows: dict[str, int] = field(default_factory=dict)
    bad_rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def _rng(seed: int, *parts: object) -> np.random.Generator:
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    values, weights = zip(*options, strict=True)
    p = np.asarray(weights, dtype=float)
    return np.asarray(values, dtype=object)[rng.choice(len(values), n, p=p / p.sum())]


def _names(rng: np.random.Generator, n: int, ids: np.ndarray) -> dict[str, np.ndarray]:
    first = np.asarray(FIRST, dtype=object)[rng.integers(0, len(FIRST), n)]
    last = np.asarray(LAST, dtype=object)[rng.integers(0, len(LAST), n)]
    domain = np.asarray(DOMAINS, dtype=object)[rng.integers(0, len(DOMAINS), n)]
    email = [f"{f.lower()}.{la.lower()}{i}@{d}" for f, la, i, d in zip(first, last, ids, domain,
                                                                        strict=True)]
    dob = np.datetime64("1950-01-01") + rng.integers(0, 20_000, n).astype("timedelta64[D]")
    street = [f"{k} {s}" for k, s in zip(rng.integers(1, 200, n),
                                         np.asarray(STREETS)[rng.integers(0, len(STREETS), n)],
                                         strict=True)]
    town = np.asarray(TOWNS, dtype=object)[rng.integers(0, len(TOWNS), n)]
    return {"first_name": first, "last_name": last, "email": np.asarray(email, dtype=object),
            "date_of_birth": dob, "street": np.asarray(street, dtype=object), "town": town}


# -- files ----------------------------------------------------------------------------------


def _as_text(table: pa.Table) -> pa.Table:
    """Every column as text, as a feed writes it (timestamps without a 'T')."""
    cols = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pa.compute.strftime(col, format="%Y-%m-%d %H:%M:%S")
        cols[name] = col.cast(pa.string())
    return pa.table(cols)


def _csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(_as_text(table), buf,
                    write_options=pacsv.WriteOptions(quoting_style="needed"))
    return buf.getvalue()


def _jsonl_bytes(table: pa.Table, contract: Contract) -> bytes:
    numeric = {c.name for c in contract.columns if c.type in ("int32", "int64", "float64",
                                                              "decimal")}
    lines = []
    for row in _as_text(table).to_pylist():
        for k, v in row.items():
            if k in numeric and v is not None:  # numbers as JSON numbers, bad values as text
                try:
                    row[k] = json.loads(v)
                except ValueError:
                    pass
        lines.append(json.dumps(row, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _write(landing: Lake, contract: Contract, day: date, table: pa.Table, result: GenerateResult
           ) -> None:
    fmt = contract.delivery.format
    table = table.select(contract.column_names)
    if fmt is Format.CSV:
        data = _csv_bytes(table)
    elif fmt is Format.JSONL:
        data = _jsonl_bytes(table, contract)
    else:
        data = _parquet_bytes(table)
    path = (f"landing/{contract.source}/{contract.table}/{day.isoformat()}/"
            f"{contract.table}_{day.strftime('%Y%m%d')}.{fmt.value}")
    landing.write_bytes(path, data)
    result.files.append(path)
    result.rows[contract.table] = result.rows.get(contract.table, 0) + table.num_rows


# -- bad records ------------------------------------------------------------------------------


def _plant(table: pa.Table, contract: Contract, rng: np.random.Generator, fraction: float,
           result: GenerateResult) -> pa.Table:
    """Replace about ``fraction`` of the rows by bad ones, cycling through the kinds."""
    n = table.num_rows
    k = int(rng.binomial(n, fraction)) if n and fraction > 0 else 0
    if not k:
        return table
    rows = _as_text(table).to_pylist()
    positions = rng.choice(n, size=k, replace=False)
    kinds = _bad_kinds(contract)
    for i, pos in enumerate(sorted(positions)):
        kinds[i % len(kinds)](rows, int(pos))
    result.bad_rows[contract.table] = result.bad_rows.get(contract.table, 0) + k
    return pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string())
                                                        for c in table.column_names]))


def _bad_kinds(contract: Contract) -> list[Callable[[list[dict], int], None]]:
    cols = contract.columns
    kinds: list[Callable[[list[dict], int], None]] = []
    number = next((c.name for c in cols if c.type in ("int32", "int64", "float64", "decimal")
                   and c.name not in contract.primary_key), None)
    required = next((c.name for c in cols if not c.nullable and c.pii == "none"), None)
    ranged = next((c for c in cols if c.max is not None), None)
    category = next((c.name for c in cols if c.allowed and c.type == "string"), None)

    def put(name: str, value: object) -> Callable[[list[dict], int], None]:
        def apply(rows: list[dict], pos: int) -> None:
            rows[pos][name] = value
        return apply

    if number:
        kinds.append(put(number, "abc"))
    if required:
        kinds.append(put(required, None))
    if ranged:
        kinds.append(put(ranged.name, str(int(ranged.max or 0) * 10 + 50)))
    if category:
        kinds.append(put(category, "unknown_value"))
    if contract.primary_key:
        def duplicate(rows: list[dict], pos: int) -> None:
            rows[pos] = dict(rows[pos - 1] if pos else rows[-1])
        kinds.append(duplicate)
    if contract.foreign_keys:
        fk = contract.foreign_keys[-1].columns[-1]
        kinds.append(put(fk, "999999999"))
    return kinds


# -- education --------------------------------------------------------------------------------


class Education:
    """The OULAD-shaped population of one (scale, seed); days are drawn on demand."""

    def __init__(self, scale: float, seed: int, drift: str | None, drift_day: int,
                 presentations: Sequence[tuple[str, str]] | None = None) -> None:
        """``presentations``: the (code_module, code_presentation) pairs to label the
        module presentations with, in order (the first ones are used, as many as the scale
        asks for); by default every module in each of 2024B, 2024J, 2025B, 2025J. Only the
        labels differ: the same seed draws the same numbers."""
        self.scale, self.seed, self.drift, self.drift_day = scale, seed, drift, drift_day
        n_mp = int(min(22, max(3, round(22 * scale ** 0.25))))
        if presentations is None:
            years = [2024, 2024, 2025, 2025]
            codes = [f"{y}{c}" for y, c in zip(years, "BJBJ", strict=True)]
            presentations = [(m, c) for c in codes for m in MODULES]
        if len(presentations) < n_mp:
            raise ValueError(f"{n_mp} module presentations needed, {len(presentations)} given")
        self.mp = list(presentations)[:n_mp]
        self.n_students = max(30, round(OULAD_STUDENTS * scale))

    def mp_columns(self, mp_idx: np.ndarray) -> dict[str, pa.Array]:
        """``code_module`` and ``code_presentation`` of module-presentation indices."""
        take = pa.array(np.asarray(mp_idx, dtype=np.int64))
        return {"code_module": pa.array([m for m, _ in self.mp], pa.string()).take(take),
                "code_presentation": pa.array([c for _, c in self.mp], pa.string()).take(take)}

    @cached_property
    def courses(self) -> pa.Table:
        rng = _rng(self.seed, "courses")
        lengths = rng.integers(234, PRESENTATION_DAYS + 1, len(self.mp))
        return pa.table({
            "code_module": [m for m, _ in self.mp],
            "code_presentation": [c for _, c in self.mp],
            "module_presentation_length": pa.array(lengths, pa.int32()),
        })

    @cached_property
    def assessments(self) -> pa.Table:
        rng = _rng(self.seed, "assessments")
        rows: dict[str, list] = {k: [] for k in ("code_module", "code_presentation",
                                                 "id_assessment", "assessment_type", "date",
                                                 "weight")}
        next_id = 1752
        for (module, code), length in zip(self.mp, self.courses["module_presentation_length"]
                                          .to_pylist(), strict=True):
            n_tma = int(rng.integers(4, 7))
            days = np.linspace(19, length - 40, n_tma + 2).astype(int)
            plan: list[tuple[str, int | None, float]] = [
                ("TMA", int(d), 50.0 / n_tma) for d in days[:n_tma]
            ]
            plan += [("CMA", int(d), 0.0) for d in days[n_tma:]]
            plan.append(("Exam", None if rng.random() < 0.3 else int(length), 100.0))
            for kind, day, weight in plan:
                rows["code_module"].append(module)
                rows["code_presentation"].append(code)
                rows["id_assessment"].append(next_id)
                rows["assessment_type"].append(kind)
                rows["date"].append(day)
                rows["weight"].append(round(weight, 1))
                next_id += 1
        return pa.table({**rows, "id_assessment": pa.array(rows["id_assessment"], pa.int64()),
                         "date": pa.array(rows["date"], pa.int32())})

    @cached_property
    def vle(self) -> pa.Table:
        rng = _rng(self.seed, "vle")
        per_mp = max(20, round(6364 / 22 * min(1.0, self.scale ** 0.25)))
        n = per_mp * len(self.mp)
        mp_idx = np.repeat(np.arange(len(self.mp)), per_mp)
        week_from = np.where(rng.random(n) < 0.15, rng.integers(0, 38, n), -1)
        return pa.table({
            "id_site": pa.array(526_000 + np.arange(n) * 7, pa.int64()),
            **self.mp_columns(mp_idx),
            "activity_type": _choice(rng, ACTIVITY_TYPES, n),
            "week_from": pa.array(week_from, pa.int32(), mask=week_from < 0),
            "week_to": pa.array(week_from + 2, pa.int32(), mask=week_from < 0),
        })

    @cached_property
    def students(self) -> dict[str, np.ndarray]:
        """One row per student: the module presentation, outcome, days of their life."""
        rng = _rng(self.seed, "students")
        n = self.n_students
        ids = 6_000 + rng.permutation(np.arange(n) * 11 + 5)  # unique, OULAD-like ints
        mp = rng.integers(0, len(self.mp), n)
        result = _choice(rng, RESULTS, n)
        late = rng.random(n) < 0.10
        reg = np.where(late, rng.integers(1, 26, n), -rng.integers(0, 120, n))
        length = np.asarray(self.courses["module_presentation_length"].to_pylist())[mp]
        unreg = np.where(result == "Withdrawn",
                         np.maximum(reg, 0) + (rng.random(n) * (length - 10)).astype(int) + 1,
                         -1)
        engagement = rng.lognormal(0.0, 0.5, n) * np.vectorize(ENGAGEMENT.get)(result)
        return {"id": ids, "mp": mp, "result": result, "reg": reg, "unreg": unreg,
                "engagement": engagement, "length": length, **_names(rng, n, ids)}

    def student_info(self, idx: np.ndarray) -> pa.Table:
        s, rng = self.students, _rng(self.seed, "info")
        n_all = self.n_students
        attrs = {
            "gender": np.where(rng.random(n_all) < 0.55, "M", "F"),
            "region": np.asarray(REGIONS)[rng.integers(0, len(REGIONS), n_all)],
            "highest_education": _choice(rng, EDUCATION, n_all),
            "imd_band": np.where(rng.random(n_all) < 0.03, None,  # type: ignore[call-overload]
                                 np.asarray(IMD, dtype=object)[rng.integers(0, 10, n_all)]),
            "age_band": _choice(rng, AGE, n_all),
            "num_of_prev_attempts": np.minimum(rng.poisson(0.16, n_all), 6),
            "studied_credits": 30 * rng.integers(1, 9, n_all),
            "disability": np.where(rng.random(n_all) < 0.1, "Y", "N"),
        }
        return pa.table({
            **self.mp_columns(s["mp"][idx]),
            "id_student": pa.array(s["id"][idx], pa.int64()),
            **{k: pa.array(v[idx], pa.string()) for k, v in attrs.items() if k in TEXT_ATTRS},
            "num_of_prev_attempts": pa.array(attrs["num_of_prev_attempts"][idx], pa.int32()),
            "studied_credits": pa.array(attrs["studied_credits"][idx], pa.int32()),
            "final_result": pa.array(s["result"][idx], pa.string()),
            "first_name": pa.array(s["first_name"][idx], pa.string()),
            "last_name": pa.array(s["last_name"][idx], pa.string()),
            "email": pa.array(s["email"][idx], pa.string()),
            "date_of_birth": pa.array(s["date_of_birth"][idx], pa.date32()),
            "address": pa.array([f"{a}, {t}" for a, t in zip(s["street"][idx], s["town"][idx],
                                                             strict=True)], pa.string()),
        })

    def registrations(self, idx: np.ndarray, with_unreg: bool) -> pa.Table:
        s = self.students
        unreg = np.where(with_unreg, s["unreg"][idx], -1)
        return pa.table({
            **self.mp_columns(s["mp"][idx]),
            "id_student": pa.array(s["id"][idx], pa.int64()),
            "date_registration": pa.array(s["reg"][idx], pa.int32()),
            "date_unregistration": pa.array(unreg, pa.int32(), mask=unreg < 0),
        })

    @cached_property
    def submissions(self) -> dict[str, np.ndarray]:
        """Every submission of the presentation (submission day = event day)."""
        rng = _rng(self.seed, "submissions")
        s, a = self.students, self.assessments
        a_mp = {(m, c): i for i, (m, c) in enumerate(self.mp)}
        a_idx = np.asarray([a_mp[(m, c)] for m, c in zip(a["code_module"].to_pylist(),
                                                           a["code_presentation"].to_pylist(),
                                                           strict=True)])
        a_date = np.asarray([d if d is not None else -1 for d in a["date"].to_pylist()])
        a_ids = np.asarray(a["id_assessment"].to_pylist())
        stud, asmt = [], []
        for m in range(len(self.mp)):
            members = np.flatnonzero(s["mp"] == m)
            for j in np.flatnonzero((a_idx == m) & (a_date >= 0)):
                stud.append(members)
                asmt.append(np.full(len(members), j))
        st, aj = np.concatenate(stud), np.concatenate(asmt)
        day = a_date[aj] - np.minimum(rng.geometric(0.35, len(st)) - 1, 10)
        alive = (s["unreg"][st] < 0) | (s["unreg"][st] > day)
        keep = alive & (rng.random(len(st)) < 0.93) & (day >= np.maximum(s["reg"][st], 0))
        st, aj, day = st[keep], aj[keep], day[keep]
        base = {"Distinction": 88, "Pass": 72, "Fail": 45, "Withdrawn": 55}
        mean = np.vectorize(base.get)(s["result"][st])
        score = np.clip(np.round(rng.normal(mean, 12)), 0, 100)
        score = np.where(rng.random(len(st)) < 0.01, np.nan, score)
        return {"id_assessment": a_ids[aj], "id_student": s["id"][st], "date_submitted": day,
                "is_banked": (rng.random(len(st)) < 0.01).astype(int), "score": score}

    def clicks(self, d: int) -> pa.Table:
        """The day's clickstream: active students, the materials they open, their clicks."""
        rng = _rng(self.seed, "clicks", d)
        s = self.students
        alive = (s["reg"] <= d) & ((s["unreg"] < 0) | (s["unreg"] > d)) & (s["length"] > d)
        weekday = 0.75 if d % 7 in (5, 6) else 1.07
        p = np.clip(0.33 * s["engagement"] * weekday, 0, 0.95)
        if self.drift == "engagement_drop" and d >= self.drift_day:
            p = np.where(s["mp"] == 0, p * 0.4, p)
        active = alive & (rng.random(self.n_students) < p)
        # draw for every student, then keep the active ones: a cohort's drift leaves the
        # other students' numbers exactly as they were
        visits = 1 + rng.poisson(3.5, self.n_students)
        per_mp = self.vle.num_rows // len(self.mp)
        owner = np.repeat(np.arange(self.n_students), visits)
        site_draw = rng.integers(0, per_mp, len(owner))
        click_draw = rng.geometric(0.3, len(owner))
        keep = active[owner]
        who = owner[keep]
        site_idx = s["mp"][who] * per_mp + site_draw[keep]
        key, inverse = np.unique(who.astype(np.int64) * self.vle.num_rows + site_idx,
                                 return_inverse=True)
        clicks = np.bincount(inverse, weights=click_draw[keep])
        if self.drift == "engagement_drop" and d >= self.drift_day:
            st = key // self.vle.num_rows
            clicks = np.where(s["mp"][st] == 0, np.maximum(1, np.round(clicks * 0.4)), clicks)
        st, site = key // self.vle.num_rows, key % self.vle.num_rows
        return pa.table({
            **self.mp_columns(s["mp"][st]),
            "id_student": pa.array(s["id"][st], pa.int64()),
            "id_site": self.vle["id_site"].take(pa.array(site)),
            "date": pa.array(np.full(len(st), d), pa.int32()),
            "sum_click": pa.array(clicks.astype(np.int32), pa.int32()),
        })

    def day(self, d: int) -> dict[str, pa.Table]:
        s = self.students
        new = np.flatnonzero(np.where(s["reg"] <= 0, 0, s["reg"]) == d)
        withdrawn = np.flatnonzero(s["unreg"] == d) if d > 0 else np.array([], dtype=int)
        regs = self.registrations(new, with_unreg=False)
        if len(withdrawn):
            regs = pa.concat_tables([regs, self.registrations(withdrawn, with_unreg=True)])
        sub = self.submissions
        today = sub["date_submitted"] == d
        score = sub["score"][today]
        return {
            "courses": self.courses, "assessments": self.assessments, "vle": self.vle,
            "studentInfo": self.student_info(new),
            "studentRegistration": regs,
            "studentAssessment": pa.table({
                "id_assessment": pa.array(sub["id_assessment"][today], pa.int64()),
                "id_student": pa.array(sub["id_student"][today], pa.int64()),
                "date_submitted": pa.array(sub["date_submitted"][today], pa.int32()),
                "is_banked": pa.array(sub["is_banked"][today], pa.int32()),
                "score": pa.array(np.where(np.isnan(score), None, score), pa.float64()),
            }),
            "studentVle": self.clicks(d),
        }


# -- business ---------------------------------------------------------------------------------


# (segment, share of sign-ups, order rate relative to a consumer's)
SEGMENTS = (("consumer", 0.8, 1.0), ("small_business", 0.15, 2.0), ("enterprise", 0.05, 4.0))
MEAN_GAP_DAYS = 10.0  # 1 / a consumer's mean orders per day (the mean over consumers)
RATE_SHAPE = 0.6  # gamma shape of the order rates: many occasional buyers, a few heavy ones
ORDERS_TO_LAPSE = 20.0  # a customer lapses for good after an order with chance 1 in 21
LAPSE_DAYS = 540.0  # ... and besides, on any day, with chance 1 in LAPSE_DAYS
FIRST_ORDER = 0.6  # the share of sign-ups that place their first order on the day
PAST_DAYS = 1_500  # the existing accounts signed up within this many days before day 0
SIGNUP_BLOCK = 64  # days of sign-ups drawn together (from the seed and the block)


def _order_rates(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    """Each customer's orders per day: gamma-distributed, scaled by the segment."""
    scale = 1.0 / (MEAN_GAP_DAYS * RATE_SHAPE)
    return np.asarray([m for _, _, m in SEGMENTS])[segment] * rng.gamma(
        RATE_SHAPE, scale, len(segment))


def _lapse_hazard(rate: np.ndarray) -> np.ndarray:
    """Per day: a customer lapses after each order with chance 1 / (ORDERS_TO_LAPSE + 1)
    (in rate terms ``rate / ORDERS_TO_LAPSE``), and otherwise once in LAPSE_DAYS."""
    return rate / ORDERS_TO_LAPSE + 1.0 / LAPSE_DAYS


@cache
def _lifetime_orders() -> float:
    """The mean orders a new customer places between sign-up and lapse (a fixed draw of
    the model above, the same for every seed: it sizes the sign-ups)."""
    rng = np.random.default_rng(0)
    segment = rng.choice(len(SEGMENTS), 200_000, p=[w for _, w, _ in SEGMENTS])
    rate = _order_rates(rng, segment)
    return float(np.mean(rate / _lapse_hazard(rate)))


class Business:
    """A shop: customers sign up, browse a catalogue and place orders that get paid, each
    at a rate of their own until they lapse (see the module's docstring)."""

    def __init__(self, scale: float, seed: int, start: date, drift: str | None,
                 drift_day: int) -> None:
        self.scale, self.seed, self.start = scale, seed, start
        self.drift, self.drift_day = drift, drift_day
        rng = _rng(seed, "volumes")
        weekday = np.where((np.arange(HORIZON) + start.weekday()) % 7 >= 5, 1.25, 0.92)
        self.orders_per_day = rng.poisson(max(2.0, 20_000 * scale) * weekday)
        self.order_ids_before = np.concatenate([[0], np.cumsum(self.orders_per_day)])
        # sign-ups replace the customers who lapse: per day, the mean orders less the
        # first orders of the day's sign-ups, over the orders a customer places in a life
        mean_orders = max(2.0, 20_000 * scale) * weekday.mean()
        self.signups_per_day = mean_orders / (_lifetime_orders() + FIRST_ORDER)
        self.signups = rng.poisson(self.signups_per_day * weekday / weekday.mean())
        self.signups[0] = 0  # day 0 delivers the existing accounts only
        self._blocks: list[dict[str, np.ndarray]] = []
        self._people: dict[str, np.ndarray] = {}

    @cached_property
    def existing(self) -> dict[str, np.ndarray]:
        """The accounts of day 0: sign-ups of the ``PAST_DAYS`` before it, oldest first,
        that had not lapsed by day 0 (the lapsed ones are not in the CRM's export)."""
        rng = _rng(self.seed, "customers", "existing")
        n = rng.poisson(self.signups_per_day * PAST_DAYS)
        people = self._draw(rng, np.sort(-rng.integers(1, PAST_DAYS + 1, n)))
        alive = people["lapse"] > 0
        return {k: v[alive] for k, v in people.items()}

    def _draw(self, rng: np.random.Generator, signup: np.ndarray) -> dict[str, np.ndarray]:
        segment = rng.choice(len(SEGMENTS), len(signup), p=[w for _, w, _ in SEGMENTS])
        rate = _order_rates(rng, segment)
        return {"signup": signup.astype(np.int32), "segment": segment.astype(np.int8),
                "rate": rate,
                "lapse": signup + rng.exponential(1.0 / _lapse_hazard(rate)),
                "first": (signup >= 0) & (rng.random(len(signup)) < FIRST_ORDER)}

    @cached_property
    def signed_up(self) -> np.ndarray:
        """Customers delivered up to and including each day (ids 1..signed_up[d])."""
        return len(self.existing["signup"]) + np.cumsum(self.signups)

    def people(self, d: int) -> dict[str, np.ndarray]:
        """Every customer signed up by day ``d`` (and maybe some later), in ``customer_id``
        order (index = id - 1). A customer orders at ``rate`` orders a day from ``signup``
        (a day index, negative before day 0) until ``lapse`` (a fractional day), and places
        a first order on the sign-up day when ``first``. The sign-ups are drawn in blocks of
        ``SIGNUP_BLOCK`` days, each from the seed and its block alone."""
        if len(self._blocks) <= d // SIGNUP_BLOCK:
            while len(self._blocks) <= d // SIGNUP_BLOCK:
                lo = len(self._blocks) * SIGNUP_BLOCK
                days = np.arange(lo, min(lo + SIGNUP_BLOCK, HORIZON))
                rng = _rng(self.seed, "customers", "signups", len(self._blocks))
                self._blocks.append(self._draw(rng, np.repeat(days, self.signups[days])))
            parts = [self.existing, *self._blocks]
            self._people = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self._people

    def customers(self, d: int) -> pa.Table:
        p = self.people(d)
        first = 0 if d == 0 else int(self.signed_up[d - 1])
        ids = np.arange(first + 1, int(self.signed_up[d]) + 1)
        count = len(ids)
        rng = _rng(self.seed, "customers", "initial" if d == 0 else d)
        signup = np.datetime64(self.start) + p["signup"][ids - 1].astype("timedelta64[D]")
        people = _names(rng, count, ids)
        phone = [f"+44 7{n:09d}" for n in rng.integers(0, 10**9, count)]
        return pa.table({
            "customer_id": pa.array(ids, pa.int64()),
            "first_name": people["first_name"], "last_name": people["last_name"],
            "email": people["email"], "phone": phone,
            "date_of_birth": people["date_of_birth"],
            "street_address": people["street"], "city": people["town"],
            "postcode": [f"MK{n % 20} {n % 9}AB" for n in rng.integers(0, 10_000, count)],
            "country": np.where(rng.random(count) < 0.9, "GB", "IE"),
            "signup_date": pa.array(signup.astype("datetime64[D]"), pa.date32()),
            "segment": np.asarray([s for s, _, _ in SEGMENTS], dtype=object)[
                p["segment"][ids - 1]],
        })

    def buyers(self, rng: np.random.Generator, d: int, n: int) -> np.ndarray:
        """The ``customer_id`` of each of the day's ``n`` orders, in random order: the
        first orders of the day's sign-ups, the rest shared among the customers active that
        day in proportion to their rates (the same as each ordering as a Poisson process at
        its rate, given the day's total)."""
        p = self.people(d)
        known = int(self.signed_up[d])
        newcomers = np.arange(int(self.signed_up[d - 1]) if d else known, known)
        first = newcomers[p["first"][newcomers]][:n]
        active = np.flatnonzero(p["lapse"][:known] > d)
        if not len(active):  # a tiny shop whose customers all lapsed: anyone may come back
            active = np.arange(known)
        weight = p["rate"][active]
        others = active[rng.choice(len(active), n - len(first), p=weight / weight.sum())]
        return rng.permutation(np.concatenate([first, others])) + 1

    @cached_property
    def catalogue(self) -> dict[str, np.ndarray]:
        rng = _rng(self.seed, "products")
        n = max(50, round(500 * min(1.0, self.scale ** 0.5)))
        category = np.asarray(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)]
        low = np.asarray([PRICE_RANGE[c][0] for c in category])
        high = np.asarray([PRICE_RANGE[c][1] for c in category])
        price = np.round(low + (high - low) * rng.beta(1.2, 4, n), 2)
        return {"id": np.arange(1, n + 1), "category": category, "price": np.maximum(price, 0.5),
                "popularity": rng.zipf(1.6, n).astype(float)}

    def prices(self, d: int) -> np.ndarray:
        c = self.catalogue
        if self.drift == "price_change" and d >= self.drift_day:
            return np.round(np.where(c["category"] == "electronics", c["price"] * 1.25,
                                     c["price"]), 2)
        return c["price"]

    def products(self, d: int) -> pa.Table:
        c = self.catalogue
        changed = self.drift == "price_change" and d >= self.drift_day
        stamp = self.start + timedelta(days=self.drift_day if changed else 0)
        updated = datetime(stamp.year, stamp.month, stamp.day) - timedelta(hours=2)
        return pa.table({
            "product_id": pa.array(c["id"], pa.int64()),
            "name": [f"{cat.title()} item {i}" for cat, i in zip(c["category"], c["id"],
                                                                 strict=True)],
            "category": c["category"],
            "unit_price": pa.array([f"{p:.2f}" for p in self.prices(d)]).cast(
                pa.decimal128(12, 2)),
            "currency": ["GBP"] * len(c["id"]),
            "active": pa.array(np.ones(len(c["id"]), bool)),
            "updated_at": pa.array([updated] * len(c["id"]), pa.timestamp("us")),
        })

    def orders(self, d: int) -> dict[str, pa.Table]:
        rng = _rng(self.seed, "orders", d)
        n = int(self.orders_per_day[d])
        order_id = 100_000 + int(self.order_ids_before[d]) + np.arange(1, n + 1)
        customer = self.buyers(rng, d, n)
        day0 = datetime.combine(self.start + timedelta(days=d), datetime.min.time())
        seconds = np.sort(rng.integers(6 * 3600, 23 * 3600, n))
        ts = np.datetime64(day0) + seconds.astype("timedelta64[s]")
        # items
        lines = 1 + np.minimum(rng.poisson(1.0, n), 4)
        item_order = np.repeat(np.arange(n), lines)
        line_no = np.concatenate([np.arange(1, k + 1) for k in lines]) if n else np.array([])
        pop = self.catalogue["popularity"]
        product = rng.choice(len(pop), len(item_order), p=pop / pop.sum())
        qty = 1 + np.minimum(rng.geometric(0.6, len(item_order)) - 1, 5)
        price = self.prices(d)[product]
        cents = np.round(price * 100).astype(np.int64) * qty
        total = np.bincount(item_order, weights=cents, minlength=n).astype(np.int64)
        status = _choice(rng, (("placed", 0.55), ("shipped", 0.3), ("delivered", 0.1),
                               ("cancelled", 0.04), ("returned", 0.01)), n)
        orders = pa.table({
            "order_id": pa.array(order_id, pa.int64()),
            "customer_id": pa.array(customer, pa.int64()),
            "order_ts": pa.array(ts, pa.timestamp("us")),
            "status": status,
            "channel": _choice(rng, (("web", 0.55), ("app", 0.35), ("store", 0.07),
                                     ("phone", 0.03)), n),
            "currency": ["GBP"] * n,
            "total_amount": _money(total),
        })
        items = pa.table({
            "order_id": pa.array(order_id[item_order], pa.int64()),
            "line_number": pa.array(line_no, pa.int32()),
            "product_id": pa.array(self.catalogue["id"][product], pa.int64()),
            "quantity": pa.array(qty, pa.int32()),
            "unit_price": _money(np.round(price * 100).astype(np.int64)),
            "line_amount": _money(cents),
        })
        return {"orders": orders, "order_items": items,
                "payments": self._payments(rng, order_id, ts, total)}

    @staticmethod
    def _payments(rng: np.random.Generator, order_id: np.ndarray, ts: np.ndarray,
                  total: np.ndarray) -> pa.Table:
        failed = rng.random(len(order_id)) < 0.03
        refunded = ~failed & (rng.random(len(order_id)) < 0.01)
        idx = np.concatenate([np.flatnonzero(failed), np.arange(len(order_id))])
        attempt = np.concatenate([np.zeros(failed.sum(), int), np.where(failed, 1, 0)])
        order = np.lexsort((attempt, idx))
        idx, attempt = idx[order], attempt[order]
        status = np.where(attempt == 1, "captured",
                          np.where(failed[idx], "failed",
                                   np.where(refunded[idx], "refunded", "captured")))
        pay_ts = ts[idx] + (60 + 120 * attempt).astype("timedelta64[s]")
        return pa.table({
            "payment_id": pa.array(order_id[idx] * 10 + attempt, pa.int64()),
            "order_id": pa.array(order_id[idx], pa.int64()),
            "payment_ts": pa.array(pay_ts, pa.timestamp("us")),
            "method": _choice(rng, (("card", 0.7), ("paypal", 0.2), ("bank_transfer", 0.05),
                                    ("gift_card", 0.05)), len(idx)),
            "amount": _money(total[idx]),
            "status": status,
        })

    def day(self, d: int) -> dict[str, pa.Table]:
        return {"customers": self.customers(d), "products": self.products(d), **self.orders(d)}


def _money(cents: np.ndarray) -> pa.Array:
    """Exact decimal amounts from integer cents (no binary floating point on the way)."""
    values = np.asarray(cents, dtype=np.int64).tolist()
    return pa.array([f"{c // 100}.{c % 100:02d}" for c in values], pa.string()).cast(
        pa.decimal128(12, 2))


# -- entry point ------------------------------------------------------------------------------

DRIFTS = {"education": ("engagement_drop",), "business": ("price_change",)}


def generate(
    landing: Lake,
    domain: str,
    start: date,
    days: int,
    *,
    scale: float = 0.01,
    seed: int = 42,
    drift: str | None = None,
    drift_day: int = 14,
    bad_records: float = 0.0,
    first_day: int = 0,
    history_days: int = 0,
) -> GenerateResult:
    """Write ``days`` daily deliveries of ``domain`` (``education`` | ``business``) into
    ``landing/`` of the landing store (``Lake.landing(settings)``), starting ``start``
    (delivery day index ``first_day``).

    ``history_days``: the source is onboarded with a historical load. Its world begins
    that many days before ``start`` (the presentation starts, the shop's orders begin,
    ``drift_day`` counts from there) and ``start``'s delivery carries all of it, those days
    and ``start`` itself, one file per table, with the ``_load.json`` marker that tells
    ingest it is a historical load (:data:`lakeops.ingest.stage.LOAD_MARKER`); the days after
    ``start`` are daily deliveries as usual."""
    if domain not in TABLES:
        raise ValueError(f"unknown domain {domain!r}; domains are {', '.join(TABLES)}")
    if drift is not None and drift not in DRIFTS[domain]:
        raise ValueError(f"drift {drift!r} does not apply to {domain}; "
                         f"choose from {', '.join(DRIFTS[domain])}")
    if not 0 <= bad_records < 0.5:
        raise ValueError("bad_records is a fraction between 0 and 0.5")
    if history_days < 0 or (history_days and first_day):
        raise ValueError("history_days is a number of days >= 0, delivered with the first "
                         "day (first_day 0)")
    origin = start - timedelta(days=history_days)
    world: Education | Business = (
        Education(scale, seed, drift, drift_day) if domain == "education"
        else Business(scale, seed, origin, drift, drift_day)
    )
    result = GenerateResult(domain, start, days)
    contracts = {t: get_contract(domain, t) for t in TABLES[domain]}
    for d in range(first_day, first_day + days):
        day = start + timedelta(days=d)
        w = d + history_days  # the world's day index
        tables = world.day(w) if d or not history_days else \
            _history_load(world, contracts, w + 1)
        for table, data in tables.items():
            contract = contracts[table]
            if bad_records and contract.delivery.kind == "increment":
                data = _plant(data, contract, _rng(seed, "bad", table, w), bad_records, result)
            _write(landing, contract, day, data, result)
            if w and not d:
                marker = {"kind": "history", "from": origin.isoformat(), "days": w + 1}
                landing.write_json(f"landing/{domain}/{table}/{day.isoformat()}/"
                                   f"{LOAD_MARKER}", marker)
    return result


def _history_load(world: Education | Business, contracts: dict[str, Contract], days: int,
                  ) -> dict[str, pa.Table]:
    """The world's first ``days`` days as one delivery per table, the way a source exports
    its history: a snapshot table as of the last day; an increment table's rows of every
    day, with the latest row per primary key (a withdrawal's change record replaces the
    registration it changes)."""
    per_day = [world.day(d) for d in range(days)]
    out = {}
    for table, contract in contracts.items():
        if contract.delivery.kind == "snapshot":
            out[table] = per_day[-1][table]
            continue
        rows = pa.concat_tables([p[table] for p in per_day], promote_options="default")
        if contract.primary_key and rows.num_rows:
            order = rows.append_column("_i", pa.array(np.arange(rows.num_rows)))
            last = order.group_by(list(contract.primary_key)).aggregate([("_i", "max")])
            rows = rows.take(pc.sort_indices(last["_i_max"]))
        out[table] = rows
    return out


# -- the OULAD release format -----------------------------------------------------------------

# the release's 22 module presentations, oldest presentation first (as the daily format
# orders its own): fewer at small scale are the first ones
RELEASE_PRESENTATIONS = (
    ("BBB", "2013B"), ("DDD", "2013B"), ("FFF", "2013B"),
    ("AAA", "2013J"), ("BBB", "2013J"), ("DDD", "2013J"), ("EEE", "2013J"), ("FFF", "2013J"),
    ("GGG", "2013J"),
    ("BBB", "2014B"), ("CCC", "2014B"), ("DDD", "2014B"), ("EEE", "2014B"), ("FFF", "2014B"),
    ("GGG", "2014B"),
    ("AAA", "2014J"), ("BBB", "2014J"), ("CCC", "2014J"), ("DDD", "2014J"), ("EEE", "2014J"),
    ("FFF", "2014J"), ("GGG", "2014J"),
)
RELEASE_MISSING = "?"
NO_REGISTRATION_DATE = 0.0015  # the share of students whose registration date is missing
RELEASE_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: a seed gives the same zip


def generate_release(out: Path, *, scale: float = 1.0, seed: int = 42, as_zip: bool = False,
                     ) -> dict[str, int]:
    """Write the education world of ``(scale, seed)`` as the OULAD release lays it out: the
    seven CSVs of the whole presentation into the folder ``out`` (created if missing), or,
    with ``as_zip``, ``out/anonymisedData.zip`` holding them. Returns the rows written per
    file name (``courses.csv`` ...). The clickstream is drawn and written a day at a time,
    so memory does not grow with the scale."""
    if scale <= 0:
        raise ValueError("scale is a positive number (1.0 = the release's size)")
    world = Education(scale, seed, None, 0, presentations=RELEASE_PRESENTATIONS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    if as_zip:
        target = out / RELEASE_ZIP
        part = target.with_name(f".{target.name}.part")
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for table in RELEASE:
                member = zipfile.ZipInfo(f"{table}.csv", date_time=RELEASE_ZIP_TIME)
                member.compress_type = zipfile.ZIP_DEFLATED
                member.external_attr = 0o644 << 16
                # the clickstream may pass 2 GiB (zip64); the others stay plain entries
                with zf.open(member, "w", force_zip64=table == "studentVle") as sink:
                    rows[member.filename] = _write_release_csv(sink, _release_rows(world, table))
        part.replace(target)
        return rows
    for table in RELEASE:
        target = out / f"{table}.csv"
        part = target.with_name(f".{target.name}.part")
        with part.open("wb") as sink:
            rows[target.name] = _write_release_csv(sink, _release_rows(world, table))
        part.replace(target)
    return rows


def _write_release_csv(sink: IO[bytes], tables: Iterator[pa.Table]) -> int:
    """Append the tables to ``sink`` as one CSV, the header once, every field quoted."""
    n, header = 0, True
    for table in tables:
        missing = [c for c in table.column_names if table[c].null_count]
        if missing:  # a null would be written bare; the release writes ? or ""
            raise ValueError(f"release rows with nulls in {', '.join(missing)}")
        buf = pa.BufferOutputStream()
        pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(
            include_header=header, quoting_style="all_valid", batch_size=65_536))
        sink.write(memoryview(buf.getvalue()))
        n, header = n + table.num_rows, False
    return n


def _text(values: pa.Array | pa.ChunkedArray, missing: str = RELEASE_MISSING) -> pa.Array:
    """Values as text, a null written as ``missing``."""
    return pc.fill_null(values.cast(pa.string()), missing)


def _release_rows(world: Education, table: str) -> Iterator[pa.Table]:
    """The release's rows of one file, in its columns; the clickstream a day at a time."""
    columns = list(RELEASE[table][0])
    if table == "studentVle":
        for d in range(PRESENTATION_DAYS):
            yield world.clicks(d).select(columns)
        return
    if table == "courses":
        rows = world.courses
    elif table == "assessments":  # an exam without a fixed date: ?
        a = world.assessments
        rows = a.set_column(a.schema.get_field_index("date"), "date", _text(a["date"]))
    elif table == "vle":  # material without a planned week: ?
        rows = world.vle
        for name in ("week_from", "week_to"):
            rows = rows.set_column(rows.schema.get_field_index(name), name, _text(rows[name]))
    elif table == "studentAssessment":
        rows = _release_submissions(world)
    else:
        rows = _release_students(world)[table]
    yield rows.select(columns)


def _release_students(world: Education) -> dict[str, pa.Table]:
    """studentInfo and studentRegistration: one row per student (the final state, a
    withdrawal's date included), ordered by module presentation and student."""
    s = world.students
    order = np.lexsort((s["id"], s["mp"]))
    info = world.student_info(order)
    imd = info["imd_band"]
    imd = pc.if_else(pc.equal(imd, "10-20%"), "10-20", imd)  # the release's spelling
    info = info.set_column(info.schema.get_field_index("imd_band"), "imd_band", _text(imd))
    regs = world.registrations(order, with_unreg=True)
    rng = _rng(world.seed, "release", "date_registration")
    n = world.n_students
    unknown = np.zeros(n, dtype=bool)
    unknown[rng.choice(n, max(1, round(n * NO_REGISTRATION_DATE)), replace=False)] = True
    registered = pa.array(s["reg"][order], pa.int32(), mask=unknown[order])
    regs = regs.set_column(regs.schema.get_field_index("date_registration"),
                           "date_registration", _text(registered))
    regs = regs.set_column(regs.schema.get_field_index("date_unregistration"),
                           "date_unregistration", _text(regs["date_unregistration"], ""))
    return {"studentInfo": info, "studentRegistration": regs}


def _release_submissions(world: Education) -> pa.Table:
    """Every submission of the presentation; a score not marked: ?"""
    sub = world.submissions
    score = sub["score"]
    unmarked = np.isnan(score)
    return pa.table({
        "id_assessment": pa.array(sub["id_assessment"], pa.int64()),
        "id_student": pa.array(sub["id_student"], pa.int64()),
        "date_submitted": pa.array(sub["date_submitted"], pa.int32()),
        "is_banked": pa.array(sub["is_banked"], pa.int32()),
        "score": _text(pa.array(np.where(unmarked, 0, score).astype(np.int32), pa.int32(),
                                mask=unmarked)),
    })
