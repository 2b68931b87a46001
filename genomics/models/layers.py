"""Building blocks shared by every model family: conv tower, crop, output head, base class.

Layouts: convolutions run on ``(b, c, l)``; everything after the trunk runs on ``(b, l, c)``
and a model returns ``(b, l, t)`` (bins then tracks, the layout of the target store).

The conv tower follows Enformer: a stem convolution at 1 bp, then one stage per halving of
length, each stage ``conv -> residual pointwise conv -> pool``, with channels growing
exponentially from ``stem_channels`` to ``dim``. ``bin_size = 2 ** n`` means ``n`` halvings:
one in the stem and ``n - 1`` in the stages.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = [
    "POOLS",
    "TRACK_KINDS",
    "AttentionPool",
    "BinnedModel",
    "ConvTower",
    "Crop",
    "OutputHead",
    "Residual",
    "check_choice",
    "check_int",
    "check_number",
    "conv_block",
    "exponential_channels",
    "n_halvings",
    "run_blocks",
    "zero_",
]

TRACK_KINDS = ("coverage", "peaks")
POOLS = ("attention", "max")
STEM_ACTIVATIONS = ("none", "exp")
EXP_CLAMP = 20.0  # exp(20) ~ 5e8: far above any useful motif score, far below overflow


def check_int(name: str, value, *, minimum: int = 1, odd: bool = False) -> int:
    """``value`` if it is an int ``>= minimum`` (and odd when asked), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if odd and value % 2 == 0:
        raise ValueError(
            f"{name} must be odd so 'same' padding is symmetric, got {value}; use {value + 1}"
        )
    return value


def check_number(name: str, value, *, low: float, high: float | None = None) -> float:
    """``value`` as float if it is a real number in ``[low, high)``, else ``ValueError``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def n_halvings(bin_size: int) -> int:
    """Number of length halvings from 1 bp to ``bin_size`` (which must be a power of two).

    Raises
    ------
    ValueError
        When ``bin_size`` is not a positive power of two, naming the nearest ones.
    """
    if isinstance(bin_size, bool) or not isinstance(bin_size, int) or bin_size < 1:
        raise ValueError(f"bin_size {bin_size!r} is not a positive power of two")
    if bin_size & (bin_size - 1):
        lower = 1 << (bin_size.bit_length() - 1)
        raise ValueError(
            f"bin_size {bin_size} is not a power of two (the conv tower halves length to reach "
            f"it); use {lower} or {2 * lower}"
        )
    return bin_size.bit_length() - 1


def exponential_channels(start: int, end: int, n: int, *, multiple: int = 8) -> list[int]:
    """Channel counts growing exponentially from ``start`` to ``end`` over ``n`` stages.

    As Enformer's ``exponential_linspace_int``: the first is ``start``, the last ``end``,
    those between are rounded to a multiple of ``multiple`` (hardware-friendly widths).

    Returns
    -------
    list[int], length n
    """
    if n <= 0:  # e.g. bin_size 1: no halving, so no stage
        return []
    if n == 1:
        return [end]
    ratio = (end / start) ** (1 / (n - 1))
    inner = [max(multiple, round(start * ratio**i / multiple) * multiple) for i in range(1, n - 1)]
    return [start, *inner, end]


def conv_block(c_in: int, c_out: int, kernel: int, *, dilation: int = 1) -> nn.Sequential:
    """Pre-activation conv block ``BatchNorm -> GELU -> Conv1d`` ('same' padding).

    BatchNorm rather than a per-position norm, as Enformer and Basenji: its statistics run
    over ``b * l`` positions, so it is stable even at batch size 1 on long windows. In eval
    mode it is a fixed affine map, so outputs do not depend on the rest of the batch.
    Maps ``(b, c_in, l)`` to ``(b, c_out, l)``.
    """
    return nn.Sequential(
        nn.BatchNorm1d(c_in),
        nn.GELU(),
        nn.Conv1d(c_in, c_out, kernel, padding="same", dilation=dilation),
    )


@torch.no_grad()
def zero_(layer: nn.Module) -> None:
    """Zero a layer's weight and bias in place (a residual branch that starts at 0)."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class Residual(nn.Module):
    """``x + fn(x)``."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(x)


class AttentionPool(nn.Module):
    """Softmax-weighted pooling of adjacent pairs, per channel (Enformer's attention pooling).

    Each channel's weights within a pair come from a pointwise conv over all channels,
    initialised to ``2 * identity`` so pooling starts between mean and max pooling and can
    learn either. Enformer found it better than max pooling; it costs one ``c x c`` pointwise
    conv per stage, small next to the stage's kernel-5 conv.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.to_logits = nn.Conv1d(channels, channels, 1, bias=False)
        with torch.no_grad():
            nn.init.dirac_(self.to_logits.weight)
            self.to_logits.weight.mul_(2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor, shape (b, c, l), float; ``l`` even

        Returns
        -------
        torch.Tensor, shape (b, c, l // 2)
        """
        # softmax over a pair is a sigmoid of the difference: w0 = sigmoid(l0 - l1), and
        # w0 x0 + (1 - w0) x1 = x1 + (x0 - x1) w0; no reduction, half the memory traffic
        logits = rearrange(self.to_logits(x), "b c (l p) -> p b c l", p=2)
        diff = logits[0] - logits[1]  # in at least float32 (bf16 under autocast)
        first = torch.sigmoid(diff.to(torch.promote_types(diff.dtype, torch.float32)))
        first = first.to(x.dtype)
        pairs = rearrange(x, "b c (l p) -> p b c l", p=2)
        return torch.lerp(pairs[1], pairs[0], first)  # one kernel, one rounding in bf16


class _MaxPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool1d(x, 2)


class _Exp(nn.Module):
    """``exp(min(x, EXP_CLAMP))``: the exponential activation of Koo & Ploenzke (2021)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(torch.clamp(x, max=EXP_CLAMP))


def _pool(kind: str, channels: int) -> nn.Module:
    return AttentionPool(channels) if kind == "attention" else _MaxPool()


def run_blocks(
    blocks: Sequence[nn.Module], x: torch.Tensor, *args, use_checkpoint: bool
) -> torch.Tensor:
    """Apply ``blocks`` in turn, each under activation checkpointing when ``use_checkpoint``.

    Checkpointing (``use_reentrant=False``) trades one extra forward per block for not
    storing its activations; callers pass ``use_checkpoint`` only while training.
    """
    for block in blocks:
        if use_checkpoint:
            x = checkpoint(block, x, *args, use_reentrant=False)
        else:
            x = block(x, *args)
    return x


class ConvTower(nn.Module):
    """Stem plus conv tower: one-hot at 1 bp to ``dim`` channels at ``bin_size`` bp.

    Parameters
    ----------
    dim : channels out of the last stage.
    stem_channels : channels of the stem (and the first stage); the stages grow
        exponentially from here to ``dim``.
    bin_size : power of two; the tower halves length ``log2(bin_size)`` times.
    stem_kernel, tower_kernel : odd kernel sizes of the stem conv and the stage convs.
    pool : "attention" (Enformer's softmax pooling) or "max".
    stem_activation : "none" (Enformer: the stem conv feeds the residual block directly)
        or "exp", an exponential after the stem conv (Koo & Ploenzke 2021: first-layer
        filters that match whole motifs rather than parts of them).
    stem_filters : first-layer filters (motif detectors); 0 (default) or at most
        ``stem_channels`` keeps the stem above. More gives a wide first layer that is
        pooled, then projected to ``stem_channels`` by a 1x1 conv: more chances that some
        filter starts near each motif (Koo & Eddy 2019) at a fraction of the cost of a
        wider tower, since only the stem conv runs at full resolution.
    """

    def __init__(
        self,
        *,
        dim: int,
        stem_channels: int,
        bin_size: int,
        stem_kernel: int = 15,
        tower_kernel: int = 5,
        pool: str = "attention",
        stem_activation: str = "none",
        stem_filters: int = 0,
    ):
        super().__init__()
        self.n_halvings = n_halvings(bin_size)
        self.stem_kernel = check_int("stem_kernel", stem_kernel, odd=True)
        self.tower_kernel = check_int("tower_kernel", tower_kernel, odd=True)
        check_choice("pool", pool, POOLS)
        check_choice("stem_activation", stem_activation, STEM_ACTIVATIONS)
        c0 = check_int("stem_channels", stem_channels)
        wide = stem_filters if check_int("stem_filters", stem_filters, minimum=0) > c0 else 0
        stem = [nn.Conv1d(4, wide or c0, stem_kernel, padding="same")]
        if stem_activation == "exp":
            stem.append(_Exp())
        if wide:  # pool the detectors, then project: the 1x1 runs at half resolution
            if self.n_halvings:
                stem.append(_pool(pool, wide))
            stem.append(conv_block(wide, c0, 1))
        else:
            stem.append(Residual(conv_block(c0, c0, 1)))
            if self.n_halvings:
                stem.append(_pool(pool, c0))
        self.stem = nn.Sequential(*stem)
        self.channels = exponential_channels(c0, dim, self.n_halvings - 1)
        stages, c_prev = [], c0
        for c in self.channels:
            stages.append(
                nn.Sequential(
                    conv_block(c_prev, c, tower_kernel),
                    Residual(conv_block(c, c, 1)),
                    _pool(pool, c),
                )
            )
            c_prev = c
        if c_prev != dim:  # bin_size 1 or 2: no stage to grow channels in
            stages.append(conv_block(c_prev, dim, 1))
        self.stages = nn.ModuleList(stages)

    @property
    def first_layer(self) -> nn.Conv1d:
        """The conv that reads the one-hot sequence (its filters are the motif detectors)."""
        return self.stem[0]

    def receptive_field(self) -> int:
        """Bases of input that reach one output position, in bp.

        Each layer with kernel ``k`` at input stride ``s`` adds ``(k - 1) * s`` bases; each
        pool of two adds ``s``. The field is centred on the output position.
        """
        rf = 1 + (self.stem_kernel - 1)
        if self.n_halvings:
            rf += 1
        for i in range(1, self.n_halvings):
            stride = 2**i
            rf += (self.tower_kernel - 1) * stride + stride
        return rf

    def forward(self, x: torch.Tensor, *, use_checkpoint: bool = False) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor, shape (b, 4, l), float
        use_checkpoint : checkpoint each stage (the stem and early stages hold the largest
            activations on long inputs).

        Returns
        -------
        torch.Tensor, shape (b, dim, l // bin_size)
        """
        blocks = [self.stem, *self.stages]
        return run_blocks(blocks, x, use_checkpoint=use_checkpoint)


class Crop(nn.Module):
    """Drop ``crop_bins`` bins from each end of a ``(b, l, c)`` tensor."""

    def __init__(self, crop_bins: int):
        super().__init__()
        self.crop_bins = crop_bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.crop_bins : x.shape[1] - self.crop_bins]


class OutputHead(nn.Module):
    """Pointwise MLP then one linear map to all tracks; softplus on the coverage tracks.

    ``LayerNorm -> GELU -> Linear(c, mult * c) -> Dropout -> GELU -> Linear(., t)``, the
    channels-last twin of Enformer's final pointwise block and heads. Coverage tracks get a
    softplus (non-negative Poisson rates); peak tracks stay logits (for BCE with logits).
    The output is always float32, also under autocast, so losses see full-precision rates.
    """

    def __init__(self, dim: int, track_kinds: Sequence[str], *, mult: int, dropout: float):
        super().__init__()
        hidden = mult * dim
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim),
            nn.GELU(),
            nn.Linear(dim, hidden),
            nn.Dropout(dropout),
            nn.GELU(),
        )
        self.linear = nn.Linear(hidden, len(track_kinds))
        mask = torch.tensor([k == "coverage" for k in track_kinds], dtype=torch.bool)
        self.register_buffer("coverage_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor, shape (b, l, c), float

        Returns
        -------
        torch.Tensor, shape (b, l, t), float32
        """
        y = self.linear(self.mlp(x)).float()
        return torch.where(self.coverage_mask, F.softplus(y), y)


class BinnedModel(nn.Module):
    """Base of every model family: one-hot ``(b, 4, l)`` in, ``(b, bins, t)`` out.

    Subclasses build ``self.trunk_dim`` channels in :meth:`trunk`; this class validates the
    shared arguments, crops and applies the head.

    Parameters
    ----------
    n_tracks : number of output tracks ``t``.
    track_kinds : list of str, length t, each "coverage" or "peaks".
    bin_size : bp per output bin, a power of two.
    crop_bins : bins dropped from each end of the output.
    """

    def __init__(self, *, n_tracks: int, track_kinds: Sequence[str], bin_size: int, crop_bins: int):
        super().__init__()
        self.n_tracks = check_int("n_tracks", n_tracks)
        track_kinds = list(track_kinds)
        if len(track_kinds) != n_tracks:
            raise ValueError(f"track_kinds has {len(track_kinds)} entries for n_tracks {n_tracks}")
        bad = sorted({k for k in track_kinds if k not in TRACK_KINDS})
        if bad:
            raise ValueError(f"unknown track kind(s) {bad}; allowed: {', '.join(TRACK_KINDS)}")
        self.track_kinds = track_kinds
        n_halvings(bin_size)
        self.bin_size = bin_size
        self.crop_bins = check_int("crop_bins", crop_bins, minimum=0)

    def _build_output(self, dim: int, *, mult: int, dropout: float) -> None:
        self.crop = Crop(self.crop_bins)
        self.head = OutputHead(
            dim, self.track_kinds, mult=check_int("head_mult", mult), dropout=dropout
        )

    def output_bins(self, seq_len: int) -> int:
        """Number of output bins for an input of ``seq_len`` bp.

        Raises
        ------
        ValueError
            When ``seq_len`` is not a multiple of ``bin_size`` (naming the nearest valid
            length) or leaves no bins after cropping.
        """
        b = self.bin_size
        if seq_len % b:
            nearest = max(b, round(seq_len / b) * b)
            raise ValueError(
                f"input length {seq_len} is not a multiple of bin_size {b}; use e.g. {nearest}"
            )
        n = seq_len // b - 2 * self.crop_bins
        if n < 1:
            raise ValueError(
                f"input length {seq_len} gives {seq_len // b} bins, none left after cropping "
                f"crop_bins {self.crop_bins} from each end; use at least "
                f"{(2 * self.crop_bins + 1) * b}"
            )
        return n

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Sequence to features: ``(b, 4, l)`` to ``(b, l // bin_size, c)``.

        Every family here is ``after_tower(tower(x))``: a local conv tower
        (:class:`ConvTower`, whose ``receptive_field`` bounds what one base reaches), then
        layers over bins. :mod:`genomics.inference.incremental` relies on that split.
        """
        raise NotImplementedError

    def from_tower(self, h: torch.Tensor) -> torch.Tensor:
        """Tower output ``(b, c, n)`` to the model's output ``(b, n - 2 * crop_bins, t)``:
        the rest of :meth:`forward`."""
        return self.head(self.crop(self.after_tower(h)))

    def use_checkpoint(self) -> bool:
        """Whether blocks run under activation checkpointing now (only while training)."""
        return bool(getattr(self, "checkpoint_blocks", False)) and self.training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor, shape (b, 4, l), float
            One-hot sequence, ``l`` a multiple of ``bin_size``.

        Returns
        -------
        torch.Tensor, shape (b, l // bin_size - 2 * crop_bins, t), float32
            Softplus rates on coverage tracks, logits on peak tracks.
        """
        if x.ndim != 3 or x.shape[1] != 4 or not x.is_floating_point():
            raise ValueError(
                f"expected a float one-hot tensor of shape (b, 4, l), got {tuple(x.shape)} "
                f"{x.dtype}"
            )
        self.output_bins(x.shape[-1])
        return self.head(self.crop(self.trunk(x)))
