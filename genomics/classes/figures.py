"""The class figure: the clustered sample on its first two principal components."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from genomics.classes.model import ClassModel

__all__ = ["plot_pca"]


def plot_pca(model: ClassModel, *, max_points: int = 20_000, seed: int = 0) -> Figure:
    """PCA 1 vs 2 of the sampled bins, coloured by class (unassigned in light grey).

    Parameters
    ----------
    max_points : draw at most this many bins (a seeded subsample).

    Returns
    -------
    matplotlib.figure.Figure (nothing saved: see :func:`genomics.classes.files.save_figure`).
    """
    pcs, labels = model.sample_pcs, model.sample_labels
    if len(pcs) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(pcs), max_points, replace=False))
        pcs, labels = pcs[keep], labels[keep]
    fig = Figure(figsize=(7.5, 6))
    ax = fig.add_subplot()
    second = pcs[:, 1] if pcs.shape[1] > 1 else np.zeros(len(pcs))
    out = labels < 0
    ax.scatter(pcs[out, 0], second[out], s=2, c="#d0d0d0", label="unassigned", rasterized=True)
    cmap = _colours(model.n_classes)
    for i in range(model.n_classes):
        at = labels == i
        ax.scatter(
            pcs[at, 0],
            second[at],
            s=2,
            color=cmap[i],
            label=f"{i} {model.names[i]}",
            rasterized=True,
        )
    var = model.info.get("explained_variance", [])
    ax.set_xlabel("PC 1" + (f" ({100 * var[0]:.0f}% of variance)" if var else ""))
    ax.set_ylabel("PC 2" + (f" ({100 * var[1]:.0f}% of variance)" if len(var) > 1 else ""))
    ax.set_title(f"{model.n_classes} classes, {len(model.sample_pcs):,} sampled bins")
    ax.legend(markerscale=4, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def _colours(k: int) -> list:
    from matplotlib import colormaps

    name = "tab10" if k <= 10 else "tab20"
    cmap = colormaps[name]
    return [cmap(i % cmap.N) for i in range(k)]
