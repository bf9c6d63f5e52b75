"""The business world: a shop's customers, products, orders, order items and payments.

~20,000 orders a day at scale 1.0 (25 % more on weekend days). Customers arrive as a
snapshot of the existing accounts on day 0 (~20x the daily orders, signed up in the four
years before), then as each day's sign-ups (~1,700 a day at scale 1.0). Each customer
orders at a rate of their own, gamma-distributed: a consumer every 10 days on average, most
far less often and a few heavy buyers far more; small businesses twice and enterprises four
times as often. 60 % of sign-ups place an order on the day, and a customer lapses for good
at some point (after each order with a chance of 1 in 21, and besides about once in 540
days); sign-ups replace the lapsed, so the volumes hold. A day's orders go to the customers
active that day in proportion to their rates. So about half of the customers who order in a
month order more than once in it, and about 40 % of them do not order in the next month.
The product catalogue is a daily snapshot; orders come with their items and payments (a
failed payment is followed by a captured retry).

The daily volumes are drawn from the seed alone, a block of 64 days' sign-ups from
``(seed, block)`` and each day's orders from ``(seed, day)``, so a seed gives the same rows
and a day's rows do not depend on which days were drawn before. The ``price_change`` drift
makes electronics cost 25 % more from ``drift_day``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache, cached_property

import numpy as np
import pyarrow as pa

from lakeops.synthetic.draws import fake_people, seeded_rng, weighted_choice

CATEGORIES = ("books", "electronics", "home", "garden", "toys", "sports", "clothing", "grocery")
PRICE_RANGE = {"books": (4, 40), "electronics": (15, 900), "home": (5, 300),
               "garden": (5, 250), "toys": (3, 120), "sports": (8, 400),
               "clothing": (6, 180), "grocery": (1, 30)}
HORIZON = 3_660  # days of pre-drawn daily volumes: ten years of deliveries

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
        rng = seeded_rng(seed, "volumes")
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
        rng = seeded_rng(self.seed, "customers", "existing")
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
                rng = seeded_rng(self.seed, "customers", "signups", len(self._blocks))
                self._blocks.append(self._draw(rng, np.repeat(days, self.signups[days])))
            parts = [self.existing, *self._blocks]
            self._people = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self._people

    def customers(self, d: int) -> pa.Table:
        p = self.people(d)
        first = 0 if d == 0 else int(self.signed_up[d - 1])
        ids = np.arange(first + 1, int(self.signed_up[d]) + 1)
        count = len(ids)
        rng = seeded_rng(self.seed, "customers", "initial" if d == 0 else d)
        signup = np.datetime64(self.start) + p["signup"][ids - 1].astype("timedelta64[D]")
        people = fake_people(rng, count, ids)
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
        rng = seeded_rng(self.seed, "products")
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
        rng = seeded_rng(self.seed, "orders", d)
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
        status = weighted_choice(rng, (("placed", 0.55), ("shipped", 0.3), ("delivered", 0.1),
                               ("cancelled", 0.04), ("returned", 0.01)), n)
        orders = pa.table({
            "order_id": pa.array(order_id, pa.int64()),
            "customer_id": pa.array(customer, pa.int64()),
            "order_ts": pa.array(ts, pa.timestamp("us")),
            "status": status,
            "channel": weighted_choice(rng, (("web", 0.55), ("app", 0.35), ("store", 0.07),
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
            "method": weighted_choice(rng, (("card", 0.7), ("paypal", 0.2), ("bank_transfer", 0.05),
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
