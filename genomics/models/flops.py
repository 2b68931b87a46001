"""Count the floating-point operations of a model's forward (and backward) pass.

Used for model FLOPs utilisation (MFU) in benchmarks: the count is of *model* FLOPs at the
real input length, without the recomputation that activation checkpointing adds.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops"]

log = logging.getLogger(__name__)


def _count(model: nn.Module, seq_len: int, batch: int, backward: bool, device: str) -> int:
    """One counted pass with copies of the parameters on ``device``."""
    if device == "meta":
        params = {
            n: torch.empty_like(p, device="meta").requires_grad_(p.requires_grad)
            for n, p in model.named_parameters()
        }
        buffers = {n: torch.empty_like(b, device="meta") for n, b in model.named_buffers()}
    else:
        params = {
            n: p.detach().to(device).requires_grad_(p.requires_grad)
            for n, p in model.named_parameters()
        }
        buffers = {n: b.detach().to(device).clone() for n, b in model.named_buffers()}
    x = torch.zeros(batch, 4, seq_len, device=device)
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        out = functional_call(model, (params, buffers), (x,))
        if backward:
            trainable = [p for p in params.values() if p.requires_grad]
            torch.autograd.grad(out.float().sum(), trainable, allow_unused=True)
    return int(counter.get_total_flops())


def count_flops(model: nn.Module, seq_len: int, *, batch: int = 1, backward: bool = True) -> int:
    """FLOPs of one forward (+ backward) pass on ``batch`` sequences of ``seq_len`` bp.

    Counts matrix multiplies, convolutions and attention with
    :class:`torch.utils.flop_counter.FlopCounterMode` (a multiply-add is 2 FLOPs;
    elementwise ops, norms and softmax are not counted, as is usual for MFU). The pass runs
    at the real length on the ``meta`` device: no data, no memory, milliseconds even at
    Enformer size. If the meta pass fails for some op it falls back to a CPU pass (slow and
    memory-hungry at large sizes; a warning is logged). Attention runs through the math SDPA
    backend so it is counted as matmuls (``4 b h l^2 d`` forward, twice that backward);
    flash kernels do the same arithmetic. The model runs in eval mode (no dropout, no
    activation checkpointing recompute) and its mode is restored afterwards; its own
    parameters and device are untouched. The backward pass computes parameter gradients
    only, as in training.

    Parameters
    ----------
    model : a model from :func:`genomics.models.build_model`.
    seq_len : input length in bp (a multiple of the model's ``bin_size``).
    batch : number of sequences.
    backward : include the backward pass (a training step's FLOPs).

    Returns
    -------
    int, total FLOPs for the batch.
    """
    if hasattr(model, "output_bins"):
        model.output_bins(seq_len)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    # Count on a copy: torch's functional_call can leave meta tensors behind in a model
    # that registers one submodule under two names (enformer-pytorch does).
    model = copy.deepcopy(model).eval()
    try:
        return _count(model, seq_len, batch, backward, "meta")
    except (NotImplementedError, RuntimeError) as e:
        log.warning("FLOP count on the meta device failed (%s); counting on CPU instead", e)
        return _count(model, seq_len, batch, backward, "cpu")
