"""Seeded random draws shared by the synthetic worlds and the release writer.

Every draw starts from a generator seeded by ``(seed, *parts)``: the seed alone decides
the numbers, and naming the parts (``"students"``, ``("clicks", day)`` ...) keeps one
stream from shifting another when it draws more or less. The made-up people (names,
e-mail, date of birth, address) come from short fixed lists, so every value is fake.
"""

from __future__ import annotations

import hashlib

import numpy as np

FIRST = ("Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Freya", "Leo",
         "Sophia", "Harry", "Grace", "Oscar", "Lily", "Jack", "Aoife", "Cian", "Niamh", "Rhys")
LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Patel", "Murphy", "Walsh", "Evans", "Thomas", "Roberts", "Khan", "Lewis", "Byrne")
STREETS = ("High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue",
           "Victoria Road", "Green Lane", "Manor Road", "Kings Road", "Queens Walk")
TOWNS = ("Milton Keynes", "Leeds", "Bristol", "Glasgow", "Cardiff", "Norwich", "York",
         "Dublin", "Belfast", "Leicester", "Brighton", "Oxford")
DOMAINS = ("example.org", "example.com", "mail.example.net")


def seeded_rng(seed: int, *parts: object) -> np.random.Generator:
    """The generator of one named stream of ``seed``."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def weighted_choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...], n: int,
                    ) -> np.ndarray:
    """``n`` values drawn from ``(value, weight)`` pairs (weights need not sum to 1)."""
    values, weights = zip(*options, strict=True)
    p = np.asarray(weights, dtype=float)
    return np.asarray(values, dtype=object)[rng.choice(len(values), n, p=p / p.sum())]


def fake_people(rng: np.random.Generator, n: int, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Names, e-mail (unique through ``ids``), date of birth, street and town of ``n``
    made-up people."""
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
