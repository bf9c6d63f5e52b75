"""Each bad delivery gives a clear error or a quarantine, keeps the file, loses no good row."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.ingest.errors import SchemaMismatch, UndecodableDelivery
from lakeops.ingest.rules import RULE_CAST, RULE_MALFORMED
from lakeops.storage.lake import Lake

CORPUS = Path(__file__).parent / "bad_deliveries"
DAY = "2024-10-01"
SOURCE = {"studentVle": "education", "studentInfo": "education", "orders": "business",
          "products": "business", "studentAssessment": "education"}

# case -> (rows written, {rule: rejected rows}) or the error and a message fragment
QUARANTINED = {
    "malformed_csv": (1, {RULE_MALFORMED: 1}),
    "extra_column": (2, {}),
    "wrong_types": (1, {RULE_CAST: 3}),
    "broken_line": (2, {RULE_MALFORMED: 1}),
    "gzip_csv": (3, {RULE_CAST: 1}),
    "zipped_csv": (3, {RULE_CAST: 1}),
    "crlf_lines": (2, {RULE_MALFORMED: 1}),
    # OULAD's "?" is a missing marker of the columns whose contract says so (score), a
    # value that is not a number elsewhere (date_submitted)
    "missing_marker": (2, {RULE_CAST: 1}),
    # the release's own format: BOM, every field quoted, no contact columns (optional),
    # "10-20" for the imd band 10-20%, "?" for a missing band; "?" as a student id is bad
    "bom_release": (3, {RULE_CAST: 1}),
    "reordered_header": (2, {}),
    "header_only": (0, {}),
    # quoted fields holding the delimiter and doubled quotes, quoted and bare lines mixed
    "quoted_fields": (2, {}),
    # whole-row problems the validation stage owns: ingestion must keep every row
    "duplicate_keys": (3, {}),
    "orphan_foreign_keys": (2, {}),
    "future_dates": (2, {}),
}
FAILED = {
    "missing_column": (SchemaMismatch, r"lacks column\(s\) sum_click"),
    "empty_file": (SchemaMismatch, "empty file"),
    "truncated_parquet": (SchemaMismatch, "cannot read Parquet"),
    "broken_zip": (SchemaMismatch, r"broken_zip__studentVle.zip: cannot read the zip"),
    "not_gzip": (SchemaMismatch, r"not_gzip__studentVle.csv.gz: cannot read the file"),
    # a file that does not decode as its contract's encoding is refused whole
    "non_utf8": (UndecodableDelivery,
                 r"not utf-8 text .*non_utf8__studentInfo.csv line 2"),
}


def _deliver(settings: Settings, case: str) -> tuple[Lake, str, str, str]:
    (path,) = CORPUS.glob(f"{case}__*")
    table = path.name.split("__")[1].split(".")[0]
    source = SOURCE[table]
    inbox = f"landing/{source}/{table}/{DAY}/{path.name}"
    Lake.landing(settings).write_bytes(inbox, path.read_bytes())
    return Lake.from_settings(settings), source, table, inbox


def test_every_corpus_file_has_an_expectation() -> None:
    cases = {p.name.split("__")[0] for p in CORPUS.glob("*__*")}
    assert cases == set(QUARANTINED) | set(FAILED)


@pytest.mark.parametrize("case", sorted(QUARANTINED))
def test_bad_rows_are_quarantined_good_rows_land(settings: Settings, case: str) -> None:
    lake, source, table, inbox = _deliver(settings, case)
    written, rules = QUARANTINED[case]

    m = ingest.ingest_table(source, table, DAY, settings)

    assert m["rows_written"] == written
    assert m["rejected_by_rule"] == rules
    assert m["rows_in"] == m["rows_written"] + m["rows_rejected"]
    assert lake.read_partition("raw", f"{source}/{table}", DAY).num_rows == written
    rejects = lake.read_partition("quarantine", f"{source}/{table}", DAY,
                                  name=ingest.QUARANTINE_FILE).to_pylist()
    assert all(r["_reason"] and r["_rule"] for r in rejects)
    # the delivery is kept byte for byte
    archived = m["files"][0]["archived_to"]
    assert Lake.landing(settings).read_bytes(archived) == (CORPUS / Path(inbox).name).read_bytes()
    if case == "extra_column":
        assert "browser" in m["warnings"][0]
    if case == "non_utf8":
        assert "Ren" not in str(rejects) and "rene@" not in str(rejects)
    if case == "crlf_lines":  # the line as delivered, without its line break
        assert [r["_record"] for r in rejects] == ["AAA,2024J,11392,546669,0,4,9"]
    if case == "zipped_csv":  # a reject names the member it came from; junk is skipped
        assert [r["_source_file"] for r in rejects] == [f"{Path(inbox).name}/b.csv"]
        assert any("__MACOSX/._a.csv" in w for w in m["warnings"])
    if case == "missing_marker":
        scores = lake.read_partition("raw", f"{source}/{table}", DAY).column("score")
        assert scores.to_pylist() == [78.0, None]
        assert "date_submitted" in rejects[0]["_reason"]
    if case == "bom_release":
        raw = lake.read_partition("raw", f"{source}/{table}", DAY)
        assert raw.column("imd_band").to_pylist() == ["90-100%", "10-20%", None]
        assert raw.column("email_hash").null_count == raw.num_rows == 3
        # counted over the rows written (the rejected line is quarantined as delivered)
        assert m["normalized"] == {"imd_band": {"10-20 -> 10-20%": 1}}
        (warning,) = m["warnings"]
        assert "optional column(s) absent, read as null: first_name, last_name, email" in warning
        assert rejects[0]["_line"] == 5 and "id_student" in rejects[0]["_reason"]
    if case == "reordered_header":
        raw = lake.read_partition("raw", f"{source}/{table}", DAY).sort_by("id_student")
        assert raw.select(["id_student", "date", "sum_click"]).to_pylist() == [
            {"id_student": 11391, "date": 0, "sum_click": 4},
            {"id_student": 11392, "date": 1, "sum_click": 9}]
    if case == "quoted_fields":
        raw = lake.read_partition("raw", f"{source}/{table}", DAY)
        assert "address" not in raw.column_names and "last_name" not in raw.column_names
        assert raw.column("date_of_birth_year").to_pylist() == [1990, 1999]


@pytest.mark.parametrize("case", sorted(FAILED))
def test_unreadable_delivery_fails_clearly_and_is_kept(settings: Settings, case: str) -> None:
    lake, source, table, inbox = _deliver(settings, case)
    error, message = FAILED[case]

    with pytest.raises(error, match=message):
        ingest.ingest_table(source, table, DAY, settings)

    assert Lake.landing(settings).read_bytes(inbox) == (CORPUS / Path(inbox).name).read_bytes()
    assert not lake.exists(f"raw/{source}/{table}/dt={DAY}/part-0.parquet")
