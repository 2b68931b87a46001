"""Alternate alleles from the reference's tower: recompute only the bins an edit reaches.

Every model of :mod:`genomics.models` is ``from_tower(tower(x))``: a local conv tower
(one output bin sees ``tower.receptive_field()`` bp around it) and then layers over bins
(transformer, dilated convs, GRU) and the head. An edit of a few bases changes only the
tower outputs whose field holds it, so for an alternate window that differs from its
reference in a short span, :func:`predict_alts` takes the reference's tower output,
recomputes the tower on a slice of the alternate sequence around the span, patches the
bins the edit can reach, and runs the rest of the model on the patched bins. This is
fastISM's idea (Nair et al. 2022, Bioinformatics) carried to a conv tower plus a
transformer. At the chr20 model's size (16-kb windows, 128-bp bins) the tower is about
90% of a forward pass and the slice about an eighth of the window.

Exactness: the slice holds every base in the field of every patched bin, its ends lie on
the bin grid (so each pool of two pairs the same positions as in the full pass) or on the
window's own ends (where the full pass pads with zeros too), and eval-mode BatchNorm is a
per-position affine map. So the patched output equals the full recomputation up to float
summation order (tests compare the two). A span too long for a slice to save work (an
indel shifts the rest of the window) falls back to the full pass.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genomics.data.encoding import one_hot_torch
from genomics.inference.device import autocast
from genomics.inference.predict import place

__all__ = ["predict_alts", "reach_bins", "supports_incremental"]


def supports_incremental(model: nn.Module) -> bool:
    """Whether ``model`` splits into a local conv tower and the rest (``from_tower``)."""
    tower = getattr(model, "tower", None)
    return callable(getattr(model, "from_tower", None)) and callable(
        getattr(tower, "receptive_field", None)
    )


def reach_bins(model: nn.Module) -> int:
    """Bins either side of an edited base's bin whose tower output can change.

    An output bin's field is centred on the bin and ``receptive_field()`` bp wide, so a
    base reaches the bins whose centre is within half of it; one bin more covers the
    rounding of the pools' offsets.
    """
    half = model.tower.receptive_field() // 2 + 1
    return -(-half // model.bin_size) + 1


def _edit_spans(ref: np.ndarray, alt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last differing position of each alt against its ref row;
    (-1, -1) where they are equal. ``ref``/``alt``: (m, l) codes."""
    diff = ref != alt
    any_ = diff.any(axis=1)
    first = np.where(any_, diff.argmax(axis=1), -1)
    last = np.where(any_, diff.shape[1] - diff[:, ::-1].argmax(axis=1), -1)
    return first, last


def _slices(first, last, *, n_bins: int, bin_size: int, reach: int):
    """Per edit: the patched bins ``[p0, p1)`` and the slice ``[s0, s1)`` (bins) whose tower
    output holds them exactly; slices share one width ``w`` (moved inside the window at its
    ends). Returns (p0, p1, s0, w); ``w`` >= ``n_bins`` means no saving (full pass)."""
    b_first, b_last = first // bin_size, (last - 1) // bin_size
    p0 = np.maximum(b_first - reach, 0)
    p1 = np.minimum(b_last + reach + 1, n_bins)
    w = int((b_last - b_first).max(initial=0)) + 1 + 4 * reach
    s0 = np.clip(b_first - 2 * reach, 0, max(n_bins - w, 0))
    return p0, p1, s0, w


def _towers(model, x: torch.Tensor, batch_size: int, dtype) -> torch.Tensor:
    """Tower outputs of one-hot windows ``(u, 4, l)`` -> ``(u, c, n)`` float32."""
    outs = []
    for i in range(0, x.shape[0], batch_size):
        with autocast(x.device, dtype):
            outs.append(model.tower(x[i : i + batch_size]).float())
    return torch.cat(outs)


def _from_tower(model, h: torch.Tensor, dtype) -> torch.Tensor:
    with autocast(h.device, dtype):
        return model.from_tower(h).float()


def _one_strand(model, ref_h, alt_codes, ref_index, spans, *, batch_size, dtype, rc):
    """Alt predictions ``(m, bins, t)`` on one strand, from ref towers ``ref_h``."""
    bs = model.bin_size
    n = ref_h.shape[-1]
    first, last = spans
    if rc:  # positions on the reverse strand
        length = alt_codes.shape[-1]
        first, last = np.where(first < 0, -1, length - last), np.where(last < 0, -1, length - first)
    p0, p1, s0, w = _slices(first, last, n_bins=n, bin_size=bs, reach=reach_bins(model))
    dev = ref_h.device
    out = []
    for i in range(0, len(alt_codes), batch_size):
        sl = slice(i, i + batch_size)
        x = one_hot_torch(torch.from_numpy(alt_codes[sl]).to(dev))
        if rc:
            x = x.flip(-1, -2)
        h = ref_h[torch.from_numpy(ref_index[sl]).to(dev)].clone()
        if w < n:
            starts = s0[sl] * bs
            pieces = torch.stack([x[j, :, s : s + w * bs] for j, s in enumerate(starts)])
            with autocast(dev, dtype):
                hs = model.tower(pieces).float()  # (b, c, w)
            for j in range(h.shape[0]):
                if first[i + j] < 0:
                    continue  # alt equals its ref
                a, b, s = int(p0[i + j]), int(p1[i + j]), int(s0[i + j])
                h[j, :, a:b] = hs[j, :, a - s : b - s]
        else:
            h = _towers(model, x, batch_size, dtype)
        y = _from_tower(model, h, dtype)
        out.append(y.flip(-2) if rc else y)
    return torch.cat(out)


@torch.inference_mode()
def predict_alts(
    model: nn.Module,
    ref: np.ndarray,
    alt: np.ndarray,
    ref_index: np.ndarray | None = None,
    *,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    reverse_complement: bool = False,
    precision: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for reference windows and for alternate windows that edit them.

    Same result as :func:`genomics.inference.predict` on ``ref`` and on ``alt`` (up to
    float summation order), with the tower run once per reference and on a short slice per
    alternate (see the module's notes).

    Parameters
    ----------
    model : a network of :mod:`genomics.models` (see :func:`supports_incremental`).
    ref : np.ndarray, shape (u, l), uint8 codes; the distinct reference windows.
    alt : np.ndarray, shape (m, l), uint8 codes; each a copy of ``ref[ref_index[i]]`` with
        an edit (any length; a long one costs a full pass).
    ref_index : np.ndarray, shape (m,), int; None for row i of ``ref`` (u == m).
    batch_size, device, reverse_complement, precision : as :func:`~genomics.inference.predict`.

    Returns
    -------
    (y_ref, y_alt) : np.ndarray, shapes (u, bins, t) and (m, bins, t), float32, model units.
    """
    ref, alt = np.asarray(ref, np.uint8), np.asarray(alt, np.uint8)
    m = alt.shape[0]
    ref_index = np.arange(m) if ref_index is None else np.asarray(ref_index, np.int64)
    if ref.ndim != 2 or alt.ndim != 2 or ref.shape[1] != alt.shape[1]:
        raise ValueError(f"ref {ref.shape} and alt {alt.shape} must be (u, l) and (m, l) codes")
    if ref_index.shape != (m,) or (m and not 0 <= ref_index.min() <= ref_index.max() < len(ref)):
        raise ValueError(f"ref_index must be (m,) = ({m},) rows of ref ({len(ref)} windows)")
    dev, dtype = place(model, device, precision)
    was_training = model.training
    model.eval()
    try:
        spans = _edit_spans(ref[ref_index], alt)
        strands = [False, True] if reverse_complement else [False]
        y_ref = y_alt = 0
        for rc in strands:
            x = one_hot_torch(torch.from_numpy(ref).to(dev))
            x = x.flip(-1, -2) if rc else x
            h = _towers(model, x, batch_size, dtype)
            yr = torch.cat(
                [
                    _from_tower(model, h[i : i + batch_size], dtype)
                    for i in range(0, len(h), batch_size)
                ]
            )
            y_ref = y_ref + (yr.flip(-2) if rc else yr)
            if m:
                kw = dict(batch_size=batch_size, dtype=dtype, rc=rc)
                y_alt = y_alt + _one_strand(model, h, alt, ref_index, spans, **kw)
            else:
                y_alt = yr[:0]
    finally:
        model.train(was_training)
    k = len(strands)
    return (y_ref / k).cpu().numpy(), (y_alt / k).cpu().numpy()
