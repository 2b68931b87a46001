"""Benchmark figures: predicted against measured effects, one panel per track."""

from __future__ import annotations

import numpy as np

__all__ = ["scatter_figure"]


def scatter_figure(panels: list[tuple[str, np.ndarray, np.ndarray]], *, title: str = ""):
    """One scatter per ``(name, score, measured)``, shape (n,) each; returns a Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(n, 5)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, (name, x, y) in zip(axes.ravel(), panels, strict=False):
        ax.scatter(x, y, s=6, alpha=0.5, linewidths=0)
        ax.axhline(0, color="0.8", lw=0.5)
        ax.axvline(0, color="0.8", lw=0.5)
        ax.set_title(f"{name} (n={x.size})", fontsize=9)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("measured", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
