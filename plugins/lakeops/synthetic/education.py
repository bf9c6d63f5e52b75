"""The education world: OULAD-shaped students, courses, assessments and clickstream.

Scale 1.0 is OULAD's size: ~32.6k students, ~10.6M clickstream rows over a 269-day
presentation. Every module presentation starts on the first delivery day, so OULAD's
relative day columns equal the delivery day index. 90 % of students register before the
start (their studentInfo and studentRegistration rows arrive on day 0), the rest in the
first 25 days. A withdrawal arrives as a new studentRegistration row for the same key
carrying ``date_unregistration`` on the day it happens (a change record, as real feeds
send). ``final_result`` carries the simulated outcome, as OULAD's studentInfo does.

The population (students, registrations, submissions) is drawn from the seed alone and each
day's clickstream from ``(seed, day)``, so a seed gives the same rows and a day's rows do
not depend on which days were drawn before. The ``engagement_drop`` drift makes the
students of the first module presentation click ~60 % less from ``drift_day``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pyarrow as pa

from lakeops.synthetic.draws import fake_people, seeded_rng, weighted_choice

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
TEXT_ATTRS = ("gender", "region", "highest_education", "imd_band", "age_band", "disability")


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
        rng = seeded_rng(self.seed, "courses")
        lengths = rng.integers(234, PRESENTATION_DAYS + 1, len(self.mp))
        return pa.table({
            "code_module": [m for m, _ in self.mp],
            "code_presentation": [c for _, c in self.mp],
            "module_presentation_length": pa.array(lengths, pa.int32()),
        })

    @cached_property
    def assessments(self) -> pa.Table:
        rng = seeded_rng(self.seed, "assessments")
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
        rng = seeded_rng(self.seed, "vle")
        per_mp = max(20, round(6364 / 22 * min(1.0, self.scale ** 0.25)))
        n = per_mp * len(self.mp)
        mp_idx = np.repeat(np.arange(len(self.mp)), per_mp)
        week_from = np.where(rng.random(n) < 0.15, rng.integers(0, 38, n), -1)
        return pa.table({
            "id_site": pa.array(526_000 + np.arange(n) * 7, pa.int64()),
            **self.mp_columns(mp_idx),
            "activity_type": weighted_choice(rng, ACTIVITY_TYPES, n),
            "week_from": pa.array(week_from, pa.int32(), mask=week_from < 0),
            "week_to": pa.array(week_from + 2, pa.int32(), mask=week_from < 0),
        })

    @cached_property
    def students(self) -> dict[str, np.ndarray]:
        """One row per student: the module presentation, outcome, days of their life."""
        rng = seeded_rng(self.seed, "students")
        n = self.n_students
        ids = 6_000 + rng.permutation(np.arange(n) * 11 + 5)  # unique, OULAD-like ints
        mp = rng.integers(0, len(self.mp), n)
        result = weighted_choice(rng, RESULTS, n)
        late = rng.random(n) < 0.10
        reg = np.where(late, rng.integers(1, 26, n), -rng.integers(0, 120, n))
        length = np.asarray(self.courses["module_presentation_length"].to_pylist())[mp]
        unreg = np.where(result == "Withdrawn",
                         np.maximum(reg, 0) + (rng.random(n) * (length - 10)).astype(int) + 1,
                         -1)
        engagement = rng.lognormal(0.0, 0.5, n) * np.vectorize(ENGAGEMENT.get)(result)
        return {"id": ids, "mp": mp, "result": result, "reg": reg, "unreg": unreg,
                "engagement": engagement, "length": length, **fake_people(rng, n, ids)}

    def student_info(self, idx: np.ndarray) -> pa.Table:
        s, rng = self.students, seeded_rng(self.seed, "info")
        n_all = self.n_students
        attrs = {
            "gender": np.where(rng.random(n_all) < 0.55, "M", "F"),
            "region": np.asarray(REGIONS)[rng.integers(0, len(REGIONS), n_all)],
            "highest_education": weighted_choice(rng, EDUCATION, n_all),
            "imd_band": np.where(rng.random(n_all) < 0.03, None,  # type: ignore[call-overload]
                                 np.asarray(IMD, dtype=object)[rng.integers(0, 10, n_all)]),
            "age_band": weighted_choice(rng, AGE, n_all),
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
        rng = seeded_rng(self.seed, "submissions")
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
        rng = seeded_rng(self.seed, "clicks", d)
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
