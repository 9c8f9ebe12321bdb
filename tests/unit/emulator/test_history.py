"""Calendars, the transaction store and history building."""

from __future__ import annotations

import datetime as dt

import numpy as np

from emulator.analytics.calendar import day_of, iso, parse_day, period_of, period_start
from emulator.store import Store, Transactions, transaction_key
from emulator.work import history


def rows(ids: list[str], dates: list[str], quantities: list[float]) -> Transactions:
    """Transactions from plain lists (no prices)."""
    n = len(ids)
    return Transactions(
        np.array([transaction_key(i) for i in ids], dtype=np.int64),
        np.array([parse_day(d) for d in dates], dtype=np.int64),
        np.array(quantities, dtype=np.float64),
        np.full(n, np.nan),
        np.full(n, np.nan),
    )


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    """2024-07-03 (a Wednesday) is in the week of 2024-07-01 and the month of 2024-07-01."""
    day = np.array([day_of(dt.date(2024, 7, 3))], dtype=np.int64)
    assert iso(period_start(period_of(day, "W"), "W")) == ["2024-07-01"]
    assert iso(period_start(period_of(day, "M"), "M")) == ["2024-07-01"]
    assert iso(period_start(period_of(day, "D"), "D")) == ["2024-07-03"]


def test_dates_must_be_year_month_day() -> None:
    """Only YYYY-MM-DD (optionally with a time part) parses."""
    assert parse_day("2024-02-29") == day_of(dt.date(2024, 2, 29))
    assert parse_day("2024-02-29T10:00:00Z") == day_of(dt.date(2024, 2, 29))
    for bad in ("2023-02-29", "2024-2-29", "20240229", "", 20240229, None):
        assert parse_day(bad) is None


def test_a_merge_replaces_by_transaction_id_and_is_idempotent() -> None:
    """Same id replaces (last wins), new ids add, re-merging changes nothing."""
    store = Store()
    assert store.put("t", "d", rows(["a", "b"], ["2024-01-01", "2024-01-02"], [1, 2])) == (2, 0)
    assert store.put("t", "d", rows(["b", "c"], ["2024-01-02", "2024-01-05"], [5, 3])) == (1, 1)
    before = store.get("t", "d")
    assert store.put("t", "d", rows(["b", "c"], ["2024-01-02", "2024-01-05"], [5, 3])) == (0, 2)
    after = store.get("t", "d")
    assert before is not None
    assert after is not None
    assert np.array_equal(after.daily, before.daily)
    assert after.daily.tolist() == [1, 5, 0, 0, 3]


def test_tenants_do_not_share_datasets() -> None:
    """A dataset stored for one tenant does not exist for another."""
    store = Store()
    store.put("t1", "d", rows(["a"], ["2024-01-01"], [1]))
    assert store.get("t2", "d") is None


def test_history_fills_the_gap_to_today_with_zeros_and_keeps_the_current_period_apart() -> None:
    """Complete weeks up to last week; the current week's sales so far are 'recorded'."""
    store = Store()
    dates = ["2024-06-10", "2024-06-17", "2024-07-01", "2024-07-02"]
    store.put("t", "d", rows(["a", "b", "c", "d"], dates, [4, 6, 1, 2]))
    dataset = store.get("t", "d")
    assert dataset is not None
    result = history(dataset, "W", day_of(dt.date(2024, 7, 3)), None)
    assert result.values.tolist() == [4, 6, 0]  # weeks of 06-10, 06-17, 06-24
    assert result.recorded == 3.0
    assert iso(period_start(np.array([result.current_period]), "W")) == ["2024-07-01"]
