"""The demo's own statistics: periods, buckets, ADI/CV², Pareto shares, history per frequency."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from emulator.analytics.classification import demand_type as emulator_demand_type
from service.devkit import demo_stats
from service.devkit.demo_stats import Intermittency
from service.devkit.sample_data import generate


@pytest.mark.parametrize(
    ("day", "frequency", "start"),
    [
        (dt.date(2026, 9, 30), "D", dt.date(2026, 9, 30)),
        (dt.date(2026, 9, 30), "W", dt.date(2026, 9, 28)),  # a Wednesday: its ISO week's Monday
        (dt.date(2026, 9, 28), "W", dt.date(2026, 9, 28)),
        (dt.date(2026, 12, 31), "M", dt.date(2026, 12, 1)),
    ],
)
def test_a_period_is_named_by_its_first_day(day: dt.date, frequency: str, start: dt.date) -> None:
    """Days are their own period, weeks start on Monday, months on the 1st."""
    assert demo_stats.period_start(day, frequency) == start


def test_the_next_period_rolls_over_the_year_end() -> None:
    """December is followed by January of the next year; weeks advance by seven days."""
    assert demo_stats.next_period(dt.date(2026, 12, 1), "M") == dt.date(2027, 1, 1)
    assert demo_stats.next_period(dt.date(2026, 9, 28), "W") == dt.date(2026, 10, 5)


def test_an_unknown_frequency_is_refused() -> None:
    """Only D, W and M exist in the IO API."""
    with pytest.raises(ValueError, match="frequency"):
        demo_stats.period_start(dt.date(2026, 1, 1), "Q")


def test_weekly_buckets_drop_the_partial_first_and_last_week() -> None:
    """Wednesday to Wednesday three weeks later: the two whole weeks in between remain."""
    first = dt.date(2026, 9, 2)  # a Wednesday
    daily = [1.0] * 22
    rows = demo_stats.buckets(daily, first, "W")
    assert rows == [(dt.date(2026, 9, 7), 7.0), (dt.date(2026, 9, 14), 7.0)]


def test_partial_buckets_stay_when_fewer_than_two_whole_ones_would_remain() -> None:
    """Ten days from a Wednesday: trimming would leave one week, so nothing is trimmed."""
    rows = demo_stats.buckets([1.0] * 10, dt.date(2026, 9, 2), "W")
    assert [q for _, q in rows] == [5.0, 5.0]


def test_adi_is_buckets_per_non_zero_bucket_and_cv2_the_squared_variation_of_sizes() -> None:
    """Four buckets, two with demand 2 and 6: ADI 2, CV² = (2/4)² = 0.25 (population sd)."""
    found = demo_stats.intermittency([0.0, 2.0, 0.0, 6.0])
    assert found == Intermittency(2.0, 0.25)
    assert found is not None
    assert found.demand_type == "intermittent"


def test_a_series_without_demand_has_no_intermittency() -> None:
    """No non-zero bucket: ADI is undefined."""
    assert demo_stats.intermittency([0.0, 0.0]) is None


@pytest.mark.parametrize(
    ("adi", "cv2", "kind"),
    [
        (1.0, 0.1, "smooth"),
        (1.31, 0.49, "erratic"),
        (1.32, 0.48, "intermittent"),
        (3.0, 2.0, "lumpy"),
    ],
)
def test_the_syntetos_boylan_cuts_split_the_four_demand_types(
    adi: float, cv2: float, kind: str
) -> None:
    """ADI 1.32 and CV² 0.49 are the cuts; values on a cut belong to the upper side."""
    assert Intermittency(adi, cv2).demand_type == kind


def test_demand_types_from_the_sample_agree_with_the_emulators_classifier() -> None:
    """Same weekly buckets, same class as emulator.analytics.classification.demand_type."""
    data = generate(tenants=1, products=12, days=400, seed=11)
    window = demo_stats.sales_window(data.datasets)
    assert window is not None
    for dataset in data.datasets:
        weekly = [
            q for _, q in demo_stats.buckets(dataset.daily_quantities(*window), window[0], "W")
        ]
        mine = demo_stats.dataset_intermittency(dataset, window)
        assert mine is not None
        assert mine.demand_type == emulator_demand_type(np.array(weekly, dtype=np.float64))


def test_pareto_rows_are_sorted_by_total_with_cumulative_shares() -> None:
    """Descending totals, ties by id, the last share is 1; negative totals count as zero."""
    rows = demo_stats.pareto({"b": 30.0, "a": 30.0, "c": 40.0, "d": -5.0})
    assert [key for key, _, _ in rows] == ["c", "a", "b", "d"]
    assert [round(share, 2) for _, _, share in rows] == [0.4, 0.7, 1.0, 1.0]


def test_history_is_aggregated_to_the_forecast_frequency_up_to_the_sample_end() -> None:
    """Monthly history sums every sale of the whole months between first sale and the end."""
    data = generate(tenants=1, products=3, days=400, seed=5)
    dataset = data.datasets[0]
    months = demo_stats.history(dataset, "M", data.end)
    assert months[-1][0] == dt.date(2026, 9, 1)  # the sample ends on 2026-09-30
    in_range = [
        t.quantity for t in dataset.transactions if months[0][0] <= t.departure_date <= data.end
    ]
    assert sum(q for _, q in months) == sum(in_range)


def test_the_sales_window_spans_the_first_and_last_sale_of_all_datasets() -> None:
    """The classification's default date range (emulator/classify.py)."""
    data = generate(tenants=1, products=4, days=120, seed=2)
    window = demo_stats.sales_window(data.datasets)
    days = [t.departure_date for d in data.datasets for t in d.transactions]
    assert window == (min(days), max(days))
    assert demo_stats.sales_window([]) is None
