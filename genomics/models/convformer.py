"""Convformer: conv tower to bins, then pre-norm transformer blocks with RoPE (main model).

Enformer's layout (stem, attention-pooling conv tower with exponentially growing channels,
transformer over bins, crop, pointwise block, heads), with rotary position embeddings in
place of Enformer's relative position bias so attention is a plain SDPA call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from genomics.models.attention import Attention, rope_angles
from genomics.models.layers import (
    BinnedModel,
    ConvTower,
    check_choice,
    check_int,
    check_number,
    run_blocks,
    zero_,
)

__all__ = ["Convformer", "TransformerBlock"]

MLPS = ("gelu", "swiglu")


class _SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.proj_in = nn.Linear(dim, 2 * hidden)
        self.proj_out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, g = self.proj_in(x).chunk(2, dim=-1)
        return self.proj_out(F.silu(g) * a)


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + Attn(LN(x))`` then ``x + MLP(LN(x))``.

    Parameters
    ----------
    dim : width ``c``.
    heads : attention heads; ``dim / heads`` must be even (RoPE rotates pairs).
    mlp_mult : MLP hidden width as a multiple of ``dim``.
    mlp : "gelu" (Linear-GELU-Linear) or "swiglu" (gated; 1.5x the parameters at equal
        ``mlp_mult``).
    dropout : dropout on each residual branch and inside the MLP.
    attn_dropout : dropout on attention weights.
    zero_init : start both branches at zero (the attention's output projection and the
        MLP's last linear), so the block starts as the identity.
    qk_norm : unit-length q and k with a learned per-head temperature (:class:`Attention`).
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int,
        mlp_mult: int = 2,
        mlp: str = "gelu",
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        zero_init: bool = False,
        qk_norm: bool = False,
    ):
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads=heads, dropout=attn_dropout, qk_norm=qk_norm)
        self.attn_drop = nn.Dropout(dropout)
        hidden = mlp_mult * dim
        if mlp == "gelu":
            body = nn.Sequential(
                nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
            )
        else:
            body = _SwiGLU(dim, hidden)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), body, nn.Dropout(dropout))
        if zero_init:
            zero_(self.attn.to_out)
            zero_(body[-1] if mlp == "gelu" else body.proj_out)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor, shape (b, l, c), float
        cos, sin : torch.Tensor, shape (l, d), float32, RoPE tables

        Returns
        -------
        torch.Tensor, shape (b, l, c)
        """
        x = x + self.attn_drop(self.attn(self.attn_norm(x), cos, sin))
        return x + self.mlp(x)


class Convformer(BinnedModel):
    """Conv tower from 1 bp to ``bin_size``, ``depth`` transformer blocks, crop, head.

    Parameters
    ----------
    n_tracks, track_kinds, bin_size, crop_bins : see :class:`BinnedModel`.
    dim : transformer width; the tower grows from ``stem_channels`` to ``dim``.
    depth : number of transformer blocks.
    heads : attention heads; must divide ``dim`` into an even head dimension.
    mlp_mult, mlp : transformer MLP width multiple and kind ("gelu" or "swiglu").
    dropout : dropout in transformer branches and the head.
    attn_dropout : dropout on attention weights.
    stem_channels : stem width; None means ``dim // 2`` (Enformer).
    stem_kernel, tower_kernel : odd conv kernel sizes of the stem and tower stages.
    pool : "attention" (Enformer's softmax pooling, default) or "max" (cheaper).
    stem_activation : "exp" (default) or "none" (:class:`~genomics.models.layers.ConvTower`).
    stem_filters : first-layer filters; 0 for ``stem_channels``
        (:class:`~genomics.models.layers.ConvTower`).
    head_mult : width of the pointwise block before the head, as a multiple of ``dim``.
    rope_base : RoPE base; wavelengths span ``2 pi .. 2 pi * rope_base`` bins.
    rope_fraction : share of each head's dims that RoPE rotates (rounded down to an even
        count); the rest score by content alone, at any distance (partial RoPE, as
        GPT-NeoX's ``rotary_pct``). 1 rotates all, 0 none.
    zero_init : start every transformer block as the identity (attention output projection
        and MLP output at zero), so the untrained model is the conv tower alone and attention
        grows in, as the conv baseline's ``zero_init``.
    qk_norm : unit-length queries and keys with a learned temperature per head
        (:class:`~genomics.models.attention.Attention`).
    checkpoint_blocks : activation checkpointing of tower stages and transformer blocks
        while training (for long inputs; BatchNorm running statistics then see each batch
        twice, a harmless change of their momentum).

    Notes
    -----
    What trains reliably depends on the data: ``configs/default.yaml`` (small synthetic
    data) departs from the schema defaults in ``dropout`` and ``qk_norm``, which made every
    seed learn every track and attention use the distal enhancers there; on real chr20
    peaks ``qk_norm`` was worse. The runs behind these choices: ``bench/JOURNAL.md``.
    """

    def __init__(
        self,
        *,
        n_tracks: int,
        track_kinds: list[str],
        bin_size: int,
        crop_bins: int,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_mult: int = 2,
        mlp: str = "gelu",
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
        stem_channels: int | None = None,
        stem_kernel: int = 15,
        tower_kernel: int = 5,
        pool: str = "attention",
        stem_activation: str = "exp",
        stem_filters: int = 0,
        head_mult: int = 2,
        rope_base: float = 10000.0,
        rope_fraction: float = 1.0,
        zero_init: bool = False,
        qk_norm: bool = False,
        checkpoint_blocks: bool = False,
    ):
        super().__init__(
            n_tracks=n_tracks, track_kinds=track_kinds, bin_size=bin_size, crop_bins=crop_bins
        )
        check_int("dim", dim)
        check_int("depth", depth, minimum=0)
        check_int("heads", heads)
        check_int("mlp_mult", mlp_mult)
        check_choice("mlp", mlp, MLPS)
        dropout = check_number("dropout", dropout, low=0.0, high=1.0)
        attn_dropout = check_number("attn_dropout", attn_dropout, low=0.0, high=1.0)
        self.rope_base = check_number("rope_base", rope_base, low=1.0)
        if dim % heads:
            raise ValueError(f"heads {heads} does not divide dim {dim}")
        self.head_dim = dim // heads
        if self.head_dim % 2:
            raise ValueError(
                f"dim {dim} / heads {heads} gives head dimension {self.head_dim}, which must "
                "be even for rotary position embeddings"
            )
        rope_fraction = check_number("rope_fraction", rope_fraction, low=0.0)
        if rope_fraction > 1.0:
            raise ValueError(f"rope_fraction must be in [0, 1], got {rope_fraction!r}")
        self.rope_dims = 2 * int(rope_fraction * self.head_dim / 2 + 1e-9)
        self.checkpoint_blocks = bool(checkpoint_blocks)
        self.tower = ConvTower(
            dim=dim,
            stem_channels=dim // 2 if stem_channels is None else stem_channels,
            bin_size=bin_size,
            stem_kernel=stem_kernel,
            tower_kernel=tower_kernel,
            pool=pool,
            stem_activation=stem_activation,
            stem_filters=stem_filters,
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(
                dim,
                heads=heads,
                mlp_mult=mlp_mult,
                mlp=mlp,
                dropout=dropout,
                attn_dropout=attn_dropout,
                zero_init=zero_init,
                qk_norm=bool(qk_norm),
            )
            for _ in range(depth)
        )
        self._build_output(dim, mult=head_mult, dropout=dropout)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor, shape (b, 4, l), float

        Returns
        -------
        torch.Tensor, shape (b, l // bin_size, c)
        """
        return self.after_tower(self.tower(x, use_checkpoint=self.use_checkpoint()))

    def after_tower(self, h: torch.Tensor) -> torch.Tensor:
        """The transformer on the tower's output: ``(b, c, n)`` to ``(b, n, c)``."""
        h = rearrange(h, "b c l -> b l c")
        cos, sin = rope_angles(h.shape[1], self.rope_dims, base=self.rope_base, device=h.device)
        return run_blocks(self.blocks, h, cos, sin, use_checkpoint=self.use_checkpoint())
