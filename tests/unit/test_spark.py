"""The spark-submit command line a feature job runs by (the jobs themselves, in Spark, are
checked in tests/data/test_features.py)."""

from __future__ import annotations

from lakeops.core.settings import Settings


def test_the_command_names_every_interval_once_oldest_first(settings: Settings) -> None:
    from lakeops.transform.spark import submit_command

    cmd = submit_command("education_features", ["2024-10-03", "2024-10-01", "2024-10-03"],
                         settings)
    assert cmd[-4:] == ["--interval", "2024-10-01", "--interval", "2024-10-03"]
    assert submit_command("education_features", "2024-10-01", settings)[-2:] == [
        "--interval", "2024-10-01"]
