"""Dilated residual CNN baseline (Basenji-style): conv tower, dilated conv blocks, crop, head.

Every layer is a convolution with a finite kernel, so the model has a finite receptive
field (:meth:`DilatedConv.receptive_field`) and is shift-equivariant in steps of
``bin_size`` away from the window edges.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from genomics.models.layers import (
    BinnedModel,
    ConvTower,
    Residual,
    check_int,
    check_number,
    conv_block,
    run_blocks,
    zero_,
)

__all__ = ["DilatedConv", "dilations"]


def dilations(n: int, mult: float) -> list[int]:
    """Dilation of each of ``n`` blocks: ``round(mult ** i)``, as Basenji.

    Rounding is Python's (half to even), so ``mult = 1.5`` gives 1, 2, 2, 3, 5, 8, 11, 17, ...
    """
    return [max(1, round(mult**i)) for i in range(n)]


class DilatedConv(BinnedModel):
    """Conv tower to ``bin_size``, then residual dilated conv blocks over bins.

    Each dilated block is Basenji's ``x + Dropout(Conv1x1(Conv_k,dil(x)))`` with a
    ``dim // 2`` bottleneck, each conv pre-activated by ``BatchNorm -> GELU``.

    Parameters
    ----------
    n_tracks, track_kinds, bin_size, crop_bins : see :class:`~genomics.models.layers.BinnedModel`.
    dim : channels out of the tower and through the dilated blocks.
    stem_channels : stem width; None means ``dim // 2``.
    stem_kernel, tower_kernel : odd conv kernel sizes of the stem and tower stages.
    stem_activation : "none" or "exp" (:class:`~genomics.models.layers.ConvTower`).
    stem_filters : first-layer filters; 0 for ``stem_channels``
        (:class:`~genomics.models.layers.ConvTower`).
    pool : "attention" (Enformer's softmax pooling) or "max".
    dilated_layers : number of dilated residual blocks.
    dilation_mult : dilation grows by this factor per block (rounded, see :func:`dilations`).
    dilated_kernel : odd kernel size of the dilated convs.
    dropout : dropout on each dilated block's branch and in the head.
    head_mult : width of the pointwise block before the head, as a multiple of ``dim``.
    zero_init : start every dilated block's branch at zero (its last conv's weights and
        bias), so the untrained model is the conv tower alone and the dilated blocks grow in;
        Basenji does the same by zeroing the last batch norm's scale.
    checkpoint_blocks : activation checkpointing of tower stages and dilated blocks while
        training.

    Notes
    -----
    On small data whether every track is learned depends on dropout and the seed, so train
    more than one seed before trusting a comparison with this baseline (runs in
    ``bench/JOURNAL.md``).
    """

    def __init__(
        self,
        *,
        n_tracks: int,
        track_kinds: list[str],
        bin_size: int,
        crop_bins: int,
        dim: int = 64,
        stem_channels: int | None = None,
        stem_kernel: int = 15,
        stem_activation: str = "none",
        stem_filters: int = 0,
        tower_kernel: int = 5,
        pool: str = "attention",
        dilated_layers: int = 6,
        dilation_mult: float = 1.5,
        dilated_kernel: int = 3,
        dropout: float = 0.1,
        head_mult: int = 2,
        zero_init: bool = True,
        checkpoint_blocks: bool = False,
    ):
        super().__init__(
            n_tracks=n_tracks, track_kinds=track_kinds, bin_size=bin_size, crop_bins=crop_bins
        )
        check_int("dim", dim, minimum=2)
        check_int("dilated_layers", dilated_layers, minimum=0)
        self.dilated_kernel = check_int("dilated_kernel", dilated_kernel, odd=True)
        self.dilation_mult = check_number("dilation_mult", dilation_mult, low=1.0)
        dropout = check_number("dropout", dropout, low=0.0, high=1.0)
        self.checkpoint_blocks = bool(checkpoint_blocks)
        self.tower = ConvTower(
            dim=dim,
            stem_channels=dim // 2 if stem_channels is None else stem_channels,
            bin_size=bin_size,
            stem_kernel=stem_kernel,
            stem_activation=stem_activation,
            stem_filters=stem_filters,
            tower_kernel=tower_kernel,
            pool=pool,
        )
        self.dilations = dilations(dilated_layers, self.dilation_mult)
        self.blocks = nn.ModuleList(
            Residual(
                nn.Sequential(
                    conv_block(dim, dim // 2, dilated_kernel, dilation=d),
                    conv_block(dim // 2, dim, 1),
                    nn.Dropout(dropout),
                )
            )
            for d in self.dilations
        )
        if zero_init:
            for block in self.blocks:
                zero_(block.fn[1][-1])
        self._build_output(dim, mult=head_mult, dropout=dropout)

    def receptive_field(self) -> int:
        """Bases of input that can change one output bin, in bp.

        The tower's field (see :meth:`ConvTower.receptive_field`) plus
        ``(dilated_kernel - 1) * dilation * bin_size`` per dilated block; the pointwise head
        adds nothing. The field is centred on the bin.
        """
        dilated = sum((self.dilated_kernel - 1) * d for d in self.dilations) * self.bin_size
        return self.tower.receptive_field() + dilated

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
        """The dilated blocks on the tower's output: ``(b, c, n)`` to ``(b, n, c)``."""
        h = run_blocks(self.blocks, h, use_checkpoint=self.use_checkpoint())
        return rearrange(h, "b c l -> b l c")
