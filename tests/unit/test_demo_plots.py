"""The demo's plots, drawn from synthetic output events over real sample data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from service.devkit import demo_stats
from service.devkit.demo_outcomes import DatasetKey
from service.devkit.demo_plots import demand_points, plot_run, showcase
from service.devkit.sample_data import generate
from service.devkit.sample_model import Dataset, Pattern, SampleData

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fake_prediction(dataset: Dataset, end: Any) -> dict[str, Any]:
    """A prediction-ready body: the last eight periods' mean, ±30 %, continuing the history."""
    frequency = dataset.forecast.frequency
    past = demo_stats.history(dataset, frequency, end)
    mean = sum(q for _, q in past[-8:]) / 8
    start, steps = demo_stats.next_period(past[-1][0], frequency), []
    for _ in range(dataset.forecast.horizon):
        steps.append(
            {
                "date": start.isoformat(),
                "predictedQuantity": mean,
                "lowerQuantity": mean * 0.7,
                "upperQuantity": mean * 1.3,
            }
        )
        start = demo_stats.next_period(start, frequency)
    return {
        "frequency": frequency,
        "forecast": steps,
        "reorderPointSuggestion": {"quantity": mean * 3},
        "safetyStockSuggestion": {"quantity": mean},
    }


def fake_outputs(
    data: SampleData,
) -> tuple[dict[DatasetKey, dict[str, Any]], dict[DatasetKey, dict[str, Any]]]:
    predicted = {(d.tenant_id, d.dataset_id): fake_prediction(d, data.end) for d in data.datasets}
    classified = {}
    for d in data.datasets:
        if d.has_prices:
            abc = "A" if d.revenue > 50_000 else "C"
            classified[d.tenant_id, d.dataset_id] = {"abcCategory": abc, "demandType": "smooth"}
    return predicted, classified


@pytest.fixture(scope="module")
def sample() -> SampleData:
    return generate(tenants=2, products=8, days=400, seed=3)


def test_every_plot_is_a_real_png_image(sample: SampleData, tmp_path: Path) -> None:
    """A forecast grid per tenant, the Pareto chart and the demand-type scatter, all valid PNGs."""
    predicted, classified = fake_outputs(sample)
    written = plot_run(sample, predicted, classified, tmp_path)
    assert [p.name for p in written] == [
        "forecasts-tenant-001.png",
        "forecasts-tenant-002.png",
        "abc-pareto.png",
        "demand-types.png",
    ]
    for path in written:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert path.stat().st_size > 10_000
        with Image.open(path) as image:
            image.verify()
            assert min(image.size) >= 300


def test_without_classifications_only_the_forecasts_are_drawn(
    sample: SampleData, tmp_path: Path
) -> None:
    """No classification-ready events (real API, classification off): no ABC or demand plots."""
    predicted, _ = fake_outputs(sample)
    written = plot_run(sample, predicted, {}, tmp_path)
    assert all(p.name.startswith("forecasts-") for p in written)


def test_the_showcase_picks_different_patterns_with_a_fitting_frequency(sample: SampleData) -> None:
    """Up to four datasets, each of another pattern, all with a forecast."""
    predicted, _ = fake_outputs(sample)
    chosen = showcase(sample.of_tenant("tenant-001"), predicted)
    assert 1 <= len(chosen) <= 4
    assert len({d.pattern for d in chosen}) == len(chosen)
    assert chosen[0].pattern in (Pattern.WEEKLY_SEASONAL, Pattern.YEARLY_SEASONAL)
    assert showcase(sample.datasets, {}) == []


def test_demand_points_pair_the_samples_adi_and_cv2_with_the_apis_type(sample: SampleData) -> None:
    """One point per classified dataset; unclassified datasets are left out."""
    _, classified = fake_outputs(sample)
    points = demand_points(sample, classified)
    assert len(points) == len(classified)
    assert all(p.adi >= 1.0 and p.cv2 >= 0.0 and given == "smooth" for p, given in points)
