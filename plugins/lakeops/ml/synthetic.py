"""Synthetic but learnable training-mart rows for a model spec (tests, demos, benchmarks).

The rows have every column the spec names (keys, time, features, label) and a known
relationship: the predicted class grows with :func:`signal_feature` and shrinks with every
engagement feature; sensitive columns play no part. No lake, no dbt needed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from lakeops.ml.specs import ModelSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# a few values per categorical column: every group keeps enough rows for the slice checks
VOCAB: dict[str, tuple[str, ...]] = {
    "gender": ("F", "M"),
    "disability": ("N", "Y"),
    "imd_band": ("0-10%", "10-20", "20-30%"),
    "age_band": ("0-35", "35-55", "55<="),
    "region": ("East Anglian Region", "Scotland", "Wales"),
    "highest_education": ("A Level or Equivalent", "HE Qualification",
                          "Lower Than A Level"),
    "code_module": ("AAA", "BBB", "CCC"),
    "code_presentation": ("2013J", "2014B"),
    "segment": ("consumer", "smb", "enterprise"),
    "country": ("DE", "FR", "NL"),
    "city": ("Berlin", "Paris", "Amsterdam"),
}


def signal_feature(spec: ModelSpec) -> str:
    """The numeric feature that raises the predicted class (the first non-engagement one)."""
    return next(c for c in spec.numeric if c not in spec.engagement)


def training_rows(spec: ModelSpec, *, entities: int = 400, times: int = 10, seed: int = 0,
                  noise: float = 0.5) -> pd.DataFrame:
    """``entities`` x ``times`` labelled rows shaped like ``spec.training_mart``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = entities * times
    frame = pd.DataFrame({
        spec.id_column: np.tile(np.arange(1, entities + 1), times),
        spec.time_column: _times(spec, times).repeat(entities),
    })
    for col in spec.numeric:
        frame[col] = rng.gamma(2.0, 5.0, n).round(1)
    for col in (*spec.categorical, *spec.keys):
        if col not in frame:
            vocab = VOCAB.get(col, ("a", "b", "c"))
            frame[col] = np.asarray(vocab, dtype=object)[rng.integers(0, len(vocab), n)]

    def z(col: str) -> np.ndarray:
        values = frame[col].to_numpy(dtype="float64")
        return np.asarray((values - values.mean()) / (values.std() or 1.0))

    engagement = sum(z(c) for c in spec.engagement) / max(1, len(spec.engagement)) ** 0.5
    logit = -1.0 + 2.0 * z(signal_feature(spec)) - 1.0 * engagement \
        + rng.normal(0.0, noise, n)
    event = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    frame[spec.label] = event if spec.positive else ~event
    return frame


def _times(spec: ModelSpec, times: int) -> np.ndarray:
    import numpy as np

    if spec.time_column.endswith("_date"):
        start = date(2024, 1, 1)
        return np.array([start + timedelta(days=7 * i) for i in range(times)], dtype=object)
    return np.arange(times, dtype="int64") * 7  # a relative day, as in the education mart
