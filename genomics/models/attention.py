"""Multi-head self-attention with rotary position embeddings (RoPE), via SDPA.

RoPE rotates each query and key by an angle proportional to its position, so the score
``q_m . k_n`` depends only on the offset ``m - n``. It touches q and k only, so attention
itself stays a plain :func:`torch.nn.functional.scaled_dot_product_attention` call and the
flash / memory-efficient kernels remain usable (no bias matrix, unlike Enformer's relative
positional encodings).
"""

from __future__ import annotations

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
    """

    def __init__(self, dim: int, *, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

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
        q, k, v = rearrange(self.to_qkv(x), "b l (n h d) -> n b h l d", n=3, h=self.heads)
        q, k = rotate_leading(q, cos, sin), rotate_leading(k, cos, sin)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0
        )
        return self.to_out(rearrange(out, "b h l d -> b l (h d)"))
