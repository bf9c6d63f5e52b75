"""Drift measures computed without Evidently: PSI is small for the same distribution
and large for a shift (the monitor's reports and tables, with Evidently, are checked in
tests/data/test_ml_monitor.py)."""

from __future__ import annotations

import numpy as np

from lakeops.ml import drift


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 5000)
    assert drift.psi(ref, rng.normal(0, 1, 5000), categorical=False) < 0.05
    assert drift.psi(ref, rng.normal(1, 1, 5000), categorical=False) > 0.2
    cats = rng.choice(["a", "b"], 2000, p=[0.5, 0.5])
    assert drift.psi(cats, rng.choice(["a", "b"], 2000, p=[0.5, 0.5]), categorical=True) < 0.05
    assert drift.psi(cats, rng.choice(["a", "b", "c"], 2000, p=[0.2, 0.3, 0.5]),
                   categorical=True) > 0.2
    assert np.isnan(drift.psi([], [1.0], categorical=False))
