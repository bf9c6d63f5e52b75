"""The education world written as the published OULAD release lays it out
(``lakeops generate --format oulad-release``).

:func:`generate_release` writes the same education world as the daily deliveries (same
seed, same numbers), all at once rather than by day: ``courses.csv``, ``assessments.csv``,
``vle.csv``, ``studentInfo.csv``, ``studentRegistration.csv``, ``studentAssessment.csv``,
``studentVle.csv`` in a folder, or zipped as ``anonymisedData.zip``. The release's columns
in its order (no contact columns in studentInfo), every field and header quoted, LF line
ends; ``?`` for a missing imd_band, exam date, score, registration date (~0.15 % of
students, at least one) or planned week, an empty ``date_unregistration`` for a student who
did not withdraw, imd band ``10-20`` without its percent sign; the release's module
presentations (AAA..GGG in 2013B..2014J). One studentInfo and one studentRegistration row
per student (the final state), every submission, and every clickstream row of days 0..268,
written a day at a time (memory does not grow with the scale).

The release's file list and headers are :mod:`lakeops.onboarding.oulad_release`'s, the
same facts the onboarding checks a release against.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lakeops.onboarding.oulad_release import RELEASE, RELEASE_ZIP
from lakeops.synthetic.draws import seeded_rng
from lakeops.synthetic.education import PRESENTATION_DAYS, Education

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
    rng = seeded_rng(world.seed, "release", "date_registration")
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
