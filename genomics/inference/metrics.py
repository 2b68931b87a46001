"""Per-track accuracy metrics, accumulated batch by batch.

:class:`TrackMetrics` takes predictions and targets in the package layout ``(b, l, t)``
(see :mod:`genomics.data`) one batch at a time and, at the end, gives one row (a dict) per
track; :func:`summarize` averages the rows.

Metrics by track kind
---------------------
coverage
    ``pearson`` (raw values), ``pearson_log1p`` (``log1p`` of both, each clipped at 0 first),
    ``spearman``.
peaks
    Predictions are logits. ``auroc`` and ``auprc`` (average precision) on the logits, a
    bin is positive when its target (a fraction of the bin covered by a peak) is > 0.5;
    ``pearson`` between ``sigmoid(pred)`` and the target. ``auprc_baseline`` is the
    fraction of positive bins: the AUPRC a random ranking gets (AUROC's is 0.5), so that
    an AUPRC of 0.05 can be read (ten times chance when 0.5% of bins are peaks).
both
    ``n_bins``, ``target_mean`` and ``pred_mean`` (the mean prediction on the target's
    scale: ``sigmoid(pred)`` for peaks).

Pearson is exact and streaming: each batch's centred moments are computed in float64 and
merged with Chan et al.'s pairwise update, so a large common offset (``1e6 + noise``)
does not cancel. Rank metrics (Spearman, AUROC, AUPRC) need the values themselves; they are
computed on a uniform subsample of at most ``max_rank_values`` bins, the same bins for every
track (see :class:`TrackMetrics`).

An undefined metric (a constant input, a peaks track with one class) is NaN, and the track
gets one logged warning saying why; it is never an exception or a made-up 0.

Noise ceiling
-------------
Given the noise-free signal of a coverage track (the simulator writes it), the same
metrics of that signal against the observed target on the same bins are the track's noise
ceiling: no model can expect to beat it. :func:`add_ceiling` puts ``ceiling_<metric>`` and
``<metric>_of_ceiling`` (the model's metric over the ceiling's) into the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from einops import rearrange
from scipy.special import expit
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "CEILING_METRICS",
    "COLUMNS",
    "KINDS",
    "METRICS",
    "TrackMetrics",
    "add_ceiling",
    "pearson_r",
    "summarize",
]

log = logging.getLogger(__name__)

KINDS = ("coverage", "peaks")
#: Metrics each kind gets, in the order rows (and the TSV) list them.
METRICS_BY_KIND = {
    "coverage": ("pearson", "pearson_log1p", "spearman"),
    "peaks": ("pearson", "auroc", "auprc", "auprc_baseline"),
}
METRICS = ("pearson", "pearson_log1p", "spearman", "auroc", "auprc", "auprc_baseline")
#: Every column of a row, in a fixed order.
COLUMNS = ("track", "kind", "n_bins", "target_mean", "pred_mean", *METRICS)
#: Metrics that get a noise ceiling (coverage tracks), and the columns it adds to a row.
CEILING_METRICS = METRICS_BY_KIND["coverage"]
CEILING_COLUMNS = tuple(f"ceiling_{m}" for m in CEILING_METRICS) + tuple(
    f"{m}_of_ceiling" for m in CEILING_METRICS
)


def _as_float64(x: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    """``x`` as a CPU float64 numpy array (any float dtype, bf16 included; any device)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be a numeric array, got {type(x).__name__}") from err


def _lossless_dtype(x: np.ndarray | torch.Tensor) -> type:
    """float32 when ``x`` holds floats of 32 bits or fewer (float32 then holds them exactly)."""
    if isinstance(x, torch.Tensor):
        small = x.dtype.is_floating_point and x.dtype.itemsize <= 4
    else:
        dtype = np.asarray(x).dtype
        small = dtype.kind == "f" and dtype.itemsize <= 4
    return np.float32 if small else np.float64


class _PairStats:
    """Streaming centred moments of paired columns ``x, y`` (t columns each).

    Every chunk is first shifted by the means of the first chunk, so values like
    ``1e6 + noise`` do not cancel; its moments are computed in two passes (float64) and
    merged into the running ones with Chan et al.'s pairwise update. Minima and maxima of
    the raw values tell exactly when a column is constant.
    """

    def __init__(self) -> None:
        self.n = 0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add a chunk; ``x, y : np.ndarray, shape (n, t), float64``, n >= 1."""
        if self.n == 0:
            self.shift_x, self.shift_y = x.mean(axis=0), y.mean(axis=0)
            self.min_x, self.max_x = x.min(axis=0), x.max(axis=0)
            self.min_y, self.max_y = y.min(axis=0), y.max(axis=0)
            self.mean_x = self.mean_y = 0.0  # of the shifted values
            self.m2_x = self.m2_y = self.c_xy = 0.0
        else:
            self.min_x, self.max_x = (
                np.minimum(self.min_x, x.min(0)),
                np.maximum(self.max_x, x.max(0)),
            )
            self.min_y, self.max_y = (
                np.minimum(self.min_y, y.min(0)),
                np.maximum(self.max_y, y.max(0)),
            )
        x, y = x - self.shift_x, y - self.shift_y
        mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
        dx, dy = x - mean_x, y - mean_y
        n_a, n_b = self.n, x.shape[0]
        n = n_a + n_b
        delta_x, delta_y = mean_x - self.mean_x, mean_y - self.mean_y
        w = n_a * n_b / n
        self.mean_x = self.mean_x + delta_x * (n_b / n)
        self.mean_y = self.mean_y + delta_y * (n_b / n)
        self.m2_x = self.m2_x + np.einsum("nt,nt->t", dx, dx) + delta_x * delta_x * w
        self.m2_y = self.m2_y + np.einsum("nt,nt->t", dy, dy) + delta_y * delta_y * w
        self.c_xy = self.c_xy + np.einsum("nt,nt->t", dx, dy) + delta_x * delta_y * w
        self.n = n

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        """Means of x and y, shape (t,) each."""
        return self.shift_x + self.mean_x, self.shift_y + self.mean_y

    def constant(self) -> tuple[np.ndarray, np.ndarray]:
        """Whether each column of x and of y is constant, shape (t,) bool each."""
        return self.min_x == self.max_x, self.min_y == self.max_y

    def pearson(self) -> np.ndarray:
        """Pearson r per column, shape (t,); NaN where either side is constant."""
        const_x, const_y = self.constant()
        with np.errstate(divide="ignore", invalid="ignore"):
            r = self.c_xy / np.sqrt(self.m2_x * self.m2_y)
        return np.where(const_x | const_y, np.nan, np.clip(r, -1.0, 1.0))


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equally long arrays, computed in float64.

    Parameters
    ----------
    x, y : np.ndarray, any shape (flattened), same size, float

    Returns
    -------
    float
        r in [-1, 1]; NaN when either input is constant (no warning here).
    """
    x = np.ravel(_as_float64(x, "x"))
    y = np.ravel(_as_float64(y, "y"))
    if x.size != y.size:
        raise ValueError(f"x and y differ in size: {x.size} vs {y.size}")
    if x.size == 0:
        raise ValueError("x and y are empty")
    stats = _PairStats()
    stats.add(x[:, None], y[:, None])
    return float(stats.pearson()[0])


_MASK64 = (1 << 64) - 1


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on ``uint64`` arrays (wrapping arithmetic): a bijective hash."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _sample_keys(index: np.ndarray, seed: int) -> np.ndarray:
    """Pseudo-random ``uint64`` key of each global bin index; depends only on (index, seed)."""
    offset = int(_splitmix64(np.array([seed & _MASK64], dtype=np.uint64))[0])
    return _splitmix64(index.astype(np.uint64) + np.uint64(offset))


def _check_names_kinds(names: Sequence[str], kinds: Sequence[str]) -> tuple[list, list]:
    names, kinds = [str(n) for n in names], [str(k) for k in kinds]
    if len(names) != len(kinds):
        raise ValueError(f"got {len(names)} names but {len(kinds)} kinds; give one kind per track")
    if not names:
        raise ValueError("names is empty; give at least one track")
    for i, kind in enumerate(kinds):
        if kind not in KINDS:
            raise ValueError(
                f"kinds[{i}] = {kind!r} (track {names[i]!r}) is not one of {', '.join(KINDS)}"
            )
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"track name {name!r} appears more than once in names")
        seen.add(name)
    return names, kinds


class TrackMetrics:
    """Streaming per-track metrics over batches of predictions and targets.

    Parameters
    ----------
    names : list of str, length t
        Track names, in the order of the last axis of ``pred`` and ``target``.
    kinds : list of str, length t
        ``"coverage"`` or ``"peaks"`` for each track.
    max_rank_values : int, default 2,000,000
        Most bins per track kept for the rank metrics (Spearman, AUROC, AUPRC). Past it,
        they are computed on a uniform random subsample of that many bins, chosen by a
        seeded hash of each bin's position in the stream (bottom-k sampling): the same
        bins for every track, the same between runs, and the same however the stream is cut
        into batches. While streaming up to ``1.5 * max_rank_values`` bins are held, each
        with a prediction and a target per track, kept as float32 when the input was 32-bit
        or narrower (8 bytes x tracks x bins; 16 for float64 input), so the default needs
        about 24 MB per track at its peak: lower it for hundreds of tracks. Pearson and the
        means always use every bin.
    seed : int, default 0
        Seed of the subsample.

    Examples
    --------
    >>> m = TrackMetrics(["dnase", "ctcf_peaks"], ["coverage", "peaks"])
    >>> for pred, target in batches:  # doctest: +SKIP
    ...     m.update(pred, target)  # (b, l, t) each
    >>> rows = m.compute()  # doctest: +SKIP
    """

    def __init__(
        self,
        names: Sequence[str],
        kinds: Sequence[str],
        *,
        max_rank_values: int = 2_000_000,
        seed: int = 0,
    ) -> None:
        self.names, self.kinds = _check_names_kinds(names, kinds)
        if int(max_rank_values) < 1:
            raise ValueError(f"max_rank_values must be >= 1, got {max_rank_values}")
        self.max_rank_values = int(max_rank_values)
        self.seed = int(seed)
        self._peaks = np.array([k == "peaks" for k in self.kinds])
        self._coverage = np.flatnonzero(~self._peaks)
        self._scaled = _PairStats()  # (pred on the target's scale, target), all tracks
        self._log = _PairStats()  # log1p of both, coverage tracks only
        self._n_seen = 0
        # rank subsample: global bin index (n,), pred (n, t), target (n, t), in chunks
        self._index: list[np.ndarray] = []
        self._pred: list[np.ndarray] = []
        self._target: list[np.ndarray] = []
        self._n_kept = 0
        self._threshold: np.uint64 | None = None  # keys at or above it can no longer enter

    @property
    def n_bins(self) -> int:
        """Bins seen so far (per track)."""
        return self._n_seen

    def update(self, pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> None:
        """Add one batch.

        Parameters
        ----------
        pred : np.ndarray or torch.Tensor, shape (b, l, t), float
            Predictions (logits for peaks tracks), any float dtype, any device.
        target : np.ndarray or torch.Tensor, shape (b, l, t), float
            Targets on the same bins.

        Raises
        ------
        ValueError
            Shapes that differ or are not 3-D, a track count that is not ``len(names)``,
            or non-finite values (naming the tracks).
        """
        keep_as = (_lossless_dtype(pred), _lossless_dtype(target))  # for the rank subsample
        pred = _as_float64(pred, "pred")
        target = _as_float64(target, "target")
        if pred.shape != target.shape:
            raise ValueError(
                f"pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}"
            )
        if pred.ndim != 3:
            raise ValueError(f"pred and target must have shape (b, l, t), got {tuple(pred.shape)}")
        if pred.shape[-1] != len(self.names):
            raise ValueError(
                f"pred and target have {pred.shape[-1]} tracks (last axis of "
                f"{tuple(pred.shape)}) but {len(self.names)} names were given"
            )
        pred = rearrange(pred, "b l t -> (b l) t")
        target = rearrange(target, "b l t -> (b l) t")
        if pred.shape[0] == 0:
            return
        for what, x in (("pred", pred), ("target", target)):
            bad = ~np.isfinite(x).all(axis=0)
            if bad.any():
                names = [self.names[i] for i in np.flatnonzero(bad)]
                raise ValueError(f"{what} has NaN or infinite values in tracks {names}")

        self._scaled.add(np.where(self._peaks, expit(pred), pred), target)
        if self._coverage.size:
            cov = self._coverage
            self._log.add(
                np.log1p(np.clip(pred[:, cov], 0.0, None)),
                np.log1p(np.clip(target[:, cov], 0.0, None)),
            )

        index = np.arange(self._n_seen, self._n_seen + pred.shape[0], dtype=np.int64)
        self._n_seen += pred.shape[0]
        self._keep_for_ranks(index, pred, target, keep_as)

    def _keep_for_ranks(
        self, index: np.ndarray, pred: np.ndarray, target: np.ndarray, keep_as: tuple
    ) -> None:
        if self._threshold is not None:
            keep = _sample_keys(index, self.seed) < self._threshold
            index, pred, target = index[keep], pred[keep], target[keep]
        if index.size:
            self._index.append(index)
            self._pred.append(pred.astype(keep_as[0]))
            self._target.append(target.astype(keep_as[1]))
            self._n_kept += index.size
        if self._n_kept > 1.5 * self.max_rank_values:
            self._prune()

    def _prune(self) -> None:
        """Keep the ``max_rank_values`` bins with the smallest keys, in stream order."""
        index = np.concatenate(self._index)
        pred, target = np.concatenate(self._pred), np.concatenate(self._target)
        if index.size > self.max_rank_values:
            keys = _sample_keys(index, self.seed)
            keep = np.sort(np.argpartition(keys, self.max_rank_values - 1)[: self.max_rank_values])
            self._threshold = keys[keep].max()
            index, pred, target = index[keep], pred[keep], target[keep]
        self._index, self._pred, self._target = [index], [pred], [target]
        self._n_kept = index.size

    def compute(self) -> list[dict]:
        """One row per track, in the order of ``names``.

        Returns
        -------
        list of dict
            Keys ``track``, ``kind``, ``n_bins``, ``target_mean``, ``pred_mean``, then the
            kind's metrics (see the module docstring). Undefined metrics are NaN, with one
            warning per track saying why. Calling it does not end the stream.
        """
        n = self._n_seen
        if n == 0:
            log.warning("no bins were given for tracks %s; every metric is NaN", self.names)
            return [self._empty_row(i) for i in range(len(self.names))]
        self._prune()
        pred, target = self._pred[0], self._target[0]
        pearson = self._scaled.pearson()
        pred_mean, target_mean = self._scaled.means()
        pred_constant, target_constant = self._scaled.constant()
        pearson_log = np.full(len(self.names), np.nan)
        if self._log.n:
            pearson_log[self._coverage] = self._log.pearson()

        rows = []
        for i, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            row = {
                "track": name,
                "kind": kind,
                "n_bins": n,
                "target_mean": float(target_mean[i]),
                "pred_mean": float(pred_mean[i]),
            }
            why = []
            if target_constant[i]:
                why.append(f"target is constant ({self._scaled.min_y[i]:g})")
            elif pred_constant[i]:
                why.append(f"prediction is constant ({self._scaled.min_x[i]:g})")
            row["pearson"] = float(pearson[i])
            if kind == "coverage":
                row["pearson_log1p"] = float(pearson_log[i])
                if np.isnan(row["pearson_log1p"]) and not np.isnan(row["pearson"]):
                    why.append("log1p of target or prediction (clipped at 0) is constant")
                row["spearman"] = self._spearman(pred[:, i], target[:, i], why)
            else:
                row.update(self._auc(pred[:, i], target[:, i], why))
            nan = [m for m in METRICS_BY_KIND[kind] if np.isnan(row[m])]
            if nan:
                log.warning(
                    "track %r (%s): %s over %d bins; %s %s NaN",
                    name,
                    kind,
                    "; ".join(why) or "undefined",
                    n,
                    ", ".join(nan),
                    "is" if len(nan) == 1 else "are",
                )
            rows.append(row)
        return rows

    def _spearman(self, pred: np.ndarray, target: np.ndarray, why: list[str]) -> float:
        if np.ptp(pred) == 0 or np.ptp(target) == 0:
            if not why:
                why.append("target or prediction is constant on the rank subsample")
            return float("nan")
        return float(spearmanr(pred, target).statistic)

    def _auc(self, pred: np.ndarray, target: np.ndarray, why: list[str]) -> dict:
        positive = target > 0.5
        n_pos = int(positive.sum())
        baseline = n_pos / positive.size if positive.size else float("nan")
        if n_pos in (0, positive.size):
            why.append(f"only one class ({n_pos} of {positive.size} ranked bins are peaks)")
            # no chance level either: a summary must pair AUPRC and chance over the same tracks
            return {"auroc": float("nan"), "auprc": float("nan"), "auprc_baseline": float("nan")}
        return {
            "auroc": float(roc_auc_score(positive, pred)),
            "auprc": float(average_precision_score(positive, pred)),
            "auprc_baseline": baseline,
        }

    def _empty_row(self, i: int) -> dict:
        row = {
            "track": self.names[i],
            "kind": self.kinds[i],
            "n_bins": 0,
            "target_mean": float("nan"),
            "pred_mean": float("nan"),
        }
        row.update({m: float("nan") for m in METRICS_BY_KIND[self.kinds[i]]})
        return row


def add_ceiling(rows: Sequence[Mapping], ceiling: Sequence[Mapping]) -> list[dict]:
    """The model's rows with each track's noise ceiling and the share of it reached.

    Parameters
    ----------
    rows : list of dict, the model's rows (:meth:`TrackMetrics.compute`)
    ceiling : list of dict, rows of the noise-free signal scored against the same targets
        on the same bins (coverage tracks; a track without one is left as it is)

    Returns
    -------
    list of dict: copies of ``rows``, a coverage track with a ceiling row getting
    ``ceiling_<m>`` (the ceiling's metric) and ``<m>_of_ceiling`` (model / ceiling; NaN
    when the ceiling is not positive) for ``m`` in pearson, pearson_log1p, spearman.
    """
    by_name = {c["track"]: c for c in ceiling}
    out = []
    for row in rows:
        row = dict(row)
        c = by_name.get(row["track"])
        if c is not None and row["kind"] == "coverage":
            if c["n_bins"] != row["n_bins"]:
                raise ValueError(
                    f"track {row['track']!r}: the ceiling was computed on {c['n_bins']} bins "
                    f"but the model was scored on {row['n_bins']}; score both on the same bins"
                )
            for m in CEILING_METRICS:
                top, got = float(c[m]), float(row[m])
                row[f"ceiling_{m}"] = top
                row[f"{m}_of_ceiling"] = got / top if top > 0 else float("nan")
        out.append(row)
    return out


def summarize(rows: Sequence[Mapping]) -> dict:
    """Average each metric over the tracks that have it, ignoring NaN, never across kinds.

    ``pearson`` is the one metric both kinds have (of coverage, and of peak probabilities
    against peak fractions): with coverage tracks present it is their mean, and the peak
    tracks' mean is ``pearson_peaks``; with peak tracks alone it is theirs.

    Parameters
    ----------
    rows : list of dict
        Rows from :meth:`TrackMetrics.compute`.

    Returns
    -------
    dict
        ``n_tracks`` and ``n_<kind>`` (tracks of each kind), then for each metric any row
        has: ``<metric>`` (mean over its finite values; NaN when there are none) and
        ``<metric>_n`` (how many finite values went into it). Rows with a noise ceiling
        (:func:`add_ceiling`) add the same for its columns.
    """
    summary: dict = {"n_tracks": len(rows)}
    for kind in KINDS:
        summary[f"n_{kind}"] = sum(1 for r in rows if r.get("kind") == kind)
    mixed = summary["n_coverage"] > 0 and summary["n_peaks"] > 0

    def add(key: str, have: list, metric: str) -> None:
        values = np.array([float(r[metric]) for r in have], dtype=np.float64)
        finite = values[np.isfinite(values)]
        summary[key] = float(finite.mean()) if finite.size else float("nan")
        summary[f"{key}_n"] = int(finite.size)

    for metric in METRICS:
        have = [r for r in rows if metric in r]
        if not have:
            continue
        if metric == "pearson" and mixed:
            add(metric, [r for r in have if r.get("kind") == "coverage"], metric)
            add("pearson_peaks", [r for r in have if r.get("kind") == "peaks"], metric)
        else:
            add(metric, have, metric)
    for column in CEILING_COLUMNS:
        have = [r for r in rows if column in r]
        if have:
            add(column, have, column)
    return summary
