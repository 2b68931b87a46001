"""The public inference call: sequences in, binned track predictions out.

:func:`predict` takes what a user has at hand (sequence strings, uint8 codes or one-hot
arrays, numpy or torch), runs the model in eval mode under ``torch.inference_mode`` in
batches (bf16 autocast on CUDA), optionally averages with the reverse-complement strand,
and returns numpy. Every later stage (genome-wide prediction, classes, variant scoring)
goes through it or through :func:`forward`, its per-batch core.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from genomics.data.encoding import encode, invalid_positions, one_hot_torch
from genomics.inference.device import autocast, resolve_device, resolve_precision

__all__ = ["as_input", "forward", "model_device", "place", "predict", "to_probabilities"]


def as_input(xb: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Codes ``(b, l)`` uint8 or one-hot ``(b, 4, l)`` -> one-hot float32 on ``device``."""
    xb = xb.to(device, non_blocking=True)
    return one_hot_torch(xb) if xb.dtype == torch.uint8 else xb.float()


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without any)."""
    p = next(model.parameters(), None)
    return torch.device("cpu") if p is None else p.device


def place(
    model: nn.Module, device: str | torch.device | None, precision: str
) -> tuple[torch.device, torch.dtype]:
    """Move ``model`` to ``device`` (None: where it is; "auto", "cpu", "cuda" or a
    torch.device) and resolve ``precision`` there: (device, autocast dtype)."""
    if device is None:
        dev = model_device(model)
    elif isinstance(device, torch.device):
        dev = device
    else:
        dev = resolve_device(device)
    model.to(dev)
    return dev, resolve_precision(precision, dev)


def forward(
    model: nn.Module,
    x: torch.Tensor,
    *,
    dtype: torch.dtype = torch.float32,
    reverse_complement: bool = False,
) -> torch.Tensor:
    """One batch through ``model`` (already in eval mode, on ``x``'s device).

    Parameters
    ----------
    x : torch.Tensor, shape (b, 4, l), float one-hot
    dtype : autocast dtype (float32: none).
    reverse_complement : also run the reverse-complement strand and average the two,
        its bins flipped back onto the forward strand's.

    Returns
    -------
    torch.Tensor, shape (b, bins, t), float32
    """
    with autocast(x.device, dtype):
        pred = model(x).float()
        if reverse_complement:
            rc = model(x.flip(-1, -2)).float().flip(-2)  # (b, bins, t), bins back in order
            pred = (pred + rc) / 2
    return pred


def _codes_of(seqs: Sequence[str]) -> np.ndarray:
    """Equal-length sequence strings -> codes, shape (b, l), uint8; clear errors."""
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise ValueError(
            f"sequences of different lengths ({', '.join(map(str, sorted(lengths)[:5]))}): "
            "predict needs one length per call"
        )
    codes = np.stack([encode(s) for s in seqs]) if seqs else np.zeros((0, 0), np.uint8)
    bad = invalid_positions(codes.reshape(-1))
    if bad.size:
        i, pos = divmod(int(bad[0]), codes.shape[1])
        raise ValueError(
            f"sequence {i}: position {pos} is {seqs[i][pos]!r}, not a base (ACGT, N or an "
            "IUPAC code)"
        )
    return codes


def _as_batched(x) -> tuple[torch.Tensor, bool]:
    """Any accepted input -> (tensor of codes (b, l) uint8 or one-hot (b, 4, l), batched?)."""
    if isinstance(x, str):
        return torch.from_numpy(_codes_of([x])), False
    if isinstance(x, (list, tuple)) and (not x or isinstance(x[0], str)):
        return torch.from_numpy(_codes_of(list(x))), True
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dtype == torch.uint8:
        if t.ndim not in (1, 2):
            raise ValueError(f"codes must have shape (l,) or (b, l), got {tuple(t.shape)}")
        if t.numel() and int(t.max()) > 4:
            raise ValueError("codes must be 0..4 (A C G T N); got a larger value")
        return (t, True) if t.ndim == 2 else (t[None], False)
    if t.ndim not in (2, 3) or t.shape[-2] != 4:
        raise ValueError(
            f"one-hot input must have shape (4, l) or (b, 4, l), got {tuple(t.shape)} "
            "(uint8 arrays are read as codes A=0 C=1 G=2 T=3 N=4)"
        )
    return (t, True) if t.ndim == 3 else (t[None], False)


@torch.inference_mode()
def predict(
    model: nn.Module,
    x,
    *,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    reverse_complement: bool = False,
    precision: str = "auto",
    progress: bool = False,
) -> np.ndarray:
    """Predict binned tracks for sequences.

    Parameters
    ----------
    model : a network of :mod:`genomics.models` (e.g. from
        :func:`genomics.models.saved.load_model`); its train/eval mode is restored after.
    x : one sequence or a batch, as
        - ``str`` or a list of equal-length ``str`` (ACGT, N and IUPAC codes; any case),
        - codes, ``(l,)`` or ``(b, l)`` uint8 with A=0 C=1 G=2 T=3 N=4,
        - one-hot, ``(4, l)`` or ``(b, 4, l)`` float (ACGT rows),
        numpy arrays or torch tensors.
    batch_size : sequences per forward pass.
    device : where to run (None: where the model is; "auto", "cpu", "cuda", a
        torch.device). The model is moved there.
    reverse_complement : average with the reverse-complement strand's prediction.
    precision : "auto" (bf16 on CUDA, fp32 on CPU), "bf16" or "fp32".
    progress : show a progress bar over batches.

    Returns
    -------
    np.ndarray, shape (b, bins, t) float32, or (bins, t) for one unbatched sequence. Model
    units: rates (>= 0) for coverage tracks, logits for peak tracks (see
    :func:`to_probabilities`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    xs, batched = _as_batched(x)
    dev, dtype = place(model, device, precision)
    was_training = model.training
    model.eval()
    outs = []
    try:
        starts = range(0, xs.shape[0], batch_size)
        for i in tqdm(starts, desc="predict", unit="batch", disable=not progress, leave=False):
            xb = as_input(xs[i : i + batch_size], dev)
            outs.append(forward(model, xb, dtype=dtype, reverse_complement=reverse_complement))
    finally:
        model.train(was_training)
    if not outs:
        raise ValueError("predict: no sequences given")
    pred = torch.cat(outs).cpu().numpy()
    return pred if batched else pred[0]


def to_probabilities(pred: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """Model units -> store units: peak tracks' logits through a sigmoid, coverage as is.

    Parameters
    ----------
    pred : np.ndarray, shape (..., t)
    kinds : "coverage" or "peaks" per track, length t.
    """
    peaks = np.array([k == "peaks" for k in kinds])
    if pred.shape[-1] != peaks.size:
        raise ValueError(f"{pred.shape[-1]} predicted tracks but {peaks.size} track kinds")
    out = pred.astype(np.float32, copy=True)
    out[..., peaks] = 1.0 / (1.0 + np.exp(-out[..., peaks]))
    return out
