"""Transforms: Spark feature jobs and the dbt project, run against the lake."""
