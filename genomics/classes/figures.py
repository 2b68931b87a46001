"""Class figures: the clustered sample on its first two principal components; the
enrichment of classes in annotation states."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from genomics.classes.annotation import Enrichment
from genomics.classes.model import ClassModel

__all__ = ["plot_annotation", "plot_enrichment", "plot_pca"]

CELL_TEXT_MAX = 400  # heat maps with at most this many cells write each value in its cell


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


def plot_enrichment(
    log2: np.ndarray,
    states: list[str],
    row_labels: list[str],
    *,
    title: str | None = None,
    xlabel: str = "annotation state",
) -> Figure:
    """Heat map of log2(observed / expected) bins, rows (classes, or annotations) by states.

    Parameters
    ----------
    log2 : np.ndarray, shape (r, s), float; NaN cells (a state an annotation lacks) blank.
    states : length s; row_labels : length r.

    Returns
    -------
    matplotlib.figure.Figure; red above expected, blue below, the value in each cell when
    there are at most ``CELL_TEXT_MAX`` cells.
    """
    log2 = np.asarray(log2, dtype=np.float64)
    r, s = log2.shape
    finite = log2[np.isfinite(log2)]
    lim = max(float(np.abs(finite).max()) if finite.size else 0.0, 1.0)
    fig = Figure(figsize=(max(5.0, 0.42 * s + 3.5), 0.38 * r + 2.4), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(log2, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(s), [str(x) for x in states], rotation=90, fontsize=8)
    ax.set_yticks(np.arange(r), [str(c) for c in row_labels], fontsize=8)
    ax.set_xlabel(xlabel)
    if r * s <= CELL_TEXT_MAX:
        for (i, j), v in np.ndenumerate(log2):
            if np.isfinite(v):
                dark = abs(v) > 0.6 * lim
                ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=6,
                        color="white" if dark else "black")  # fmt: skip
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="log2(observed / expected)", shrink=0.8)
    return fig


def plot_annotation(e: Enrichment, class_labels: list[str]) -> Figure:
    """:func:`plot_enrichment` of one annotation: classes x its states (named where the
    name differs from the label; ``(none)`` left out when no bin lacks a state), its AMI
    in the title."""
    keep = [j for j in range(len(e.states)) if j < len(e.states) - 1 or e.counts[:, j].any()]
    states = [
        e.states[j] if e.states[j] == e.names[j] else f"{e.states[j]} {e.names[j]}" for j in keep
    ]
    return plot_enrichment(
        e.log2[:, keep], states, class_labels, title=f"{e.name}: AMI {e.ami:.3f}"
    )
