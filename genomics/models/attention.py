"""Multi-head self-attention with rotary position embeddings (RoPE), via SDPA.

RoPE rotates each query and key by an angle proportional to its position, so the score
``q_m . k_n`` depends only on the offset ``m - n``. It touches q and k only, so attention
itself stays a plain :func:`torch.nn.functional.scaled_dot_product_attention` call and the
flash / memory-efficient kernels remain usable (no bias matrix, unlike Enformer's relative
positional encodings).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ["Attention", "apply_rope", "rope_angles", "rotate_leading"]


def rope_angles(
    length: int, head_dim: int, *, base: float = 10000.0, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the RoPE rotation angles for positions ``0 .. length - 1``.

    Frequencies ``base ** (-2i / head_dim)`` for ``i < head_dim / 2``, laid out twice
    (the "rotate half" convention of GPT-NeoX / Llama). Computed in float32 for any length
    (cheap: ``length * head_dim`` values), so there is no length limit and no cache.

    Returns
    -------
    cos, sin : torch.Tensor, shape (l, d), float32
    """
    assert head_dim % 2 == 0, head_dim
    inv_freq = base ** (
        -torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim
    )
    pos = torch.arange(length, device=device, dtype=torch.float32)
    angles = torch.outer(pos, inv_freq)  # (l, d / 2)
    angles = torch.cat([angles, angles], dim=-1)  # (l, d)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs ``(x_i, x_{i + d/2})`` of each vector by its position's angles.

    Parameters
    ----------
    x : torch.Tensor, shape (b, h, l, d), float
    cos, sin : torch.Tensor, shape (l, d), float32, from :func:`rope_angles`

    Returns
    -------
    torch.Tensor, shape (b, h, l, d), same dtype as ``x`` (the rotation runs in float32).
    """
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


def rotate_leading(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on the first ``r = cos.shape[-1]`` dims of ``x``, the rest unchanged.

    ``r = d`` is plain RoPE; ``r < d`` partial RoPE (GPT-NeoX), whose other dims score by
    content alone, at any distance; ``r = 0`` leaves ``x`` as it is.

    Parameters
    ----------
    x : torch.Tensor, shape (b, h, l, d), float
    cos, sin : torch.Tensor, shape (l, r), float32, ``r <= d`` even

    Returns
    -------
    torch.Tensor, shape (b, h, l, d), same dtype as ``x``
    """
    r = cos.shape[-1]
    if r == x.shape[-1]:
        return apply_rope(x, cos, sin)
    if r == 0:
        return x
    return torch.cat([apply_rope(x[..., :r], cos, sin), x[..., r:]], dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention over bins with RoPE on q and k.

    Parameters
    ----------
    dim : model width ``c`` (``heads * d``).
    heads : number of heads ``h``.
    dropout : attention-weight dropout (training only).
    qk_norm : scale q and k of each head to unit length and score with a learned per-head
        temperature ``exp(t_h)`` (initially ``sqrt(d)``, so initial scores have the usual
        spread), as in Henry et al. 2020, "Query-Key Normalization for Transformers". How
        sharp a head attends is then one free parameter (not decayed) rather than the norms
        of ``W_q`` and ``W_k``: putting most of a promoter's attention on a few enhancer bins
        among a thousand needs score gaps of ``log(l)`` or more.
    """

    def __init__(self, dim: int, *, heads: int, dropout: float = 0.0, qk_norm: bool = False):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.log_temperature = None
        if qk_norm:
            head_dim = dim // heads
            self.log_temperature = nn.Parameter(torch.full((heads,), 0.5 * math.log(head_dim)))

    def project(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Queries, keys and values as attention scores them, and the score scale.

        The scores are ``scale * q . k`` (softmax over keys); :meth:`forward` and probes of
        attention weights (``bench/attention_probe.py``) share this one code path.

        Parameters
        ----------
        x : torch.Tensor, shape (b, l, c), float
        cos, sin : torch.Tensor, shape (l, r), float32, from :func:`rope_angles`

        Returns
        -------
        q, k, v : torch.Tensor, shape (b, h, l, d); q and k rotated (and, with ``qk_norm``,
            unit length, q times the head's temperature)
        scale : float, ``1 / sqrt(d)``, or 1 with ``qk_norm``
        """
        q, k, v = rearrange(self.to_qkv(x), "b l (n h d) -> n b h l d", n=3, h=self.heads)
        scale = 1.0 / math.sqrt(q.shape[-1])
        if self.log_temperature is not None:
            t = rearrange(self.log_temperature.exp(), "h -> h 1 1")
            q = F.normalize(q, dim=-1) * t.to(q.dtype)
            k, scale = F.normalize(k, dim=-1), 1.0
        return rotate_leading(q, cos, sin), rotate_leading(k, cos, sin), v, scale

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor, shape (b, l, c), float
        cos, sin : torch.Tensor, shape (l, r), float32, from :func:`rope_angles`; RoPE
            rotates the first ``r <= d`` dims of each head's q and k
            (:func:`rotate_leading`; ``r = 0``: no position information in attention)

        Returns
        -------
        torch.Tensor, shape (b, l, c)
        """
        q, k, v, scale = self.project(x, cos, sin)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, scale=scale
        )
        return self.to_out(rearrange(out, "b h l d -> b l (h d)"))
