"""The figure of ``rasteret demo``: NDVI small multiples of the AOI plus field curves.

Uses matplotlib's object API with the Agg canvas directly (no pyplot, no global backend
switch), so it never needs a display and never changes the caller's matplotlib state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_series"]

_FIELD_COLOURS = ("#1f77b4", "#d62728", "#9467bd", "#8c564b")


def plot_series(
    path: Path,
    ndvi: np.ndarray,
    dates: Sequence[dt.date],
    subtitles: Sequence[str],
    extent: tuple[float, float, float, float],
    fields: Mapping[str, tuple[float, float, Sequence[float]]],
    aoi_mean: Sequence[float],
    *,
    title: str = "",
) -> Path:
    """Save the small-multiples figure.

    Args:
        path: Output PNG.
        ndvi: ``[T, H, W]`` NDVI (NaN outside the AOI / no data).
        dates: One date per time step.
        subtitles: Second title line per panel (e.g. cloud cover).
        extent: ``(left, right, bottom, top)`` of the arrays in map units.
        fields: ``{name: (x, y, ndvi per date)}`` marked on the maps and drawn as curves.
        aoi_mean: Mean NDVI of the clear AOI pixels per date.
        title: Figure title.

    Returns:
        ``path``.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t = len(dates)
    ncols = min(4, max(t, 1))
    nrows = -(-t // ncols)
    fig = Figure(figsize=(2.7 * ncols + 0.7, 2.95 * nrows + 2.6), dpi=110)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(
        nrows + 1,
        ncols + 1,
        height_ratios=[1.0] * nrows + [1.05],
        width_ratios=[1] * ncols + [0.05],
    )
    cmap = colormaps["RdYlGn"].with_extremes(bad="#d9d9d9")
    im = None
    for i in range(t):
        ax = fig.add_subplot(gs[i // ncols, i % ncols])
        im = ax.imshow(
            ndvi[i], cmap=cmap, vmin=-0.2, vmax=0.9, extent=extent, interpolation="nearest"
        )
        ax.set_title(f"{dates[i]:%d %b %Y}\n{subtitles[i]}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for (name, (x, y, _vals)), colour in zip(fields.items(), _FIELD_COLOURS):
            ax.plot(x, y, marker="o", ms=5, mfc="none", mec=colour, mew=1.6)
            if i == 0:
                ax.annotate(
                    name,
                    (x, y),
                    xytext=(4, 4),
                    textcoords="offset points",
                    fontsize=7,
                    color=colour,
                    fontweight="bold",
                )
    if im is not None:
        cax = fig.add_subplot(gs[:nrows, ncols])
        fig.colorbar(im, cax=cax, label="NDVI")
    ax = fig.add_subplot(gs[nrows, :ncols])
    times = np.array([dt.datetime.combine(d, dt.time()) for d in dates], dtype="datetime64[s]")
    for (name, (_x, _y, vals)), colour in zip(fields.items(), _FIELD_COLOURS):
        ax.plot(times, vals, marker="o", color=colour, label=name)
    ax.plot(times, aoi_mean, marker="s", ls="--", color="#555555", label="whole AOI (clear px)")
    ax.set_ylabel("NDVI")
    ax.set_ylim(-0.1, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower center", ncols=4)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=0.06, right=0.93, top=0.9, bottom=0.06, hspace=0.35, wspace=0.06)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
