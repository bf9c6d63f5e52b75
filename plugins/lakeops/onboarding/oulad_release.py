"""Facts of the published OULAD release: where it is, its zip's name, its seven files with
their columns in order and their row counts.

The onboarding (:mod:`lakeops.onboarding.oulad`) checks a release against them and the
generator's release format (:mod:`lakeops.synthetic.release`) writes by them. They are
facts of one data set that no library carries, so they are written out here.
"""

from __future__ import annotations

DOWNLOAD_PAGE = "https://analyse.kmi.open.ac.uk/open_dataset"
RELEASE_ZIP = "anonymisedData.zip"
# table -> (the release's columns in order, its rows in the published release)
RELEASE: dict[str, tuple[tuple[str, ...], int]] = {
    "courses": (("code_module", "code_presentation", "module_presentation_length"), 22),
    "assessments": (("code_module", "code_presentation", "id_assessment", "assessment_type",
                     "date", "weight"), 206),
    "vle": (("id_site", "code_module", "code_presentation", "activity_type", "week_from",
             "week_to"), 6_364),
    "studentInfo": (("code_module", "code_presentation", "id_student", "gender", "region",
                     "highest_education", "imd_band", "age_band", "num_of_prev_attempts",
                     "studied_credits", "disability", "final_result"), 32_593),
    "studentRegistration": (("code_module", "code_presentation", "id_student",
                             "date_registration", "date_unregistration"), 32_593),
    "studentAssessment": (("id_assessment", "id_student", "date_submitted", "is_banked",
                           "score"), 173_912),
    "studentVle": (("code_module", "code_presentation", "id_student", "id_site", "date",
                    "sum_click"), 10_655_280),
}
