"""Variant effects from paired reference and alternate windows: :func:`score_variants`.

Window geometry (:class:`Geometry`): a model reads ``seq_len`` bp and predicts
``n_bins`` bins of ``bin_size`` bp after dropping ``crop_bins`` from each end; output bin
``j`` of a window starting at ``s`` covers ``[s + (crop + j) * bin, s + (crop + j + 1) * bin)``.

Indels (:func:`indel_alignment`): the alt window keeps the ref window's start and length,
so bins left of the variant line up; right of it the alt's bases are shifted by
``d = len(alt) - len(ref)``. With ``k = d / bin_size`` rounded to the nearest whole
number, alt bin ``j + k`` is compared with ref bin ``j`` for every ``j`` after the
variant's bin. Bins with no counterpart (an insertion's extra bins, a deletion's lost
bins, and ref bins whose counterpart falls past the alt window's end) are compared with
themselves (difference 0): an indel's score measures what it does to the signal of the
sequence around it, not the signal of the inserted or deleted bases. Indels shorter than
half a bin are compared bin for bin (``k = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from genomics.inference.incremental import predict_alts, supports_incremental
from genomics.inference.predict import predict, to_probabilities
from genomics.variants.stats import STATS

__all__ = ["Geometry", "indel_alignment", "score_profiles", "score_variants"]


@dataclass(frozen=True)
class Geometry:
    """A model's window: ``seq_len`` bp in, ``n_bins`` bins of ``bin_size`` out, after
    ``crop_bins`` dropped at each end."""

    seq_len: int
    bin_size: int
    crop_bins: int
    track_names: tuple[str, ...]
    track_kinds: tuple[str, ...]

    @classmethod
    def of(cls, spec: dict) -> Geometry:
        """From a saved model's ``model.json`` (:func:`genomics.models.saved.load_model`)."""
        return cls(
            int(spec["seq_len"]),
            int(spec["bin_size"]),
            int(spec["crop_bins"]),
            tuple(spec["track_names"]),
            tuple(spec["track_kinds"]),
        )

    @property
    def n_bins(self) -> int:
        return self.seq_len // self.bin_size - 2 * self.crop_bins

    def bin_of(self, offset: np.ndarray | int) -> np.ndarray | int:
        """Output bin holding window offset ``offset`` (bp from the window's start)."""
        return offset // self.bin_size - self.crop_bins


def indel_alignment(geometry: Geometry, variant_bin: int, delta: int) -> np.ndarray | None:
    """Which alt bin to compare with each ref bin (see the module docstring).

    Parameters
    ----------
    variant_bin : the output bin holding the variant's first base.
    delta : ``len(alt) - len(ref)`` in bp.

    Returns
    -------
    None when bins line up (``|delta| < bin_size / 2``), else np.ndarray, shape
    (n_bins,), int64: the alt bin for each ref bin, -1 where none (compared with itself).
    """
    k = int(np.sign(delta) * np.floor(abs(delta) / geometry.bin_size + 0.5))
    if k == 0:
        return None
    n = geometry.n_bins
    j = np.arange(n)
    idx = np.where(j <= variant_bin, j, j + k)
    if k < 0:  # a deletion: ref bins variant_bin+1 .. variant_bin+|k| are gone in the alt
        idx[(j > variant_bin) & (j <= variant_bin - k)] = -1
    idx[(idx < 0) | (idx >= n)] = -1
    return idx


def _span_mask(variant_bin: np.ndarray, n_bins: int, span: int | None) -> np.ndarray:
    """(m, n_bins) float32: 1 on the scored bins (all, or ``variant_bin +- span``)."""
    if span is None:
        return np.ones((variant_bin.size, n_bins), np.float32)
    j = np.arange(n_bins)
    return (np.abs(j[None, :] - variant_bin[:, None]) <= span).astype(np.float32)


def score_profiles(
    y_ref: np.ndarray,
    y_alt: np.ndarray,
    variant_bin: np.ndarray,
    *,
    track_kinds,
    span: int | None = None,
    pseudocount: float = 1.0,
    classes=None,
) -> dict[str, np.ndarray]:
    """Every statistic of :mod:`genomics.variants.stats` for aligned predictions.

    Parameters
    ----------
    y_ref, y_alt : np.ndarray, shape (m, n_bins, t), float; model units, alt already
        aligned to ref's bins.
    variant_bin : np.ndarray, shape (m,), int; the bin holding each variant.
    span : bins either side of the variant's bin summed by the coverage statistics; None
        for the whole output.
    classes : a :class:`~genomics.classes.ClassModel` or None; its class scores
        (``class_scores(alt) - class_scores(ref)`` at the variant's bin, in store units)
        come back under ``"class"``.

    Returns
    -------
    dict name -> np.ndarray, shape (m, t) float64 (``"class"``: (m, k)). Every statistic
    is computed for every track; a caller keeps ``sad``, ``log2fc``, ``l2`` of coverage
    tracks and ``logodds`` of peak tracks.
    """
    y_ref = np.asarray(y_ref, np.float64)
    y_alt = np.asarray(y_alt, np.float64)
    variant_bin = np.asarray(variant_bin, np.int64)
    m, n, _ = y_ref.shape
    mask = _span_mask(variant_bin, n, span)[..., None]  # (m, n, 1)
    r, a = y_ref * mask, y_alt * mask
    rows = np.arange(m)
    at_ref = y_ref[rows, variant_bin][:, None]  # (m, 1, t)
    at_alt = y_alt[rows, variant_bin][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # log2fc of logits: NaN, unused
        out = {
            "sad": STATS["sad"](r, a),
            "log2fc": STATS["log2fc"](r, a, pseudocount),
            "l2": STATS["l2"](r, a),
            "logodds": STATS["logodds"](at_ref, at_alt),
        }
    if classes is not None:
        from genomics.classes import class_scores

        p_ref = to_probabilities(at_ref[:, 0], track_kinds)
        p_alt = to_probabilities(at_alt[:, 0], track_kinds)
        out["class"] = class_scores(p_alt, classes).astype(np.float64) - class_scores(
            p_ref, classes
        )
    return out


def score_variants(
    model: nn.Module,
    ref: np.ndarray,
    alt: np.ndarray,
    *,
    geometry: Geometry,
    variant_bin: np.ndarray,
    ref_index: np.ndarray | None = None,
    alignment: list[np.ndarray | None] | None = None,
    span: int | None = None,
    pseudocount: float = 1.0,
    classes=None,
    batch_size: int = 8,
    reverse_complement: bool = True,
    device=None,
    precision: str = "auto",
    incremental: bool = True,
) -> dict[str, np.ndarray]:
    """Score alternate windows against reference windows.

    Parameters
    ----------
    model : a network of :mod:`genomics.models` (or any module mapping one-hot
        ``(b, 4, l)`` to ``(b, n_bins, t)``).
    ref : np.ndarray, shape (u, l), uint8 codes; the distinct reference windows.
    alt : np.ndarray, shape (m, l), uint8 codes; one alternate window per variant.
    geometry : the model's window (:class:`Geometry`).
    variant_bin : np.ndarray, shape (m,), int; the output bin holding each variant.
    ref_index : np.ndarray, shape (m,), int; the row of ``ref`` each alt is compared
        with (None: row i for alt i, so u == m). Variants that share a window share one
        reference pass.
    alignment : per variant, None (bins line up) or the index array of
        :func:`indel_alignment`.
    span, pseudocount, classes : see :func:`score_profiles`.
    batch_size, reverse_complement, device, precision : see
        :func:`genomics.inference.predict`.
    incremental : alternates from the reference's conv-tower output, recomputed only
        around each edit (:func:`genomics.inference.incremental.predict_alts`; the same
        scores up to float summation order); False runs every alt window in full.

    Returns
    -------
    dict name -> np.ndarray, shape (m, t), float64 (see :func:`score_profiles`).
    """
    ref, alt = np.asarray(ref), np.asarray(alt)
    m = alt.shape[0]
    ref_index = np.arange(m) if ref_index is None else np.asarray(ref_index, np.int64)
    if ref_index.shape != (m,) or (m and ref_index.max() >= ref.shape[0]):
        raise ValueError(f"ref_index must be (m,) = ({m},) rows of ref ({ref.shape[0]} windows)")
    kw = dict(batch_size=batch_size, device=device, reverse_complement=reverse_complement)
    if incremental and supports_incremental(model):
        y_ref, y_alt = predict_alts(model, ref, alt, ref_index, precision=precision, **kw)
        y_ref = y_ref[ref_index]
    else:
        pred = predict(model, np.concatenate([ref, alt]), precision=precision, **kw)
        y_ref, y_alt = pred[: ref.shape[0]][ref_index], pred[ref.shape[0] :]
    if alignment is not None:
        for i, idx in enumerate(alignment):
            if idx is not None:
                y_alt[i] = np.where((idx >= 0)[:, None], y_alt[i][np.maximum(idx, 0)], y_ref[i])
    return score_profiles(
        y_ref,
        y_alt,
        variant_bin,
        track_kinds=geometry.track_kinds,
        span=span,
        pseudocount=pseudocount,
        classes=classes,
    )
