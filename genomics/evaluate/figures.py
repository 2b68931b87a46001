"""Evaluation figures: tracks along the genome, a metric per track, predicted vs observed.

Each function builds and returns a :class:`matplotlib.figure.Figure` without touching
pyplot's global state (no backend, no open-figure list) and saves nothing; save with
:func:`genomics.evaluate.outputs.save_figure`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.special import expit

from genomics.inference.metrics import pearson_r

__all__ = ["plot_kind_bars", "plot_metric_bars", "plot_scatter", "plot_tracks"]

log = logging.getLogger(__name__)

OBSERVED = "#9e9e9e"
PREDICTED = "#1f5fa8"


def _as_lt(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]  # (l, 1)
    if x.ndim != 2:
        raise ValueError(f"{what} must have shape (l, t), got {x.shape}")
    return x


def plot_tracks(
    pred: np.ndarray,
    target: np.ndarray,
    names: Sequence[str],
    *,
    title: str | None = None,
    bin_size: int = 128,
    start: int = 0,
    chrom: str = "",
    kinds: Sequence[str] | None = None,
    max_tracks: int = 16,
) -> Figure:
    """Observed (filled) and predicted (line) signal of one window, one panel per track.

    Parameters
    ----------
    pred : np.ndarray, shape (l, t), float
        Predictions for one window (logits for peaks tracks).
    target : np.ndarray, shape (l, t), float
        Targets on the same bins.
    names : list of str, length t
        Track names, used as panel labels.
    title : str, optional
        Figure title.
    bin_size : int, default 128
        Bases per bin.
    start : int, default 0
        Genome coordinate (0-based) of the window's first base.
    chrom : str, default ""
        Chromosome name for the x label.
    kinds : list of str, length t, optional
        Track kinds; peaks predictions are drawn as ``sigmoid(pred)``.
    max_tracks : int, default 16
        Draw at most this many tracks (the first ones).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per drawn track, sharing the x axis.
    """
    pred, target = _as_lt(pred, "pred"), _as_lt(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {pred.shape} does not match target shape {target.shape}")
    n_bins, n_tracks = pred.shape
    if len(names) != n_tracks:
        raise ValueError(f"pred and target have {n_tracks} tracks but {len(names)} names")
    if kinds is not None and len(kinds) != n_tracks:
        raise ValueError(f"pred and target have {n_tracks} tracks but {len(kinds)} kinds")
    if bin_size < 1:
        raise ValueError(f"bin_size must be >= 1, got {bin_size}")
    if max_tracks < 1:
        raise ValueError(f"max_tracks must be >= 1, got {max_tracks}")
    shown = min(n_tracks, max_tracks)
    if shown < n_tracks:
        log.info("plot_tracks: drawing the first %d of %d tracks", shown, n_tracks)

    edges = start + np.arange(n_bins + 1) * bin_size  # bin edges, genome coordinates
    fig = Figure(figsize=(10, 0.5 + 1.3 * shown), layout="constrained")
    axes = fig.subplots(shown, 1, sharex=True, squeeze=False)[:, 0]
    for i, ax in enumerate(axes):
        p = pred[:, i]
        if kinds is not None and kinds[i] == "peaks":
            p = expit(p)
        ax.stairs(target[:, i], edges, fill=True, color=OBSERVED, label="observed")
        ax.stairs(p, edges, color=PREDICTED, linewidth=1.0, label="predicted")
        ax.set_ylabel(str(names[i]), rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, ncols=2)
    axes[-1].set_xlim(edges[0], edges[-1])
    axes[-1].set_xlabel(f"{chrom} position (bp)".strip())
    axes[-1].ticklabel_format(axis="x", style="plain", useOffset=False)
    if shown < n_tracks:
        title = f"{title or ''}   (first {shown} of {n_tracks} tracks)".strip()
    if title:
        fig.suptitle(title)
    return fig


# per track kind: the metric its bars show, the row key of its chance level, the axis label
KIND_BARS = {
    "coverage": ("pearson", None, "Pearson r, binned coverage"),
    "peaks": ("auprc", "auprc_baseline", "AUPRC (black tick: chance)"),
}


def plot_kind_bars(rows: Sequence[Mapping]) -> Figure:
    """One bar panel per track kind present: Pearson r for coverage tracks (with each
    track's noise ceiling, when the rows have one), AUPRC with each track's chance level
    for peak tracks (:data:`KIND_BARS`); a metric is never averaged across kinds.

    Parameters
    ----------
    rows : list of dict
        Rows from :meth:`genomics.inference.metrics.TrackMetrics.compute`.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per kind, coverage first.
    """
    kinds = [k for k in KIND_BARS if any(r.get("kind") == k for r in rows)]
    if not kinds:
        raise ValueError("no coverage or peaks rows to plot")
    widest = max(sum(r.get("kind") == k for r in rows) for k in kinds)
    fig = Figure(figsize=(max(4.0, 0.3 * widest + 1.5), 3.5 * len(kinds)), layout="constrained")
    for ax, kind in zip(fig.subplots(len(kinds), 1, squeeze=False)[:, 0], kinds, strict=True):
        metric, chance, label = KIND_BARS[kind]
        if kind == "coverage" and any("ceiling_pearson" in r for r in rows):
            chance, label = "ceiling_pearson", f"{label} (black tick: noise ceiling)"
        _draw_bars(ax, [r for r in rows if r.get("kind") == kind], metric, chance, label)
    return fig


def plot_metric_bars(rows: Sequence[Mapping], metric: str) -> Figure:
    """One bar per track for ``metric``, highest first, with the mean as a dashed line.

    Parameters
    ----------
    rows : list of dict
        Rows from :meth:`genomics.inference.metrics.TrackMetrics.compute`; tracks without
        ``metric`` (another kind) are left out.
    metric : str
        A row key such as ``"pearson"``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes. NaN tracks come last, with no bar and "nan" in their label; the mean is
        over the finite values.
    """
    have = [r for r in rows if metric in r]
    if not have:
        known = sorted({k for r in rows for k in r if k not in ("track", "kind")})
        raise ValueError(f"no row has metric {metric!r}; rows have {known}")
    fig = Figure(figsize=(max(4.0, 0.3 * len(have) + 1.5), 3.5), layout="constrained")
    _draw_bars(fig.subplots(), have, metric, None, metric)
    return fig


def _draw_bars(ax, have: Sequence[Mapping], metric: str, chance: str | None, label: str) -> None:
    values = np.array([float(r[metric]) for r in have])
    labels = [str(r.get("track", i)) for i, r in enumerate(have)]
    finite = np.isfinite(values)
    order = np.lexsort((-np.where(finite, values, 0.0), ~finite))  # finite desc, then NaN
    values = values[order]
    labels = [labels[i] + ("" if finite[i] else " (nan)") for i in order]
    x = np.arange(len(have))
    ax.bar(x, np.nan_to_num(values, nan=0.0), color=PREDICTED)
    if chance is not None:
        levels = np.array([float(have[i].get(chance, np.nan)) for i in order])
        ax.scatter(x, levels, marker="_", s=120, color="black", linewidths=1.5, zorder=3)
    n_finite = int(finite.sum())
    if n_finite:
        mean = float(values[np.isfinite(values)].mean())
        ax.axhline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.3f}")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    if len(have) <= 60:
        ax.set_xticks(x, labels, rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{len(have)} tracks")
    ax.set_ylabel(label)
    nan_note = f", {len(have) - n_finite} NaN" if n_finite < len(have) else ""
    ax.set_title(f"{metric} per track ({len(have)} tracks{nan_note})", fontsize=10)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.spines[["top", "right"]].set_visible(False)


def plot_scatter(
    pred: np.ndarray,
    target: np.ndarray,
    name: str,
    *,
    kind: str = "coverage",
    gridsize: int = 60,
) -> Figure:
    """Predicted against observed for one track, as a hexbin of point density.

    Parameters
    ----------
    pred : np.ndarray, shape (n,) (or any shape, flattened), float
        Predictions of one track (logits for peaks).
    target : np.ndarray, same shape as ``pred``, float
        Observed values.
    name : str
        Track name, for the title.
    kind : {"coverage", "peaks"}, default "coverage"
        Coverage is drawn as ``log1p`` of both (each clipped at 0); peaks as ``sigmoid(pred)``
        against the target.
    gridsize : int, default 60
        Hexagons across the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the hexbin and its colour bar. The title gives Pearson r of the values
        drawn (and of the raw values, for coverage).
    """
    pred = np.ravel(np.asarray(pred, dtype=np.float64))
    target = np.ravel(np.asarray(target, dtype=np.float64))
    if pred.shape != target.shape:
        raise ValueError(f"pred has {pred.size} values but target has {target.size}")
    if pred.size == 0:
        raise ValueError(f"no values to plot for track {name!r}")
    if kind == "coverage":
        x, y = np.log1p(np.clip(target, 0, None)), np.log1p(np.clip(pred, 0, None))
        xlabel, ylabel = "observed, log1p", "predicted, log1p"
        r_note = f"r = {pearson_r(pred, target):.3f}, r(log1p) = {pearson_r(x, y):.3f}"
    elif kind == "peaks":
        x, y = target, expit(pred)
        xlabel, ylabel = "observed", "predicted probability"
        r_note = f"r = {pearson_r(x, y):.3f}"
    else:
        raise ValueError(f"kind must be 'coverage' or 'peaks', got {kind!r}")

    fig = Figure(figsize=(4.8, 4.2), layout="constrained")
    ax = fig.subplots()
    hb = ax.hexbin(x, y, gridsize=gridsize, bins="log", mincnt=1, cmap="viridis")
    fig.colorbar(hb, ax=ax, label="bins")
    lo = float(min(x.min(), y.min()))
    hi = float(max(x.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{name}: {r_note}", fontsize=10)
    return fig
