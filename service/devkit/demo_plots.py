"""PNG plots of a demo run (matplotlib's object API on the Agg canvas: no pyplot, no display).

- ``forecasts-<tenant>.png``: for a few products of different demand patterns, the sales
  history aggregated to the forecast frequency, the forecast with its uncertainty band
  (``lowerQuantity``..``upperQuantity``), and the suggested reorder point and safety stock (stock
  levels, so on their own axis).
- ``abc-pareto.png``: per tenant, revenue per product in descending order coloured by the ABC
  class the API gave, with the cumulative share and the 80 % / 95 % cuts.
- ``demand-types.png``: every classified product at its ADI and CV², computed here from the
  sample, coloured by the demand type the API gave, with the Syntetos-Boylan cuts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from service.devkit import demo_stats
from service.devkit.demo_outcomes import DatasetKey
from service.devkit.sample_model import Dataset, Pattern, SampleData

Json = Mapping[str, Any]
ABC_COLOURS = {"A": "#1b7837", "B": "#f1a340", "C": "#b2182b"}
TYPE_COLOURS = {
    "smooth": "#1f77b4",
    "erratic": "#ff7f0e",
    "intermittent": "#2ca02c",
    "lumpy": "#d62728",
}
# Patterns shown first in the forecast grid: the most telling shapes.
SHOWCASE = (
    Pattern.WEEKLY_SEASONAL,
    Pattern.YEARLY_SEASONAL,
    Pattern.TRENDING_UP,
    Pattern.INTERMITTENT,
    Pattern.SMOOTH,
    Pattern.TRENDING_DOWN,
    Pattern.LUMPY,
)
PREFERRED_FREQUENCY = {Pattern.WEEKLY_SEASONAL: "D", Pattern.YEARLY_SEASONAL: "W"}
HISTORY_PERIODS = {"D": 120, "W": 78, "M": 24}
GREY, BLUE, PURPLE = "#888888", "#1f77b4", "#6a3d9a"


def save(figure: Figure, path: Path, dpi: int = 100) -> Path:
    """Render on the Agg canvas and write a PNG."""
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=dpi)
    return path


def showcase(
    datasets: Sequence[Dataset], predicted: Mapping[DatasetKey, Json], n: int = 4
) -> list[Dataset]:
    """Up to ``n`` predicted datasets of different patterns, most telling patterns first.

    Within a pattern, a dataset forecast at the frequency that shows the pattern is preferred
    (a weekly cycle is invisible in weekly totals).
    """
    chosen: list[Dataset] = []
    for pattern in SHOWCASE:
        candidates = [
            d
            for d in datasets
            if d.pattern is pattern
            and predicted.get((d.tenant_id, d.dataset_id), {}).get("forecast")
        ]
        best = PREFERRED_FREQUENCY.get(pattern)
        candidates.sort(key=lambda d: (d.forecast.frequency != best, d.dataset_id))
        chosen += candidates[:1]
    return chosen[:n]


def forecast_figure(
    items: Sequence[tuple[Dataset, Json]], title: str, end: dt.date | None = None
) -> Figure:
    """A grid of forecast panels, one per (dataset, prediction-ready data)."""
    cols = 2 if len(items) > 1 else 1
    rows = max(1, (len(items) + cols - 1) // cols)
    figure = Figure(figsize=(6.4 * cols, 3.6 * rows), layout="constrained")
    figure.suptitle(title)
    for i, (dataset, prediction) in enumerate(items):
        forecast_panel(figure.add_subplot(rows, cols, i + 1), dataset, prediction, end)
    return figure


def forecast_panel(
    ax: Axes, dataset: Dataset, prediction: Json, end: dt.date | None = None
) -> None:
    """History (to ``end``), forecast and band on ``ax``; reorder point and safety stock on a
    twin axis."""
    frequency = str(prediction.get("frequency", dataset.forecast.frequency))
    past = demo_stats.history(dataset, frequency, end)[-HISTORY_PERIODS.get(frequency, 78) :]
    steps = list(prediction.get("forecast") or [])
    dates = _days(str(s["date"])[:10] for s in steps)
    ax.plot(
        _days(d.isoformat() for d, _ in past), [q for _, q in past], color=GREY, lw=1, label="sales"
    )
    ax.fill_between(
        dates,
        [float(s["lowerQuantity"]) for s in steps],
        [float(s["upperQuantity"]) for s in steps],
        color=BLUE,
        alpha=0.25,
        lw=0,
        label="interval",
    )
    forecast = [float(s["predictedQuantity"]) for s in steps]
    ax.plot(dates, forecast, color=BLUE, lw=1.6, label="forecast")
    ax.set_title(f"{dataset.dataset_id} ({dataset.pattern.value}, per {frequency})", fontsize=10)
    ax.set_ylabel("units per period")
    ax.set_ylim(bottom=0)
    locator = AutoDateLocator(maxticks=8)  # type: ignore[no-untyped-call] # untyped in mpl
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    _stock_levels(ax, prediction, dates)
    ax.legend(loc="upper left", fontsize=8)


def _days(texts: Iterable[str]) -> npt.NDArray[np.datetime64]:
    return np.array(list(texts), dtype="datetime64[D]")


def _stock_levels(ax: Axes, prediction: Json, dates: npt.NDArray[np.datetime64]) -> None:
    """Suggested stock levels as flat lines over the forecast horizon (units of stock)."""
    levels = {
        "reorder point": prediction.get("reorderPointSuggestion"),
        "safety stock": prediction.get("safetyStockSuggestion"),
    }
    shown = {name: float(s["quantity"]) for name, s in levels.items() if s}
    if not shown or dates.size == 0:
        return
    twin = ax.twinx()
    span = dates[[0, -1]]
    for (name, value), style in zip(shown.items(), ("--", ":"), strict=False):
        label = f"{name} {value:.0f}"
        twin.plot(span, [value, value], color=PURPLE, ls=style, lw=1.4, label=label)
    twin.set_ylim(0, max(max(shown.values()) * 1.4, 1.0))
    twin.set_ylabel("stock level (units)", color=PURPLE, fontsize=8)
    twin.legend(loc="upper right", fontsize=8)


def pareto_figure(tenants: Sequence[tuple[str, dict[str, float], Mapping[str, str]]]) -> Figure:
    """One Pareto panel per (tenant, revenue per dataset, ABC class per dataset)."""
    figure = Figure(figsize=(6.0 * len(tenants), 4.2), layout="constrained")
    figure.suptitle("ABC classification by revenue (Pareto)")
    for i, (tenant, totals, classes) in enumerate(tenants):
        pareto_panel(figure.add_subplot(1, len(tenants), i + 1), tenant, totals, classes)
    return figure


def pareto_panel(
    ax: Axes, tenant: str, totals: dict[str, float], classes: Mapping[str, str]
) -> None:
    rows = demo_stats.pareto(totals)
    xs = list(range(1, len(rows) + 1))
    colours = [ABC_COLOURS.get(classes.get(key, ""), GREY) for key, _, _ in rows]
    ax.bar(xs, [total for _, total, _ in rows], color=colours, width=1.0)
    ax.set_title(tenant, fontsize=10)
    ax.set_xlabel("products by revenue")
    ax.set_ylabel("revenue")
    share = ax.twinx()
    share.plot(xs, [100 * cum for _, _, cum in rows], color="black", lw=1.2)
    for cut in (100 * demo_stats.A_SHARE, 100 * demo_stats.B_SHARE):
        share.axhline(cut, color=GREY, lw=0.8, ls="--")
    share.set_ylim(0, 102)
    share.set_ylabel("cumulative share (%)")
    for name, colour in ABC_COLOURS.items():
        ax.bar([0], [0], color=colour, label=name)
    ax.legend(title="ABC", loc="center right", fontsize=8)


def demand_figure(points: Sequence[tuple[demo_stats.Intermittency, str]]) -> Figure:
    """ADI (log) against CV² per classified product, coloured by the API's demand type."""
    figure = Figure(figsize=(7.0, 5.0), layout="constrained")
    ax = figure.add_subplot(1, 1, 1)
    for kind, colour in TYPE_COLOURS.items():
        mine = [p for p, given in points if given == kind]
        if mine:
            ax.scatter(
                [p.adi for p in mine],
                [p.cv2 for p in mine],
                s=18,
                color=colour,
                label=kind,
                alpha=0.8,
            )
    ax.axvline(demo_stats.ADI_CUT, color=GREY, ls="--", lw=0.8)
    ax.axhline(demo_stats.CV2_CUT, color=GREY, ls="--", lw=0.8)
    ax.set_xlabel("ADI (average inter-demand interval, weeks)")
    ax.set_ylabel("CV² of non-zero weekly demand")
    agree = sum(p.demand_type == given for p, given in points)
    ax.set_title(f"Demand types (API) vs ADI/CV² from the sample: {agree}/{len(points)} agree")
    if points:
        ax.legend(title="demand type (API)", fontsize=8)
    return figure


def plot_run(
    data: SampleData,
    predicted: Mapping[DatasetKey, Json],
    classified: Mapping[DatasetKey, Json],
    out: Path,
) -> list[Path]:
    """Every plot of a demo run into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for tenant in data.tenants:
        chosen = showcase(data.of_tenant(tenant), predicted)
        if chosen:
            items = [(d, predicted[d.tenant_id, d.dataset_id]) for d in chosen]
            title = f"{tenant}: forecasts with intervals and reorder points"
            figure = forecast_figure(items, title, data.end)
            written.append(save(figure, out / f"forecasts-{tenant}.png"))
    if classified:
        written.append(
            save(pareto_figure(_pareto_inputs(data, classified)), out / "abc-pareto.png")
        )
        written.append(
            save(demand_figure(demand_points(data, classified)), out / "demand-types.png")
        )
    return written


def _pareto_inputs(
    data: SampleData, classified: Mapping[DatasetKey, Json]
) -> list[tuple[str, dict[str, float], dict[str, str]]]:
    inputs = []
    for tenant in data.tenants:
        priced = [d for d in data.of_tenant(tenant) if d.has_prices]
        totals = {d.dataset_id: demo_stats.revenue(d) for d in priced}
        classes = {
            d.dataset_id: str(classified[tenant, d.dataset_id].get("abcCategory"))
            for d in priced
            if (tenant, d.dataset_id) in classified
        }
        if totals:
            inputs.append((tenant, totals, classes))
    return inputs


def demand_points(
    data: SampleData, classified: Mapping[DatasetKey, Json]
) -> list[tuple[demo_stats.Intermittency, str]]:
    """(ADI/CV² from the sample, the API's demand type) of each classified dataset."""
    points = []
    for tenant in data.tenants:
        priced = [d for d in data.of_tenant(tenant) if d.has_prices]
        window = demo_stats.sales_window(priced)
        for d in priced:
            given = classified.get((tenant, d.dataset_id), {}).get("demandType")
            found = demo_stats.dataset_intermittency(d, window) if window else None
            if found is not None and given:
                points.append((found, str(given)))
    return points
