"""Report figures: what defines a class, where it is, how variants move it.

Each function builds and returns a :class:`matplotlib.figure.Figure` without pyplot's
global state and saves nothing; :mod:`genomics.report.html` embeds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from genomics.evaluate.figures import OBSERVED, PREDICTED

__all__ = [
    "class_colours",
    "plot_bins_per_chrom",
    "plot_class_profile",
    "plot_class_sizes",
    "plot_locus",
    "plot_profile_heatmap",
    "plot_variant_deltas",
]

HIGHLIGHT = "#c4451c"
Z_LABEL = "mean predicted signal, z-score\n(coverage log1p; s.d. over the genome)"


def class_colours(k: int) -> list:
    """One colour per class (tab10, or tab20 past 10 classes)."""
    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def _top(values: np.ndarray, n: int) -> np.ndarray:
    return np.argsort(-values, kind="stable")[:n]


def plot_profile_heatmap(
    centroids: np.ndarray, track_names: Sequence[str], class_labels: Sequence[str], *, max_tracks=40
) -> Figure:
    """Classes x tracks heat strip of mean standardised predicted signal.

    Parameters
    ----------
    centroids : np.ndarray, shape (k, t), float; mean z-score per class and track.
    class_labels : list of str, length k.
    max_tracks : with more tracks, only the ones that rank highest in some class are drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    z = np.asarray(centroids, dtype=np.float64)
    k, t = z.shape
    cols = np.arange(t)
    if t > max_tracks:
        per = max(1, max_tracks // max(k, 1))
        cols = np.unique(np.concatenate([_top(row, per) for row in z]))[:max_tracks]
    z = z[:, cols]
    lim = max(float(np.nanmax(np.abs(z))), 0.5)
    fig = Figure(figsize=(max(5.0, 0.38 * len(cols) + 3.5), 0.38 * k + 2.2), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(z, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.set_xticks(
        np.arange(len(cols)), [str(track_names[c]) for c in cols], rotation=90, fontsize=8
    )
    ax.set_yticks(np.arange(k), [str(s) for s in class_labels], fontsize=8)
    ax.set_xlabel(
        "track" + (f" ({len(cols)} of {t}: each class's top tracks)" if t > len(cols) else "")
    )
    fig.colorbar(im, ax=ax, label="mean z-score", shrink=0.8)
    ax.set_title("What defines each class: mean predicted signal per track", fontsize=10)
    return fig


def plot_class_sizes(fractions: np.ndarray, class_labels: Sequence[str]) -> Figure:
    """Horizontal bars: each class's fraction of the genome's assigned bins, in percent.

    Parameters
    ----------
    fractions : np.ndarray, shape (k,), float in [0, 1].
    """
    f = 100 * np.asarray(fractions, dtype=np.float64)
    k = len(f)
    fig = Figure(figsize=(6.5, 0.3 * k + 1.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(k)
    ax.barh(y, f, color=class_colours(k))
    ax.set_yticks(y, [str(s) for s in class_labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("genome fraction (% of assigned bins)")
    for yi, v in zip(y, f, strict=True):
        ax.text(v, yi, f" {v:.1f}%", va="center", fontsize=7)
    ax.set_xlim(0, max(float(f.max(initial=0.0)) * 1.2, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_class_profile(
    z: np.ndarray, track_names: Sequence[str], *, n_top: int = 3, max_tracks: int = 40
) -> Figure:
    """One class's mean standardised predicted signal per track, highest first; the top
    ``n_top`` tracks in a second colour and named in the title.

    Parameters
    ----------
    z : np.ndarray, shape (t,), float; the class centroid (z-scores).
    max_tracks : draw at most this many tracks (the highest and lowest halves).
    """
    z = np.asarray(z, dtype=np.float64)
    order = _top(z, len(z))
    if len(order) > max_tracks:
        half = max_tracks // 2
        order = np.r_[order[:half], order[-half:]]
    fig = Figure(figsize=(max(4.5, 0.32 * len(order) + 1.8), 3.6), layout="constrained")
    ax = fig.subplots()
    colours = [HIGHLIGHT if i < n_top else PREDICTED for i in range(len(order))]
    x = np.arange(len(order))
    ax.bar(x, z[order], color=colours)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(x, [str(track_names[i]) for i in order], rotation=90, fontsize=8)
    ax.set_ylabel(Z_LABEL, fontsize=8)
    shown = "" if len(order) == len(z) else f" (highest and lowest {len(order)} of {len(z)})"
    ax.set_title(
        "Top: " + ", ".join(str(track_names[i]) for i in order[:n_top]) + shown, fontsize=9
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_bins_per_chrom(
    in_class: dict[str, int], assigned: dict[str, int], bin_size: int
) -> Figure:
    """Per chromosome, the class's bins as a percentage of the chromosome's assigned bins,
    with the bin count (and bp) above each bar.

    Parameters
    ----------
    in_class, assigned : chrom -> number of bins (of this class; with any class or none).
    """
    chroms = list(assigned)
    pct = np.array([100 * in_class.get(c, 0) / max(assigned[c], 1) for c in chroms])
    fig = Figure(figsize=(max(4.0, 0.35 * len(chroms) + 1.8), 3.0), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(chroms))
    ax.bar(x, pct, color=PREDICTED)
    if len(chroms) <= 30:
        for xi, c, p in zip(x, chroms, pct, strict=True):
            ax.text(xi, p, f"{in_class.get(c, 0):,}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, chroms, rotation=90 if len(chroms) > 8 else 0, fontsize=8)
    ax.set_ylabel("% of the chromosome's bins")
    ax.set_xlabel(f"chromosome (numbers: {bin_size}-bp bins in the class)")
    ax.set_ylim(0, max(float(pct.max(initial=0.0)) * 1.25, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_locus(
    pred: np.ndarray,
    obs: np.ndarray,
    labels: np.ndarray,
    track_names: Sequence[str],
    *,
    k: int,
    n_classes: int,
    chrom: str,
    start: int,
    bin_size: int,
    units: Sequence[str],
) -> Figure:
    """One locus: predicted (line) and observed (filled) signal per track, and the class
    of every bin beneath (this class in its colour, others grey, left-out bins white).

    Parameters
    ----------
    pred, obs : np.ndarray, shape (l, t), float; store units (rates, probabilities).
    labels : np.ndarray, shape (l,), int; class per bin (-1 unassigned, -2 left out).
    k : the class the page is about.
    start : genome coordinate (0-based) of the first bin.
    units : length t; the y-axis unit of each track.
    """
    pred, obs = np.asarray(pred, dtype=np.float64), np.asarray(obs, dtype=np.float64)
    n_bins, t = pred.shape
    edges = start + np.arange(n_bins + 1) * bin_size
    height = 0.95 * t + 1.3
    fig = Figure(figsize=(9, height))  # fixed margins: constrained layout costs seconds here
    fig.subplots_adjust(left=0.16, right=0.98, top=1 - 0.35 / height, bottom=0.55 / height)
    axes = fig.subplots(
        t + 1,
        1,
        sharex=True,
        squeeze=False,
        height_ratios=[1.0] * t + [0.35],
        gridspec_kw={"hspace": 0.25},
    )[:, 0]
    for i in range(t):
        ax = axes[i]
        ax.stairs(np.nan_to_num(obs[:, i]), edges, fill=True, color=OBSERVED, label="observed")
        ax.stairs(
            np.nan_to_num(pred[:, i]), edges, color=PREDICTED, linewidth=1.1, label="predicted"
        )
        ax.set_ylabel(
            f"{track_names[i]}\n({units[i]})", rotation=0, ha="right", va="center", fontsize=8
        )
        ax.yaxis.set_major_locator(MaxNLocator(3))
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, ncols=2)
    strip = axes[-1]
    colours = ["white", "#eeeeee"] + ["#a8a8a8"] * n_classes
    colours[k + 2] = class_colours(n_classes)[k]
    strip.imshow(
        (np.asarray(labels, dtype=np.int64) + 2)[None, :],
        cmap=ListedColormap(colours),
        vmin=-0.5,
        vmax=n_classes + 1.5,
        aspect="auto",
        interpolation="nearest",
        extent=(edges[0], edges[-1], 0, 1),
    )
    strip.set_yticks([])
    strip.set_ylabel(
        f"class {k} (colour)\ngrey: other class", rotation=0, ha="right", va="center", fontsize=8
    )
    strip.set_xlim(edges[0], edges[-1])
    strip.set_xlabel(f"{chrom} position (bp)")
    strip.ticklabel_format(axis="x", style="plain", useOffset=False)
    return fig


def plot_variant_deltas(delta: np.ndarray, class_label: str) -> Figure:
    """Histogram of alt - ref class scores over the scored variants (log-scaled counts).

    Parameters
    ----------
    delta : np.ndarray, shape (n,), float; NaN values are left out.
    """
    d = np.asarray(delta, dtype=np.float64)
    d = d[np.isfinite(d)]
    fig = Figure(figsize=(6.0, 3.2), layout="constrained")
    ax = fig.subplots()
    if d.size:
        lim = max(float(np.abs(d).max()), 1e-6)
        ax.hist(d, bins=np.linspace(-lim, lim, 61), color=PREDICTED, log=True)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(f"alt - ref class score ({class_label})")
    ax.set_ylabel("variants (log scale)")
    ax.set_title(f"{d.size:,} variants; lowering left of 0, raising right", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
