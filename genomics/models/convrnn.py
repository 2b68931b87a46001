"""Conv tower plus a bidirectional GRU over bins (a recurrent baseline).

Note for ``torch.compile``: TorchDynamo does not trace ``nn.GRU`` by default and breaks the
graph around it; the model still compiles and runs, the GRU runs eagerly.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from genomics.models.layers import BinnedModel, ConvTower, check_int, check_number

__all__ = ["ConvRNN"]


class ConvRNN(BinnedModel):
    """Conv tower to ``bin_size``, a residual bidirectional GRU over bins, crop, head.

    The recurrent branch is ``x + Dropout(Linear(BiGRU(LayerNorm(x))))``; the GRU itself
    runs in float32 also under autocast.

    Parameters
    ----------
    n_tracks, track_kinds, bin_size, crop_bins : see :class:`~genomics.models.layers.BinnedModel`.
    dim : channels out of the tower (and the residual width around the GRU).
    stem_channels : stem width; None means ``dim // 2``.
    stem_kernel, tower_kernel : odd conv kernel sizes of the stem and tower stages.
    stem_activation : "none" or "exp" (:class:`~genomics.models.layers.ConvTower`).
    stem_filters : first-layer filters; 0 for ``stem_channels``
        (:class:`~genomics.models.layers.ConvTower`).
    pool : "attention" (Enformer's softmax pooling) or "max".
    layers : stacked GRU layers.
    hidden : GRU hidden size per direction; None means ``dim // 2``.
    dropout : dropout between GRU layers, on the GRU branch and in the head.
    head_mult : width of the pointwise block before the head, as a multiple of ``dim``.
    checkpoint_blocks : activation checkpointing of the tower stages while training.
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
        layers: int = 1,
        hidden: int | None = None,
        dropout: float = 0.1,
        head_mult: int = 2,
        checkpoint_blocks: bool = False,
    ):
        super().__init__(
            n_tracks=n_tracks, track_kinds=track_kinds, bin_size=bin_size, crop_bins=crop_bins
        )
        check_int("dim", dim, minimum=2)
        check_int("layers", layers)
        hidden = check_int("hidden", dim // 2 if hidden is None else hidden)
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
        self.norm = nn.LayerNorm(dim)
        self.rnn = nn.GRU(
            dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.proj = nn.Linear(2 * hidden, dim)
        self.drop = nn.Dropout(dropout)
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
        """The GRU on the tower's output: ``(b, c, n)`` to ``(b, n, c)``."""
        h = rearrange(h, "b c l -> b l c")
        # The GRU runs in float32 even under autocast: cuDNN's bf16 RNN support varies by
        # version, and at bin resolution the GRU is a small share of the compute.
        with torch.autocast("cuda" if h.is_cuda else "cpu", enabled=False):
            out, _ = self.rnn(self.norm(h.float()))
        return h + self.drop(self.proj(out))
